// The dispatcher owns every payment this instance is processing, on ONE event-loop thread (no
// locks around payment state), and moves each through explicit states:
//
//   queued ──route──> routing ──attempt row durable──> in_flight(X) ──200/422──> recording ──> gone
//     ^  ^                                                  │  │
//     │  └───────────── 500 / 429 / refused (not processed) ┘  └─ timeout / reset ─> unknown(X)
//     │                                                                                │
//     └──────────── GET /payments/{id} on X says 404 after the unknown horizon ────────┤
//                   (any other answer: re-send to X with the same requestedAt) <───────┘
//
// A payment in unknown(X) is only ever re-sent to X, never elsewhere, until X itself proves it
// does not hold it: this is what makes double processing impossible. Database writes go through
// the Recorder; the processors are called with the asynchronous HttpClient, thousands in flight.
#pragma once
#include <atomic>
#include <deque>
#include <memory>
#include <thread>
#include <unordered_map>
#include <vector>

#include "engine/config.h"
#include "net/event_loop.h"
#include "net/http_client.h"
#include "engine/recorder.h"
#include "engine/router.h"
#include "engine/store.h"

namespace engine {

struct NewPayment {
  PaymentRequest payment;
  int64_t msg_id;
};

class Dispatcher {
 public:
  explicit Dispatcher(const Config& cfg);
  ~Dispatcher();
  void start();
  // Graceful: stops taking work, gives queued payments back to the queue at once, waits up to
  // `drain` for payments in flight to finish, then stops. What is left keeps its lease and is
  // adopted by another instance when the lease runs out.
  void stop(std::chrono::milliseconds drain);

  // Thread-safe entry points.
  void submit(std::vector<NewPayment> fresh);      // just committed by the ingress
  void adopt(std::vector<store::Adopted> adopted);  // leases expired elsewhere
  void health(const store::HealthRow rows[2]);      // the shared health check

 private:
  enum class State : uint8_t { queued, held, routing, in_flight, unknown, recording };
  struct Job {
    PaymentRequest payment;
    int64_t msg_id = 0;
    State state = State::queued;
    Processor processor = kDefault;
    int64_t requested_at_ms = 0;           // the requestedAt every send to `processor` carries
    SteadyClock::time_point first_sent{};  // first send to `processor` with requested_at_ms
    SteadyClock::time_point lease_until{};
    int tries = 0;
  };
  // Send times of requests in flight to one processor, oldest first, so that the age of the oldest
  // unanswered request is known in O(1) (requests mostly finish in order; the rest are skipped).
  struct InFlightLog {
    std::deque<std::pair<SteadyClock::time_point, bool>> entries;  // (sent, finished)
    uint64_t base = 0;
    uint64_t push(SteadyClock::time_point t);
    void finish(uint64_t slot);
    SteadyClock::time_point oldest() const;
  };

  void take(Job job);
  void pump();
  void send(Job& j, bool probe);
  void on_post_result(const CorrelationId& cid, Processor p, bool probe, net::ClientResult&& r);
  void on_lookup_result(const CorrelationId& cid, net::ClientResult&& r);
  void requeue(Job& j, std::chrono::milliseconds after);
  void become_unknown(Job& j);
  void retry_unknown(const CorrelationId& cid);
  void finish(Job& j, int64_t requested_at_ms);
  void flush_done();
  void tick();
  void publish_gauges();
  Job* find(const CorrelationId& cid);

  const Config& cfg_;
  RoutingPolicy policy_;
  net::EventLoop loop_;
  std::unique_ptr<net::HttpClient> client_;
  net::Endpoint endpoint_[2];
  Recorder recorder_;
  std::thread thread_;

  // Loop-thread state.
  std::unordered_map<CorrelationId, Job, CorrelationIdHash> jobs_;
  std::deque<CorrelationId> ready_;  // queued, in arrival order
  ProcessorState proc_[2];
  InFlightLog in_flight_[2];
  int64_t reserved_[2] = {0, 0};  // routing: attempt being written, counts against the cap
  std::vector<store::Done> pending_done_;
  bool flush_scheduled_ = false;
  bool stopping_ = false;
  int64_t unknown_count_ = 0;
};

}  // namespace engine
