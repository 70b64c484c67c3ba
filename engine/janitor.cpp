#include "engine/janitor.h"

#include <httplib.h>
#include <simdjson.h>

#include "engine/log.h"
#include "engine/metrics.h"

namespace engine {
namespace {

// The processors allow one health call per 5 s window, for all callers together.
constexpr std::chrono::milliseconds kHealthWindow{5100};

}  // namespace

Janitor::Janitor(const Config& cfg, Dispatcher& dispatcher) : cfg_(cfg), dispatcher_(dispatcher) {}

Janitor::~Janitor() { stop(); }

void Janitor::start() { thread_ = std::thread([this] { run(); }); }

void Janitor::stop() {
  stopping_ = true;
  if (thread_.joinable()) thread_.join();
}

void Janitor::check_health(pqxx::connection& conn, Processor p) {
  if (!store::claim_health_check(conn, p, cfg_.instance_id, kHealthWindow)) return;
  // Blocking cpp-httplib is right here: one call per 5 s, off every hot path.
  httplib::Client cli(cfg_.processor_url[p]);
  cli.set_connection_timeout(std::chrono::milliseconds(500));
  cli.set_read_timeout(std::chrono::milliseconds(2000));
  auto res = cli.Get("/payments/service-health");
  if (!res || res->status != 200) return;  // 429: someone else's call; error: next window
  simdjson::padded_string body(res->body);
  simdjson::ondemand::parser parser;
  simdjson::ondemand::document doc;
  bool failing = false;
  int64_t min_rt = 0;
  if (parser.iterate(body).get(doc) || doc["failing"].get_bool().get(failing) ||
      doc["minResponseTime"].get_int64().get(min_rt)) {
    log_event("warn", "unreadable health answer", res->body);
    return;
  }
  store::report_health(conn, p, failing, min_rt);
}

void Janitor::tick(pqxx::connection& conn, pgq::Queue& queue, SteadyClock::time_point now) {
  if (now - last_health_ >= std::chrono::seconds(1)) {
    last_health_ = now;
    for (Processor p : {kDefault, kFallback}) check_health(conn, p);
    store::HealthRow rows[2];
    store::read_health(conn, rows);
    dispatcher_.health(rows);
  }
  if (now - last_adopt_ >= std::chrono::seconds(1)) {
    // Expired leases only exist after an instance died: looking once a second is plenty.
    last_adopt_ = now;
    auto adopted = store::adopt_expired(conn, queue, cfg_.lease, 500);
    if (!adopted.empty()) {
      log_event("info", "adopting payments whose lease expired", std::to_string(adopted.size()));
      dispatcher_.adopt(std::move(adopted));
    }
  }
  if (now - last_gauges_ >= std::chrono::seconds(1)) {
    last_gauges_ = now;
    auto m = queue.metrics();
    metrics().queue_depth.store(m.queue_length, std::memory_order_relaxed);
    metrics().oldest_queued_ms.store(m.oldest_msg_age_ms.value_or(0), std::memory_order_relaxed);
    metrics().dead_letters.store(m.dead_letters, std::memory_order_relaxed);
  }
}

void Janitor::run() {
  store::Session db(cfg_.database_url);
  while (!stopping_) {
    auto now = SteadyClock::now();
    try {
      store::BusyScope busy;
      tick(db.conn(), db.queue(), now);
    } catch (const std::exception& e) {
      log_event("error", "janitor tick failed", e.what());
      db.reset();
    }
    std::this_thread::sleep_until(now + cfg_.tick);
  }
}

}  // namespace engine
