#include "engine/summary.h"

#include <fmt/format.h>

#include "engine/log.h"
#include "engine/metrics.h"
#include "engine/money.h"

namespace engine {

std::string summary_json(const store::Summary& s) {
  return fmt::format(R"({{"default":{{"totalRequests":{},"totalAmount":{}}},"fallback":{{"totalRequests":{},"totalAmount":{}}}}})",
                     s.requests[0], format_cents(s.cents[0]), s.requests[1], format_cents(s.cents[1]));
}

SummaryService::SummaryService(const Config& cfg) : cfg_(cfg) {}

SummaryService::~SummaryService() { stop(); }

void SummaryService::start() { thread_ = std::thread([this] { run(); }); }

void SummaryService::stop() {
  stopping_ = true;
  if (thread_.joinable()) thread_.join();
}

void SummaryService::summary(std::optional<int64_t> from_ms, std::optional<int64_t> to_ms, net::Responder r,
                             SteadyClock::time_point arrived) {
  queue_.enqueue(Request{false, from_ms, to_ms, std::move(r), arrived});
}

void SummaryService::purge(net::Responder r, SteadyClock::time_point arrived) {
  queue_.enqueue(Request{true, {}, {}, std::move(r), arrived});
}

void SummaryService::serve(Request& req, pqxx::connection& conn, pgq::Queue& queue) {
  int status = 200;
  std::string body;
  if (req.purge) {
    store::purge(conn, queue);
    body = R"({"message":"All payments purged."})";
  } else {
    // A payment whose requestedAt lies in the window and that is in flight right now may be
    // stored by its processor any moment: the processor's summary would count it before ours
    // does. Give such payments a moment to land (they are rare: the router keeps processors
    // that answer slower than MAX_LATENCY_MS out of use), bounded well inside a client's timeout.
    auto deadline = SteadyClock::now() + std::chrono::milliseconds(400);
    while (store::attempts_in_window(conn, req.from_ms, req.to_ms, cfg_.max_latency * 2) > 0 &&
           SteadyClock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    body = summary_json(store::summary(conn, req.from_ms, req.to_ms));
  }
  req.responder.send(status, std::move(body));
  count_request(req.purge ? kPurge : kGetSummary, status, req.arrived);
}

void SummaryService::run() {
  store::Session db(cfg_.database_url);
  Request req;
  for (;;) {
    if (!queue_.wait_dequeue_timed(req, std::chrono::milliseconds(100))) {
      if (stopping_) return;
      continue;
    }
    try {
      store::BusyScope busy;
      serve(req, db.conn(), db.queue());
    } catch (const std::exception& e) {
      log_event("error", req.purge ? "purge failed" : "summary failed", e.what());
      req.responder.send(503, R"({"error":"database unavailable"})");
      count_request(req.purge ? kPurge : kGetSummary, 503, req.arrived);
      db.reset();
    }
  }
}

}  // namespace engine
