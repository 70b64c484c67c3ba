#include "engine/reconcile.h"

#include <fmt/format.h>
#include <simdjson.h>

#include <memory>

#include "engine/log.h"
#include "engine/metrics.h"
#include "engine/money.h"
#include "engine/store.h"
#include "engine/timefmt.h"

namespace engine {
namespace {

std::string books_json(const Books& b) {
  return fmt::format(R"({{"totalRequests":{},"totalAmount":{}}})", b.requests, format_cents(b.cents));
}

}  // namespace

std::optional<Books> parse_processor_summary(std::string_view body) {
  simdjson::padded_string padded(body);
  simdjson::ondemand::parser parser;
  simdjson::ondemand::document doc;
  if (parser.iterate(padded).get(doc)) return std::nullopt;
  simdjson::ondemand::object obj;
  if (doc.get_object().get(obj)) return std::nullopt;
  Books b;
  bool have_n = false, have_amount = false;
  for (auto field : obj) {
    std::string_view key;
    simdjson::ondemand::value v;
    if (field.unescaped_key().get(key) || field.value().get(v)) return std::nullopt;
    if (key == "totalRequests") {
      if (v.get_int64().get(b.requests)) return std::nullopt;
      have_n = true;
    } else if (key == "totalAmount") {
      // Exact: the amount's own decimal text, never a double.
      std::string_view raw = v.raw_json_token();
      while (!raw.empty() && (raw.back() == ' ' || raw.back() == '\n' || raw.back() == '\r' || raw.back() == '\t'))
        raw.remove_suffix(1);
      auto cents = money::parse_amount_cents(raw, false);
      if (!cents) return std::nullopt;
      b.cents = *cents;
      have_amount = true;
    }
  }
  if (!have_n || !have_amount) return std::nullopt;
  return b;
}

std::string reconciliation_json(std::optional<int64_t> from_ms, std::optional<int64_t> to_ms, const Books ours[2],
                                const Books theirs[2]) {
  auto bound = [](std::optional<int64_t> ms) { return ms ? fmt::format("\"{}\"", format_iso8601_ms(*ms)) : std::string("null"); };
  std::string out = fmt::format(R"({{"from":{},"to":{})", bound(from_ms), bound(to_ms));
  for (int p = 0; p < 2; ++p) {
    Books diff{ours[p].requests - theirs[p].requests, ours[p].cents - theirs[p].cents};
    out += fmt::format(R"(,"{}":{{"ours":{},"processor":{},"difference":{}}})", processor_name(static_cast<Processor>(p)),
                       books_json(ours[p]), books_json(theirs[p]), books_json(diff));
  }
  return out + "}";
}

Reconciler::Reconciler(const Config& cfg, net::EventLoop& loop, net::PgConn& db, net::HttpClient& client,
                       const net::Endpoint* endpoints)
    : cfg_(cfg), loop_(loop), db_(db), client_(client), endpoints_(endpoints) {}

void Reconciler::compare(int64_t from_ms, int64_t to_ms, Done done) {
  struct State {
    Books ours[2], theirs[2];
    int pending = 3;
    bool ok = true;
    std::string error;
    Done done;
  };
  auto st = std::make_shared<State>();
  st->done = std::move(done);
  auto finish_one = [st] {
    if (--st->pending == 0) st->done(st->ok, st->error, st->ours, st->theirs);
  };
  db_.exec(store::kSummary, {std::to_string(from_ms), std::to_string(to_ms), std::to_string(store::kMaxMs)},
           SteadyClock::now() + cfg_.db_statement_timeout, [st, finish_one](net::PgReply&& r) {
             if (r.status != net::PgStatus::ok) {
               st->ok = false;
               st->error = "database: " + r.error;
             }
             for (int i = 0; i < r.result.rows(); ++i) {
               auto p = r.result.int64(i, 0);
               if (p != 0 && p != 1) continue;
               st->ours[p] = {r.result.int64(i, 1), r.result.int64(i, 2)};
             }
             finish_one();
           });
  const auto path = fmt::format("/admin/payments-summary?from={}&to={}", format_iso8601_ms(from_ms),
                                format_iso8601_ms(to_ms));
  const auto token = fmt::format("X-Rinha-Token: {}\r\n", cfg_.processor_token);
  for (int p = 0; p < 2; ++p)
    client_.request(endpoints_[p], "GET", path, {}, token, Config::processor_admin_timeout, [st, p, finish_one](net::ClientResult&& r) {
      std::optional<Books> b;
      if (r.error == net::ClientError::none && r.status == 200) b = parse_processor_summary(r.body);
      if (b) {
        st->theirs[p] = *b;
      } else {
        st->ok = false;
        st->error = fmt::format("{} admin summary: {} {}", processor_name(static_cast<Processor>(p)),
                                r.error == net::ClientError::none ? std::to_string(r.status) : to_string(r.error),
                                r.body.substr(0, 100));
      }
      finish_one();
    });
}

void Reconciler::tick() {
  const auto now = loop_.now();
  if (now - last_gauges_ >= Config::gauges_every) {
    last_gauges_ = now;
    read_gauges();
  }
  if (cfg_.reconcile_interval.count() > 0 && !running_ && now - last_run_ >= cfg_.reconcile_interval / 4) {
    last_run_ = now;
    run_periodic();
  }
}

void Reconciler::run_periodic() {
  // The job is claimed on row 0 for its interval: whoever wins compares both processors.
  running_ = true;
  db_.exec(store::kReconcileClaim, {"0", std::to_string(cfg_.instance_id), std::to_string(cfg_.reconcile_interval.count())},
           SteadyClock::now() + cfg_.db_statement_timeout, [this](net::PgReply&& r) {
             if (r.status != net::PgStatus::ok || r.result.rows() == 0) {
               running_ = false;
               return;
             }
             const int64_t to = now_epoch_ms() - cfg_.reconcile_delay.count();
             const int64_t from = to - cfg_.reconcile_interval.count() + 1;  // consecutive windows, no overlap
             compare(from, to, [this, from, to](bool ok, std::string error, const Books* ours, const Books* theirs) {
               running_ = false;
               if (!ok) {
                 log_event("warn", "reconciliation not done", error);
                 return;
               }
               for (int p = 0; p < 2; ++p)
                 db_.exec(store::kReconcileReport,
                          {std::to_string(p), std::to_string(from), std::to_string(to), std::to_string(ours[p].requests),
                           std::to_string(ours[p].cents), std::to_string(theirs[p].requests), std::to_string(theirs[p].cents)},
                          SteadyClock::now() + cfg_.db_statement_timeout, [](net::PgReply&&) {});
               bool differs = false;
               for (int p = 0; p < 2; ++p)
                 differs = differs || ours[p].requests != theirs[p].requests || ours[p].cents != theirs[p].cents;
               if (differs)
                 log_event("error", "reconciliation difference", reconciliation_json(from, to, ours, theirs));
               read_gauges();
             });
           });
}

void Reconciler::read_gauges() {
  db_.exec(store::kReconcileRead, {}, SteadyClock::now() + cfg_.db_statement_timeout, [](net::PgReply&& r) {
    if (r.status != net::PgStatus::ok) return;
    for (int i = 0; i < r.result.rows(); ++i) {
      auto p = r.result.int64(i, 0);
      if (p != 0 && p != 1) continue;
      metrics().reconcile_diff_requests[p].store(r.result.int64(i, 1), std::memory_order_relaxed);
      metrics().reconcile_diff_cents[p].store(r.result.int64(i, 2), std::memory_order_relaxed);
      metrics().reconcile_window_end_ms.store(r.result.int64(i, 3), std::memory_order_relaxed);
    }
  });
}

void Reconciler::on_demand(std::optional<int64_t> from_ms, std::optional<int64_t> to_ms, net::Responder r,
                           SteadyClock::time_point arrived) {
  compare(from_ms.value_or(store::kMinMs), to_ms.value_or(store::kMaxMs),
          [from_ms, to_ms, r, arrived](bool ok, std::string error, const Books* ours, const Books* theirs) {
            if (!ok) {
              const int status = error.rfind("database", 0) == 0 ? 503 : 502;
              r.send(status, fmt::format(R"({{"error":"{}"}})", json_escape(error)));
              count_request(kReconcile, status, arrived);
              return;
            }
            r.send(200, reconciliation_json(from_ms, to_ms, ours, theirs));
            count_request(kReconcile, 200, arrived);
          });
}

}  // namespace engine
