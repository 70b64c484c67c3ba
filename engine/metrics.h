// Counters and gauges for GET /metrics (Prometheus text format 0.0.4, checked with
// `promtool check metrics` in the tests). Relaxed atomics written by the thread that owns each
// fact, summed only at scrape time: no lock on any hot path. Base units throughout: times are
// exposed in seconds (kept here in ms or us), money in cents.
#pragma once
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

#include "engine/router.h"

namespace engine {

struct Histogram {
  // Fine below 2 ms, where a payment's time is spent and where the p99 target lies.
  static constexpr double kBoundsMs[] = {0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6, 0.8, 1,   1.25, 1.5,
                                         2,    3,   5,    10,  25,   50,  100, 250, 500, 1000, 2500, 5000};
  static constexpr int kBuckets = sizeof(kBoundsMs) / sizeof(kBoundsMs[0]);
  std::atomic<uint64_t> le[kBuckets + 1] = {};  // non-cumulative here; the last is +Inf
  std::atomic<uint64_t> count{0};
  std::atomic<uint64_t> sum_us{0};
  // Any integer duration (nanoseconds and coarser convert implicitly); a negative one counts as 0.
  void observe(std::chrono::nanoseconds d);
};

enum Route : uint8_t { kPostPayments, kGetSummary, kGetPayment, kPurge, kReconcile, kMetrics, kHealth, kOther, kRouteCount };
enum Outcome : uint8_t { kOk, kDuplicate, kFailed, kRejected, kUnknown, kUnexpected, kExpired, kOutcomeCount };

// The HTTP status codes the engine answers with, counted by their real code.
inline constexpr int kStatusCodes[] = {200, 202, 400, 401, 404, 405, 409, 413, 415, 417, 422, 500, 502, 503};
inline constexpr int kStatusCount = sizeof(kStatusCodes) / sizeof(kStatusCodes[0]);

struct Metrics {
  // HTTP, per route and status code (the last slot counts any other code).
  std::atomic<uint64_t> requests[kRouteCount][kStatusCount + 1] = {};
  Histogram latency[kRouteCount];
  std::atomic<uint64_t> ingress_batches{0};
  std::atomic<int64_t> ingress_backlog{0};
  // Where a POST's time goes: waiting for its batch to be sent (a free connection), the
  // statement (execution, commit and fsync, round trip), then until every answer of the batch is
  // queued. Their sum, with parsing, is the POST's http_request_duration_seconds. Before them, and
  // not in that sum: from the kernel's receipt of the request to its parsing (kSocket), the wait
  // for the HTTP loop to read it.
  enum IngressPhase { kQueued, kCommit, kAnswered, kSocket, kIngressPhases };
  Histogram ingress_phase[kIngressPhases];

  // Routing and the processors.
  std::atomic<uint64_t> routed[2][kReasonCount] = {};
  std::atomic<uint64_t> holds{0};
  std::atomic<uint64_t> results[2][kOutcomeCount] = {};
  std::atomic<int64_t> in_flight[2] = {};
  std::atomic<int64_t> circuit[2] = {};  // 0 closed, 1 open, 2 half-open
  std::atomic<int64_t> health_failing[2] = {};
  std::atomic<int64_t> health_min_response_ms[2] = {};
  std::atomic<int64_t> latency_ewma_ms[2] = {};
  Histogram processor_latency[2];

  // Payments this instance holds, by state, and the durable queue.
  std::atomic<int64_t> owned{0}, unknown{0}, waiting{0};
  std::atomic<int64_t> queue_depth{0}, oldest_queued_ms{0}, dead_letters{0};
  std::atomic<uint64_t> adopted{0}, processed{0};
  std::atomic<uint64_t> lost_leases{0};      // writes that found a payment's lease taken by another holder
  std::atomic<uint64_t> recorded_twice{0};   // must stay 0
  std::atomic<uint64_t> withdrawn{0};        // in-doubt accepts withdrawn after their client got a 503
  std::atomic<uint64_t> withdraw_missed{0};  // ... that could not be withdrawn any more (taken over first)
  std::atomic<int64_t> recorder_backlog{0};

  // Reconciliation with the processors' own books (the last closed window checked).
  std::atomic<int64_t> reconcile_diff_requests[2] = {}, reconcile_diff_cents[2] = {};
  std::atomic<int64_t> reconcile_window_end_ms{0};

  // Database.
  std::atomic<int64_t> db_connections{0}, db_reconnects{0};
  std::atomic<uint64_t> db_errors{0};  // statements not answered ok (down, in doubt, refused)

  // Open HTTP connections, asked of the server at scrape time (set before it starts, cleared
  // after it stops, so only its own loop threads ever call it).
  std::function<int64_t()> http_open_connections;

  std::string render() const;
};

Metrics& metrics();

// Counts an answered request; its latency runs from `arrived` to now.
void count_request(Route r, int status, SteadyClock::time_point arrived);

}  // namespace engine
