// The dispatcher's one periodic tick (like PgBouncer's janitor), on the dispatcher's loop:
//  - the shared health check: claims a processor's 5 s window in PostgreSQL, and only the claimer
//    calls GET /payments/service-health (with the engine's one HTTP client); every instance reads
//    the result into its router;
//  - lease renewals for the payments held here, before anyone may think us dead;
//  - claims: messages visible in the queue (given back by a full or stopping instance, or whose
//    lease expired because their instance died or stalled), as room frees up in memory;
//  - reconciliation with the processors' books (reconcile.h);
//  - history partitions: created ahead, dropped past retention (sql/006), hourly;
//  - gauges for /metrics.
#include <fmt/format.h>
#include <simdjson.h>

#include "engine/dispatcher.h"
#include "engine/log.h"
#include "engine/metrics.h"

namespace engine {

void Dispatcher::tick() {
  const auto now = loop_->now();
  renew_leases();
  if (!stopping_) {
    if (now - last_health_ >= Config::gauges_every && health_in_flight_ == 0) {
      last_health_ = now;
      for (Processor p : {kDefault, kFallback}) check_health(p);
      read_health();
    }
    // Visible messages: given back by a full or stopping instance, or whose instance died or
    // stalled. Every claim interval, or every tick while the last claim came back full (a backlog).
    if (!claim_in_flight_ && now - last_claim_ >= (claim_more_ ? cfg_.tick : cfg_.claim_interval())) claim();
    pump();  // payments that no processor could take get another routing round
  }
  if (now - last_gauges_ >= Config::gauges_every) {
    last_gauges_ = now;
    publish_gauges();
  }
  if (!stopping_) reconciler_->tick();
  if (now - last_partitions_ >= Config::partitions_every) {
    // Days ahead are created and days past retention dropped (sql/006); idempotent, and the
    // instances serialise on a lock inside.
    last_partitions_ = now;
    recorder_->db().exec(store::kPartitions,
                         {std::to_string(cfg_.partitions_ahead_days), std::to_string(cfg_.retention_days)},
                         SteadyClock::now() + cfg_.db_statement_timeout, [](net::PgReply&& r) {
                           if (r.status != net::PgStatus::ok) log_event("warn", "partition maintenance failed", r.error);
                         });
  }
  loop_->add_timer(cfg_.tick, [this] { tick(); });
}

void Dispatcher::renew_leases() {
  const auto now = SteadyClock::now();
  for (auto& [cid, j] : jobs_) {
    if (j.renewing || j.state == State::routing || j.lease_until - now > cfg_.lease / 2) continue;
    j.renewing = true;
    recorder_->renew({cid, j.lease, j.gen});
  }
}

void Dispatcher::claim() {
  // Without room it still runs (for nothing): every claim keeps the instances' shared clock that
  // tells a database stall from a dead instance (store.cpp kClaim).
  const int room = reserve(Config::claim_batch);
  claim_in_flight_ = true;
  const auto issued = SteadyClock::now();
  recorder_->db().exec(
      store::kClaim,
      {std::to_string(room), std::to_string(cfg_.lease.count()), std::to_string(cfg_.claim_stall().count()),
       std::to_string(cfg_.lease.count())},
      issued + cfg_.db_statement_timeout,
      [this, room, issued](net::PgReply&& r) {
        claim_in_flight_ = false;
        last_claim_ = loop_->now();
        if (r.status != net::PgStatus::ok) {
          unreserve(room);
          return;
        }
        const auto lease_until = issued + cfg_.lease - cfg_.lease_margin();
        int used = 0;
        for (int i = 0; i < r.result.rows(); ++i) {
          PaymentRequest p;
          if (!store::decode_message(r.result.text(i, 2), p) || r.result.null(i, 3)) {
            log_event("error", "queue message without its payment", std::string(r.result.text(i, 2)));
            continue;
          }
          const pgq::Lease lease{r.result.int64(i, 0), static_cast<int32_t>(r.result.int64(i, 1))};
          if (Job* mine = find(p.correlation_id, 0)) {  // our own lease ran out and we took it again
            mine->lease = lease;
            mine->lease_until = std::max(mine->lease_until, lease_until);
            continue;
          }
          ++used;
          metrics().adopted.fetch_add(1, std::memory_order_relaxed);
          Job& j = take(p, r.result.int64(i, 3), lease, lease_until);
          const int routed_to = static_cast<int>(r.result.int64(i, 4));
          if (routed_to >= 0) transition(j, {Ev::taken_over, routed_to});
          else transition(j, {Ev::taken});
        }
        claim_more_ = room > 0 && r.result.rows() == room;
        unreserve(room - used);
        if (used) log_event("info", "claimed payments from the queue", std::to_string(used));
        pump();
      });
}

void Dispatcher::check_health(Processor p) {
  ++health_in_flight_;
  recorder_->db().exec(
      store::kClaimHealth,
      {std::to_string(static_cast<int>(p)), std::to_string(cfg_.instance_id), std::to_string(cfg_.health_interval.count())},
      SteadyClock::now() + cfg_.db_statement_timeout, [this, p](net::PgReply&& r) {
        --health_in_flight_;
        if (r.status != net::PgStatus::ok || r.result.rows() == 0) return;  // someone else's window
        client_->request(endpoint_[p], "GET", "/payments/service-health", {}, {}, Config::processor_admin_timeout,
                         [this, p](net::ClientResult&& res) {
                           if (res.error != net::ClientError::none || res.status != 200) return;  // 429: next window
                           simdjson::padded_string body(res.body);
                           simdjson::ondemand::parser parser;
                           simdjson::ondemand::document doc;
                           bool failing = false;
                           int64_t min_rt = 0;
                           if (parser.iterate(body).get(doc) || doc["failing"].get_bool().get(failing) ||
                               doc["minResponseTime"].get_int64().get(min_rt)) {
                             log_event("warn", "unreadable health answer", res.body);
                             return;
                           }
                           recorder_->db().exec(store::kReportHealth,
                                                {std::to_string(static_cast<int>(p)), failing ? "true" : "false",
                                                 std::to_string(min_rt)},
                                                SteadyClock::now() + cfg_.db_statement_timeout, [](net::PgReply&&) {});
                         });
      });
}

void Dispatcher::read_health() {
  recorder_->db().exec(store::kReadHealth, {}, SteadyClock::now() + cfg_.db_statement_timeout,
                       [this](net::PgReply&& r) {
                         if (r.status != net::PgStatus::ok) return;
                         const auto now = loop_->now();
                         for (int i = 0; i < r.result.rows(); ++i) {
                           const auto p = r.result.int64(i, 0);
                           if ((p != 0 && p != 1) || !r.result.boolean(i, 3)) continue;  // never reported
                           const bool failing = r.result.boolean(i, 1);
                           const int64_t min_rt = r.result.int64(i, 2);
                           on_health(proc_[p], policy_, failing, min_rt, now - std::chrono::milliseconds(r.result.int64(i, 4)),
                                     now);
                           metrics().health_failing[p].store(failing, std::memory_order_relaxed);
                           metrics().health_min_response_ms[p].store(min_rt, std::memory_order_relaxed);
                         }
                         pump();
                       });
}

void Dispatcher::publish_gauges() {
  auto& m = metrics();
  m.owned.store(static_cast<int64_t>(jobs_.size()), std::memory_order_relaxed);
  m.unknown.store(unknown_count_, std::memory_order_relaxed);
  m.waiting.store(static_cast<int64_t>(ready_.size()), std::memory_order_relaxed);
  m.recorder_backlog.store(static_cast<int64_t>(recorder_->backlog()), std::memory_order_relaxed);
  m.db_reconnects.store(static_cast<int64_t>(recorder_->db().reconnects()), std::memory_order_relaxed);
  const auto now = loop_->now();
  for (int p = 0; p < 2; ++p) m.circuit[p].store(circuit_state(proc_[p], now), std::memory_order_relaxed);
  if (now - last_queue_gauges_ < Config::queue_gauges_interval(m.queue_depth.load(std::memory_order_relaxed))) return;
  last_queue_gauges_ = now;
  recorder_->db().exec(store::kQueueGauges, {}, SteadyClock::now() + cfg_.db_statement_timeout,
                       [](net::PgReply&& r) {
                         if (r.status != net::PgStatus::ok || r.result.rows() == 0) return;
                         metrics().queue_depth.store(r.result.int64(0, 0), std::memory_order_relaxed);
                         metrics().oldest_queued_ms.store(r.result.int64(0, 1), std::memory_order_relaxed);
                         metrics().dead_letters.store(r.result.int64(0, 3), std::memory_order_relaxed);
                       });
}

}  // namespace engine
