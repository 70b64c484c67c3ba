// The payment engine. A payment's path through the code, in order:
//   http_api.cpp (validate) -> ingress.cpp (group commit into payments + the queue)
//   -> dispatcher.cpp (route, attempt, call the processor) -> recorder.cpp / store.cpp
//   (processed_payments + delete from the queue, one transaction).
// janitor.cpp ticks beside them: shared health checks, adoption of expired leases.
#include <cstdio>
#include <thread>

#include "engine/config.h"
#include "engine/dispatcher.h"
#include "engine/http_api.h"
#include "engine/ingress.h"
#include "engine/janitor.h"
#include "engine/log.h"
#include "engine/metrics.h"
#include "net/stop_signals.h"
#include "engine/summary.h"

using namespace engine;

namespace {

// The database may come up after us (docker-compose): wait for it, then migrate.
void init_database(const Config& cfg) {
  auto deadline = SteadyClock::now() + std::chrono::seconds(60);
  for (;;) {
    try {
      pqxx::connection conn(cfg.database_url);
      store::init(conn);
      return;
    } catch (const std::exception& e) {
      if (SteadyClock::now() > deadline) throw;
      log_event("warn", "database not ready, retrying", e.what());
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
    }
  }
}

}  // namespace

int main() {
  Config cfg;
  try {
    cfg = Config::from_env();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "payment_engine: configuration error: %s\n", e.what());
    return 2;
  }
  const sigset_t sigs = net::block_stop_signals();  // before any thread starts

  try {
    init_database(cfg);
    Dispatcher dispatcher(cfg);
    Ingress ingress(cfg, dispatcher);
    SummaryService summary(cfg);
    Janitor janitor(cfg, dispatcher);
    dispatcher.start();
    summary.start();
    janitor.start();
    net::HttpServer::Options opt;
    opt.listen = cfg.listen_addr;
    opt.threads = cfg.http_threads;
    opt.max_connections = cfg.http_max_connections;
    net::HttpServer server(opt, make_http_handler(cfg, ingress, summary));
    metrics().http_open_connections = [&server] { return static_cast<int64_t>(server.open_connections()); };
    server.start();
    log_event("info", "payment engine ready", cfg.listen_addr);

    int sig = net::wait_stop_signal(sigs);
    log_event("info", "shutting down", sig == SIGTERM ? "SIGTERM" : "SIGINT");
    // Stop taking requests (the loops commit and answer what they already read), finish what is
    // in flight, hand back the rest.
    server.stop();
    metrics().http_open_connections = nullptr;
    janitor.stop();
    dispatcher.stop(std::chrono::seconds(5));
    summary.stop();
    log_event("info", "stopped");
    return 0;
  } catch (const std::exception& e) {
    log_event("fatal", "payment engine failed", e.what());
    return 1;
  }
}
