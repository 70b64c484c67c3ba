// The dispatcher's database writes, batched per kind: items accumulate while a statement of their
// kind is in flight and go together in the next one, so a burst of answers costs one statement
// (and one commit), not one each. Runs on the dispatcher's loop, over two asynchronous
// connections:
//   - routes and lease renewals/releases on a connection with durable commits: a route ("in flight
//     on X") must survive a crash before the first byte goes to X, and a lease we act on must be
//     one the database will remember;
//   - records on a connection with synchronous_commit off. A record lost in a database crash only
//     undoes itself: its message and its route come back, whoever adopts the payment re-sends it
//     to the same processor with the same requestedAt, and the processor's 422 settles it again.
//     No client waits on a record, and its fsync would compete with the ingress commits they do
//     wait on.
// Every write is fenced by the payment's lease and idempotent; results come back per item.
#pragma once
#include <functional>
#include <memory>
#include <vector>

#include "engine/config.h"
#include "engine/payment_request.h"
#include "engine/router.h"
#include "net/pg_client.h"
#include "queue/queue.h"

namespace engine {

class Recorder {
 public:
  enum class Outcome : uint8_t {
    done,    // written (or found written by an earlier attempt)
    lost,    // the lease is someone else's now: the statement changed nothing of this payment
    failed,  // no answer from the database (down, in doubt, error): nothing can be assumed
  };
  struct Route {
    CorrelationId cid;
    pgq::Lease lease;
    int processor;
    int64_t requested_at_ms;  // tells the payment's partition
    uint32_t gen;             // the dispatcher's job generation, echoed back
  };
  struct Record {
    CorrelationId cid;
    pgq::Lease lease;
    int processor;
    int64_t cents, requested_at_ms;
    int64_t answered_ms;  // when the processor's answer reached us (wall clock): processed_at
    uint32_t gen;
  };
  struct Renew {
    CorrelationId cid;
    pgq::Lease lease;
    uint32_t gen;
  };

  Recorder(net::EventLoop& loop, const Config& cfg);
  ~Recorder();
  void start();  // loop thread

  // Results, on the loop thread. `issued`: when the statement was sent; a renewed lease runs from it.
  std::function<void(const Route&, Outcome, SteadyClock::time_point issued)> on_route;
  std::function<void(const Renew&, Outcome, SteadyClock::time_point issued)> on_renew;
  // Records that fail are retried here until the database takes them: only done or lost come back.
  std::function<void(const Record&, Outcome)> on_record;

  void route(Route r);
  void renew(Renew r);    // for another lease
  void release(Renew r);  // visible to every reader now; no result comes back
  void record(Record r);
  // For GET /payments/{id} only: no result, no retry.
  void mark_unknown(const CorrelationId& cid, int64_t requested_at_ms, bool unknown);

  // The durable connection, for the janitor's own statements (claims, health, gauges).
  net::PgConn& db() { return *durable_; }
  bool ready() const { return durable_->ready() && relaxed_->ready(); }
  size_t backlog() const;
  bool idle() const;  // nothing pending or in flight

 private:
  template <class T>
  struct Batch {
    std::vector<T> pending;
    bool in_flight = false;
  };
  void flush_routes();
  void flush_renewals(Batch<Renew>& b, std::chrono::milliseconds vt);
  void schedule_records();
  void flush_records_after(std::chrono::milliseconds after);  // one timer at a time: record_timer_
  void flush_records();
  void flush_marks();
  net::Clock::time_point deadline() const;

  net::EventLoop& loop_;
  const Config& cfg_;
  std::unique_ptr<net::PgConn> durable_, relaxed_;
  Batch<Route> routes_;
  Batch<Renew> renewals_, releases_;
  Batch<Record> records_;
  struct Mark {
    CorrelationId cid;
    int64_t requested_at_ms;
    bool unknown;
  };
  Batch<Mark> marks_;
  bool record_timer_ = false;
  net::Clock::time_point last_records_{};  // when the last record statement was sent
  int record_failures_ = 0;
};

}  // namespace engine
