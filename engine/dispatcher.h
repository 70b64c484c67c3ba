// The dispatcher owns every payment this instance is processing, on ONE event-loop thread (the
// HTTP server's first, see start(); no locks around payment state), and moves each through
// explicit states, in ONE function, Dispatcher::transition (dispatcher.cpp), where a reviewer can
// check exactly-once:
//
//   queued ──route to X──> routing(X) ──route written──> in_flight(X) ──200/422──> recording ──> done
//     ^  │                                                  │  │
//     │  └─ already routed to X, lease valid: straight to ──┘  └── timeout / reset ──> unknown(X)
//     │                                                                                  │
//     ├──── 500 / 429 / refused / never written (not processed) <── in_flight(X)          │
//     └──── X's GET /payments/{id} answers 404 past the unknown horizon <─────────────────┤
//           (any other answer, or a re-send to X: 200/422 -> recording) <─────────────────┘
//
// Two rules make double processing impossible:
//  - a payment routed to X ("in flight on X", durable in payments.processor before the first byte
//    goes out) can only go elsewhere once X itself proves it holds nothing (a 404), asked only when
//    no send to X can still land: UNKNOWN_HORIZON_MS after the last unanswered send, and after the
//    moment we took the payment over (its previous holder may have sent it up to then);
//  - we act on a payment only while its lease (msg_id, read_ct) is ours: every write is fenced by
//    it, and a send must start before the lease we last proved runs out (HttpClient start_by).
//    A stalled instance wakes up with nothing it may do; whoever adopted its payments settles them.
// Memory is bounded: at most DISPATCHER_MAX_PAYMENTS here; the rest waits in the queue, claimed
// as room frees up. Database writes go through the Recorder; the processors are called with the
// asynchronous HttpClient, thousands in flight. The periodic tick (health, adoption, lease
// renewals, gauges) is in janitor.cpp.
#pragma once
#include <atomic>
#include <deque>
#include <memory>
#include <thread>
#include <unordered_map>
#include <vector>

#include "engine/config.h"
#include "engine/reconcile.h"
#include "engine/recorder.h"
#include "engine/router.h"
#include "engine/store.h"
#include "net/event_loop.h"
#include "net/http_client.h"

namespace engine {

// A payment the ingress just committed, leased to this instance (read_ct 0).
struct Fresh {
  PaymentRequest payment;
  int64_t msg_id = 0;
  int64_t requested_at_ms = 0;
  int processor = -1;                   // routed in the accept statement; -1: not yet
  SteadyClock::time_point lease_until;  // our right to send it ends then
};

class Dispatcher {
 public:
  explicit Dispatcher(const Config& cfg);
  ~Dispatcher();
  // Runs on `loop` (running, not the calling thread): the engine's HTTP loop, where the ingress
  // commits, so that a payment's first send leaves in the same loop round as its 2XX, with no
  // other thread to wake in between: the load test, which reads the processors' totals the
  // moment its last 2XX arrives, then rarely finds a payment not yet held (bench/README.md).
  void start(net::EventLoop& loop);
  // Graceful, while the loop still runs: stops taking work, gives queued payments back to the
  // queue at once, waits up to `drain` for answers still due and their records, then gives back
  // whatever is left.
  void stop(std::chrono::milliseconds drain);
  // Once the loop has stopped (and before it is destroyed): closes the connections.
  void close();

  // Thread-safe, for the ingress.
  int reserve(int n);  // room for up to n more payments in memory; returns how many slots it got
  void unreserve(int n);
  int route_hint() const { return route_hint_.load(std::memory_order_relaxed); }  // -1: hold
  void submit(std::vector<Fresh> fresh);  // each uses one reserved slot
  bool database_ready() const { return db_ready_.load(std::memory_order_relaxed); }
  // GET /admin/reconciliation: runs on the dispatcher's loop (its connection and HTTP client).
  void reconcile(std::optional<int64_t> from_ms, std::optional<int64_t> to_ms, net::Responder r,
                 SteadyClock::time_point arrived);

 private:
  enum class State : uint8_t { queued, routing, in_flight, unknown, recording };
  static constexpr int kRouteUnknown = -2;  // a route write in doubt: the durable route is unknown
  struct Job {
    PaymentRequest payment;
    int64_t requested_at_ms = 0;            // one requestedAt for the payment's whole life
    pgq::Lease lease;                       // our fencing token
    SteadyClock::time_point lease_until{};  // our right to send ends (the lease we proved, minus a margin)
    State state = State::queued;
    int processor = -1;                     // the durable route: -1 none, 0/1, kRouteUnknown
    int target = -1;                        // routing: the processor being written
    SteadyClock::time_point unknown_base{};  // unknown: last unanswered send, or when we took it over
    bool sending = false, looking_up = false, renewing = false, resend_scheduled = false;
    bool probe = false;  // its next send tests a half-open circuit
    int avoid = -1;      // X proved it did not store this payment: route it elsewhere if possible
    int tries = 0;
    uint32_t gen = 0;  // tells this job from an earlier one of the same payment (dropped, taken again)
  };
  enum class Ev : uint8_t {
    taken,          // fresh from the ingress, or claimed from the queue and never routed
    taken_over,     // claimed from the queue, routed to `processor` before: it may have been sent
    route,          // a routing round chose `processor`
    route_written,  // the route is durable and the lease proved ours from `at`
    route_failed,   // the route write did not go through: nothing was sent
    stored,         // the processor holds it: 200/422 to a send, or 200 to a lookup (`requested_at_ms`,
                    // and when that answer reached us, `answered_ms`)
    not_stored,     // a send definitely not processed: 500, 429, refused, or never written
    no_answer,      // a send written at `at` got no complete answer: outcome unknown
    resend_due,     // unknown: time to re-send to X, or to ask X
    not_held,       // X's lookup answered 404 past the horizon
    recorded,       // processed_payments has it (the message is gone)
    lease_lost,     // someone else leased the payment since: hands off
  };
  struct Event {
    Ev kind;
    int processor = -1;
    SteadyClock::time_point at{};
    int64_t requested_at_ms = 0;
    int64_t answered_ms = 0;
  };

  // THE state machine: every change of a payment's state happens here.
  void transition(Job& j, const Event& e);
  // Its actions.
  void send(Job& j, State as);
  void requeue(Job& j, std::chrono::milliseconds after);
  void schedule_resend(Job& j, std::chrono::milliseconds after);
  void look_up(Job& j);
  void drop(Job& j);

  Job* find(const CorrelationId& cid, uint32_t gen);
  Job& take(const PaymentRequest& p, int64_t requested_at_ms, pgq::Lease lease, SteadyClock::time_point lease_until);
  void pump();
  Decision decide();
  void publish_hint();
  void on_post_result(const CorrelationId& cid, uint32_t gen, Processor p, bool probe, net::ClientResult&& r);
  void on_lookup_result(const CorrelationId& cid, uint32_t gen, net::ClientResult&& r);
  void on_route_result(const Recorder::Route& r, Recorder::Outcome o, SteadyClock::time_point issued);
  void on_renew_result(const Recorder::Renew& r, Recorder::Outcome o, SteadyClock::time_point issued);
  void on_record_result(const Recorder::Record& r, Recorder::Outcome o);
  void note_connect_failure(Processor p);
  bool busy() const;
  void release_all(bool only_queued);

  // janitor.cpp: the periodic tick.
  void tick();
  void check_health(Processor p);
  void read_health();
  void claim();
  void renew_leases();
  void publish_gauges();

  const Config& cfg_;
  RoutingPolicy policy_;
  net::EventLoop* loop_ = nullptr;  // set by start()
  std::unique_ptr<net::HttpClient> client_;
  net::Endpoint endpoint_[2];
  std::unique_ptr<Recorder> recorder_;
  std::unique_ptr<Reconciler> reconciler_;

  // Thread-safe state.
  std::atomic<bool> started_{false};
  std::atomic<int64_t> owned_{0};  // jobs + reserved slots
  std::atomic<int> route_hint_{-1};
  std::atomic<bool> db_ready_{false};

  // Loop-thread state.
  std::unordered_map<CorrelationId, Job, CorrelationIdHash> jobs_;
  std::deque<CorrelationId> ready_;  // queued, in arrival order
  ProcessorState proc_[2];
  struct InFlightLog {
    std::deque<std::pair<SteadyClock::time_point, bool>> entries;  // (sent, finished), oldest first
    uint64_t base = 0;
    uint64_t push(SteadyClock::time_point t);
    void finish(uint64_t slot);
    SteadyClock::time_point oldest() const;
  } in_flight_[2];
  int64_t routing_[2] = {0, 0};  // route writes pending, counted against the in-flight cap
  uint32_t next_gen_ = 1;
  bool stopping_ = false;
  int64_t unknown_count_ = 0;
  SteadyClock::time_point last_health_{}, last_claim_{}, last_gauges_{}, last_queue_gauges_{}, last_partitions_{};
  bool claim_in_flight_ = false, claim_more_ = true;
  int health_in_flight_ = 0;
  // Re-resolving a processor's host name after connection failures (off the loop: getaddrinfo blocks).
  int connect_failures_[2] = {0, 0};
  SteadyClock::time_point last_resolve_[2]{};
  std::atomic<bool> resolving_[2] = {false, false};
  std::thread resolver_[2];
};

}  // namespace engine
