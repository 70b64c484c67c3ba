// Routing and circuit-breaking rules, as pure functions over processor state.
#include <doctest/doctest.h>

#include "engine/router.h"

using namespace engine;
using namespace std::chrono_literals;

namespace {
const auto t0 = SteadyClock::time_point{} + 1h;
RoutingPolicy policy() {
  RoutingPolicy p;
  p.max_latency = 1500ms;
  p.open_after_errors = 3;
  p.open_for = 1000ms;
  return p;
}
}  // namespace

TEST_CASE("healthy processors: default gets the payment") {
  ProcessorState d, f;
  auto r = route(d, f, policy(), t0);
  CHECK(r.send);
  CHECK(r.processor == kDefault);
  CHECK(r.reason == Reason::default_ok);
}

TEST_CASE("a default slower than max_latency sends to a fast fallback but a 1 s default is kept") {
  ProcessorState d, f;
  on_success(d, 1010, t0);
  CHECK(route(d, f, policy(), t0).processor == kDefault);  // stage t=30 of the final test
  ProcessorState slow;
  on_success(slow, 2000, t0);
  auto r = route(slow, f, policy(), t0);
  CHECK(r.processor == kFallback);
  CHECK(r.reason == Reason::default_slow);
}

TEST_CASE("the oldest unanswered request reveals a slow processor before any answer") {
  ProcessorState d, f;
  on_success(d, 5, t0);
  d.in_flight = 10;
  d.oldest_in_flight = t0;
  CHECK(route(d, f, policy(), t0 + 1400ms).processor == kDefault);
  CHECK(route(d, f, policy(), t0 + 1600ms).processor == kFallback);
}

TEST_CASE("the health check's minResponseTime counts while fresh") {
  ProcessorState d, f;
  on_health(d, policy(), false, 3000, t0, t0);
  CHECK(route(d, f, policy(), t0 + 1s).processor == kFallback);
  CHECK(route(d, f, policy(), t0 + 20s).processor == kDefault);  // stale: ignored
}

TEST_CASE("consecutive failures open the circuit then one probe is let through") {
  auto p = policy();
  ProcessorState d, f;
  on_failure(d, p, t0);
  on_failure(d, p, t0);
  CHECK(available(d, p, t0));  // two errors: still closed
  on_failure(d, p, t0);
  CHECK(circuit_state(d, t0) == 1);
  CHECK_FALSE(available(d, p, t0 + 500ms));
  auto r = route(d, f, p, t0 + 500ms);
  CHECK(r.processor == kFallback);
  CHECK(r.reason == Reason::default_unavailable);
  CHECK(circuit_state(d, t0 + 1001ms) == 2);
  CHECK(available(d, p, t0 + 1001ms));
  d.probe_in_flight = true;  // the dispatcher marks the probe it sends
  CHECK_FALSE(available(d, p, t0 + 1001ms));
  on_success(d, 3, t0 + 1010ms);
  CHECK(circuit_state(d, t0 + 1010ms) == 0);
  CHECK(available(d, p, t0 + 1010ms));
}

TEST_CASE("a failed probe re-opens the circuit") {
  auto p = policy();
  ProcessorState d;
  for (int i = 0; i < 3; ++i) on_failure(d, p, t0);
  on_failure(d, p, t0 + 1100ms);
  CHECK(circuit_state(d, t0 + 1500ms) == 1);
  CHECK(circuit_state(d, t0 + 2200ms) == 2);
}

TEST_CASE("a new failing health report opens the circuit unless traffic succeeded after it") {
  auto p = policy();
  ProcessorState d, e;
  on_health(d, p, true, 0, t0, t0);
  CHECK_FALSE(available(d, p, t0 + 10ms));
  // The same report read again later is no news: the circuit half-opens on schedule.
  on_health(d, p, true, 0, t0, t0 + 1100ms);
  CHECK(available(d, p, t0 + 1100ms));
  on_success(e, 5, t0 + 10ms);
  on_health(e, p, true, 0, t0, t0 + 20ms);  // checked before our success: outdated
  CHECK(available(e, p, t0 + 20ms));
}

TEST_CASE("a healthy report lets a probe through at once") {
  auto p = policy();
  ProcessorState d;
  for (int i = 0; i < 3; ++i) on_failure(d, p, t0);
  CHECK_FALSE(available(d, p, t0 + 100ms));
  on_health(d, p, false, 0, t0 + 100ms, t0 + 100ms);
  CHECK(available(d, p, t0 + 100ms));
}

TEST_CASE("both unavailable holds and both slow picks the faster") {
  auto p = policy();
  ProcessorState d, f;
  for (int i = 0; i < 3; ++i) {
    on_failure(d, p, t0);
    on_failure(f, p, t0);
  }
  auto r = route(d, f, p, t0 + 10ms);
  CHECK_FALSE(r.send);
  CHECK(r.reason == Reason::hold);
  ProcessorState sd, sf;
  on_success(sd, 5000, t0);
  on_success(sf, 2000, t0);
  r = route(sd, sf, p, t0);
  CHECK(r.processor == kFallback);
  CHECK(r.reason == Reason::both_slow);
}

TEST_CASE("a processor left for being slow comes back when its health report says it is fast") {
  auto p = policy();
  ProcessorState d, f;
  on_success(d, 2000, t0);
  CHECK(route(d, f, p, t0).processor == kFallback);
  on_health(d, p, false, 0, t0 + 5s, t0 + 5s);
  CHECK(route(d, f, p, t0 + 5s).processor == kDefault);
}
