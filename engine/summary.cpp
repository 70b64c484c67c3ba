#include "engine/summary.h"

#include <fmt/format.h>


#include "engine/log.h"
#include "engine/metrics.h"
#include "engine/money.h"
#include "engine/store.h"
#include "engine/timefmt.h"

namespace engine {
namespace {
constexpr const char* kBodyUnavailable = R"({"error":"database unavailable"})";
}  // namespace

std::string summary_json(const Summary& s) {
  return fmt::format(R"({{"default":{{"totalRequests":{},"totalAmount":{}}},"fallback":{{"totalRequests":{},"totalAmount":{}}}}})",
                     s.requests[0], format_cents(s.cents[0]), s.requests[1], format_cents(s.cents[1]));
}

std::string status_json(std::string_view cid, const PaymentStatus& s) {
  const char* state = s.processed_by >= 0 ? "processed" : s.unknown ? "unknown" : s.routed_to >= 0 ? "in_flight" : "queued";
  const int proc = s.processed_by >= 0 ? s.processed_by : s.routed_to;
  std::string out = fmt::format(
      R"({{"correlationId":"{}","state":"{}","processor":{},"amount":{},"acceptedAt":"{}","requestedAt":"{}")", cid, state,
      proc >= 0 ? fmt::format("\"{}\"", processor_name(static_cast<Processor>(proc))) : std::string("null"),
      format_cents(s.cents), format_iso8601_ms(s.accepted_ms), format_iso8601_ms(s.requested_ms));
  if (s.processed_by >= 0) out += fmt::format(R"(,"processedAt":"{}")", format_iso8601_ms(s.processed_ms));
  return out + "}";
}

struct SummaryService::LoopState {
  net::EventLoop* loop = nullptr;
  std::unique_ptr<net::PgConn> conn;
};

struct SummaryService::Request {
  int64_t from_ms, to_ms;
  int64_t as_of_ms;  // the instant the answer speaks for: when the request arrived (wall clock)
  net::Responder responder;
  SteadyClock::time_point arrived;
  void fail(Route route) {
    responder.send(503, kBodyUnavailable);
    count_request(route, 503, arrived);
  }
};

SummaryService::SummaryService(const Config& cfg) : cfg_(cfg) {}
SummaryService::~SummaryService() = default;

void SummaryService::start(net::HttpServer& server) {
  loops_.start(server, [this](net::EventLoop& loop, LoopState& st) {
    st.loop = &loop;
    st.conn = std::make_unique<net::PgConn>(
        loop, store::connection(cfg_, "reader", true, cfg_.summary_timeout, store::reader_statements()));
    st.conn->on_state = [](bool up) { metrics().db_connections.fetch_add(up ? 1 : -1, std::memory_order_relaxed); };
    st.conn->start();
  });
}

void SummaryService::stop(net::HttpServer&) {
  loops_.each_on_loop([](LoopState& st) { st.conn.reset(); });
}

bool SummaryService::ready() const {
  bool all = true;
  loops_.for_each([&](const LoopState& st) { all = all && st.conn && st.conn->ready(); });
  return all;
}

void SummaryService::summary(std::optional<int64_t> from_ms, std::optional<int64_t> to_ms, net::Responder r,
                             SteadyClock::time_point arrived) {
  auto req = std::make_shared<Request>(
      Request{from_ms.value_or(store::kMinMs), to_ms.value_or(store::kMaxMs), now_epoch_ms(), std::move(r), arrived});
  LoopState* st = loops_.find(req->responder.loop());
  if (!st || !st->conn) return req->fail(kGetSummary);
  wait_in_flight(*st, req);
}

void SummaryService::wait_in_flight(LoopState& st, std::shared_ptr<Request> req) {
  // A payment whose requestedAt lies in the window and that is routed but not recorded may have
  // been stored by its processor already, its record on the way (up to RECORDER_GATHER_MS and a
  // commit): the processor's summary counts it. Give such payments a moment to land (they are
  // rare: the router keeps processors slower than MAX_LATENCY_MS out of use), bounded well inside
  // a client's timeout. Those answered after the request arrived land too, but are not counted
  // (processed_at after as_of_ms): the processors, asked at the same instant, did not count them.
  const auto wait_until = req->arrived + cfg_.summary_wait;
  st.conn->exec(store::kInFlightInWindow,
                {std::to_string(req->from_ms), std::to_string(req->to_ms), std::to_string(cfg_.max_latency.count() * 2)},
                req->arrived + cfg_.summary_timeout, [this, &st, req, wait_until](net::PgReply&& r) {
                  if (r.status != net::PgStatus::ok) return req->fail(kGetSummary);
                  if (r.result.int64(0, 0) > 0 && SteadyClock::now() + Config::summary_wait_step < wait_until) {
                    st.loop->add_timer(Config::summary_wait_step, [this, &st, req] { wait_in_flight(st, req); });
                    return;
                  }
                  run_summary(st, req);
                });
}

void SummaryService::run_summary(LoopState& st, std::shared_ptr<Request> req) {
  st.conn->exec(store::kSummary, {std::to_string(req->from_ms), std::to_string(req->to_ms), std::to_string(req->as_of_ms)},
                req->arrived + cfg_.summary_timeout, [req](net::PgReply&& r) {
                  if (r.status != net::PgStatus::ok) return req->fail(kGetSummary);
                  Summary s;
                  for (int i = 0; i < r.result.rows(); ++i) {
                    auto p = r.result.int64(i, 0);
                    if (p != 0 && p != 1) continue;
                    s.requests[p] = r.result.int64(i, 1);
                    s.cents[p] = r.result.int64(i, 2);
                  }
                  req->responder.send(200, summary_json(s));
                  count_request(kGetSummary, 200, req->arrived);
                });
}

void SummaryService::status(std::string cid, net::Responder r, SteadyClock::time_point arrived) {
  auto req = std::make_shared<Request>(Request{0, 0, 0, std::move(r), arrived});
  LoopState* st = loops_.find(req->responder.loop());
  if (!st || !st->conn) return req->fail(kGetPayment);
  st->conn->exec(store::kStatus, {cid}, arrived + cfg_.summary_timeout, [req, cid](net::PgReply&& rep) {
    if (rep.status != net::PgStatus::ok) return req->fail(kGetPayment);
    if (rep.result.rows() == 0) {
      req->responder.send(404, R"({"error":"no payment with this correlationId"})");
      count_request(kGetPayment, 404, req->arrived);
      return;
    }
    PaymentStatus s;
    s.cents = rep.result.int64(0, 0);
    s.accepted_ms = rep.result.int64(0, 1);
    s.requested_ms = rep.result.int64(0, 2);
    s.routed_to = static_cast<int>(rep.result.int64(0, 3));
    s.unknown = rep.result.boolean(0, 4);
    s.processed_by = static_cast<int>(rep.result.int64(0, 5));
    s.processed_ms = rep.result.int64(0, 6);
    req->responder.send(200, status_json(cid, s));
    count_request(kGetPayment, 200, req->arrived);
  });
}

void SummaryService::purge(net::Responder r, SteadyClock::time_point arrived) {
  auto req = std::make_shared<Request>(Request{0, 0, 0, std::move(r), arrived});
  LoopState* st = loops_.find(req->responder.loop());
  if (!st || !st->conn) return req->fail(kPurge);
  st->conn->exec(store::kPurge, {}, arrived + cfg_.db_statement_timeout, [req](net::PgReply&& rep) {
    if (rep.status != net::PgStatus::ok) {
      log_event("error", "purge failed", rep.error);
      return req->fail(kPurge);
    }
    req->responder.send(200, R"({"message":"All payments purged."})");
    count_request(kPurge, 200, req->arrived);
  });
}

}  // namespace engine
