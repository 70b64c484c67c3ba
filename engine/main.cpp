// The payment engine. A payment's path through the code, in order:
//   http_api.cpp (validate) -> ingress.cpp (group commit into payments + the queue)
//   -> dispatcher.cpp (route, call the processor, settle unknowns) -> recorder.cpp / store.cpp
//   (processed_payments + delete from the queue, one statement).
// janitor.cpp ticks beside the dispatcher: shared health checks, lease renewals, adoption.
#include <atomic>
#include <cstdio>
#include <thread>

#include "engine/config.h"
#include "engine/dispatcher.h"
#include "engine/http_api.h"
#include "engine/ingress.h"
#include "engine/log.h"
#include "engine/metrics.h"
#include "engine/store.h"
#include "engine/summary.h"
#include "net/stop_signals.h"

using namespace engine;

namespace {

// The database may come up after us (docker-compose): wait for it, then migrate.
void init_database(const Config& cfg) {
  auto deadline = SteadyClock::now() + Config::db_start_wait;
  for (;;) {
    try {
      store::init(cfg.database_url, cfg.db_connect_timeout, cfg.partitions_ahead_days, cfg.retention_days);
      return;
    } catch (const std::exception& e) {
      if (SteadyClock::now() > deadline) throw;
      log_event("warn", "database not ready, retrying", e.what());
      std::this_thread::sleep_for(Config::db_start_retry);
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
  set_log_instance(cfg.instance_id);
  const sigset_t sigs = net::block_stop_signals();  // before any thread starts

  try {
    init_database(cfg);
    Dispatcher dispatcher(cfg);
    Ingress ingress(cfg, dispatcher);
    SummaryService summary(cfg);
    std::atomic<bool> stopping{false};
    net::HttpServer::Options opt;
    opt.listen = cfg.listen_addr;
    opt.handoff = cfg.handoff_socket;
    opt.threads = cfg.http_threads;
    opt.max_connections = cfg.http_max_connections;
    opt.receive_times = cfg.http_receive_times;
    net::HttpServer server(opt, make_http_handler(cfg, ingress, summary, dispatcher, [&] {
                             return !stopping.load() && ingress.ready() && summary.ready() &&
                                    dispatcher.database_ready();
                           }));
    metrics().http_open_connections = [&server] { return static_cast<int64_t>(server.open_connections()); };
    server.start();
    dispatcher.start(server.loop(0));
    ingress.start(server);
    summary.start(server);
    log_event("info", "payment engine started", cfg.listen_addr);

    int sig = net::wait_stop_signal(sigs);
    log_event("info", "shutting down", sig == SIGTERM ? "SIGTERM" : "SIGINT");
    // The load balancer learns first (GET /health answers 503), then the listener closes, the
    // requests already read get their answers, and only then do connections close. Payments in
    // flight are then finished or handed back to the queue for the other instance.
    stopping = true;
    std::this_thread::sleep_for(cfg.shutdown_grace);
    if (!server.drain(Config::http_drain)) log_event("warn", "connections still open after the drain");
    ingress.stop(server);
    summary.stop(server);
    dispatcher.stop(Config::dispatcher_drain);  // on the server's loop: before it stops
    server.stop();
    dispatcher.close();
    metrics().http_open_connections = nullptr;
    log_event("info", "stopped");
    return 0;
  } catch (const std::exception& e) {
    log_event("fatal", "payment engine failed", e.what());
    return 1;
  }
}
