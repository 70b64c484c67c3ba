// Which processor gets a payment: pure logic over what we know of each processor, so that every
// rule is unit-tested without a network. The dispatcher feeds it observations; the janitor feeds
// it the shared health-check results.
//
// Rules (SPEC: default is cheaper; a payment left queued at the end is worth nothing):
//  1. A processor is unavailable while its circuit is open: after consecutive 500/429/refused
//     answers, or when a new shared health report says it is failing (unless live traffic
//     succeeded after that check). After open_for, one probe goes through (half-open); its
//     success closes the circuit. So recovery is seen as soon as a probe succeeds, without
//     waiting up to 5 s for the next health report.
//  2. Its expected latency is the worst of: the health check's minResponseTime, the recent
//     average of live answers, and the age of the oldest request still unanswered (so a
//     processor that just turned slow is noticed before any slow answer arrives).
//  3. Default if available and expected latency <= max_latency; else fallback on the same terms;
//     else whichever available one is faster; else hold (the payment stays queued).
// Slower than max_latency matters twice: the consistency check looks at [now-15 s, now-2 s], so a
// payment must be recorded within about 2 s of its requestedAt; and at the end of the test every
// payment still in flight counts as lag.
#pragma once
#include <chrono>
#include <cstdint>

namespace engine {

using SteadyClock = std::chrono::steady_clock;
using ms = std::chrono::milliseconds;

enum Processor : uint8_t { kDefault = 0, kFallback = 1 };
inline const char* processor_name(Processor p) { return p == kDefault ? "default" : "fallback"; }

struct RoutingPolicy {
  ms max_latency{1500};
  int open_after_errors = 3;  // consecutive errors that open the circuit
  ms open_for{1000};          // then one probe is let through (half-open)
  ms health_fresh_for{12000};  // a health result older than this is ignored
};

// What one dispatcher knows about one processor. Mutated only on the dispatcher's loop thread.
struct ProcessorState {
  // From the shared health check.
  bool health_known = false;
  bool health_failing = false;
  int64_t health_min_response_ms = 0;
  SteadyClock::time_point health_at{};  // when the reported check was made
  // From live traffic.
  SteadyClock::time_point last_success{};
  double latency_ewma_ms = 0;
  int consecutive_errors = 0;
  bool tripped = false;                  // circuit not closed: open until open_until, then half-open
  SteadyClock::time_point open_until{};
  bool probe_in_flight = false;          // half-open: one request tests the water
  SteadyClock::time_point oldest_in_flight{};  // time_point{} when nothing is in flight
  int64_t in_flight = 0;
};

enum class Reason : uint8_t {
  default_ok,          // default available and fast enough
  default_unavailable, // fallback because default is failing / circuit open
  default_slow,        // fallback because default is slower than max_latency
  both_slow,           // both slow: the faster one
  only_default,        // fallback unavailable, default slow: default anyway
  hold,                // neither available: keep it queued
  avoid_last,          // the payment's last processor timed out on it and proved it holds nothing
};
inline constexpr int kReasonCount = 7;
const char* reason_name(Reason r);

struct Decision {
  bool send = false;
  Processor processor = kDefault;
  Reason reason = Reason::hold;
};

bool available(const ProcessorState& s, const RoutingPolicy& p, SteadyClock::time_point now);
double expected_latency_ms(const ProcessorState& s, const RoutingPolicy& p, SteadyClock::time_point now);
Decision route(const ProcessorState& def, const ProcessorState& fb, const RoutingPolicy& p,
               SteadyClock::time_point now);

// Observations. A "definitive failure" is 500/429 or a refused connection: not processed there.
void on_success(ProcessorState& s, double latency_ms, SteadyClock::time_point now);
void on_failure(ProcessorState& s, const RoutingPolicy& p, SteadyClock::time_point now);
// A health report made at `checked_at` (the same report may be passed again: only news counts).
void on_health(ProcessorState& s, const RoutingPolicy& p, bool failing, int64_t min_response_ms,
               SteadyClock::time_point checked_at, SteadyClock::time_point now);

// The circuit state for metrics: 0 closed, 1 open, 2 half-open.
int circuit_state(const ProcessorState& s, SteadyClock::time_point now);

}  // namespace engine
