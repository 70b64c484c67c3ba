#include "engine/router.h"

#include <algorithm>

namespace engine {

const char* reason_name(Reason r) {
  switch (r) {
    case Reason::default_ok: return "default_ok";
    case Reason::default_unavailable: return "default_unavailable";
    case Reason::default_slow: return "default_slow";
    case Reason::both_slow: return "both_slow";
    case Reason::only_default: return "only_default";
    case Reason::hold: return "hold";
    case Reason::avoid_last: return "avoid_last";
  }
  return "?";
}

int circuit_state(const ProcessorState& s, SteadyClock::time_point now) {
  if (!s.tripped) return 0;
  return now < s.open_until ? 1 : 2;
}

bool available(const ProcessorState& s, const RoutingPolicy&, SteadyClock::time_point now) {
  switch (circuit_state(s, now)) {
    case 1: return false;
    case 2: return !s.probe_in_flight;
    default: return true;
  }
}

double expected_latency_ms(const ProcessorState& s, const RoutingPolicy& p, SteadyClock::time_point now) {
  double e = s.latency_ewma_ms;
  if (s.health_known && now - s.health_at < p.health_fresh_for)
    e = std::max(e, static_cast<double>(s.health_min_response_ms));
  if (s.in_flight > 0 && s.oldest_in_flight != SteadyClock::time_point{})
    e = std::max(e, std::chrono::duration<double, std::milli>(now - s.oldest_in_flight).count());
  return e;
}

Decision route(const ProcessorState& def, const ProcessorState& fb, const RoutingPolicy& p,
               SteadyClock::time_point now) {
  const double limit = static_cast<double>(p.max_latency.count());
  const bool d_ok = available(def, p, now), f_ok = available(fb, p, now);
  const double d_lat = expected_latency_ms(def, p, now), f_lat = expected_latency_ms(fb, p, now);
  if (d_ok && d_lat <= limit) return {true, kDefault, Reason::default_ok};
  if (f_ok && f_lat <= limit) return {true, kFallback, d_ok ? Reason::default_slow : Reason::default_unavailable};
  if (d_ok && f_ok) return f_lat < d_lat ? Decision{true, kFallback, Reason::both_slow} : Decision{true, kDefault, Reason::both_slow};
  if (d_ok) return {true, kDefault, Reason::only_default};
  if (f_ok) return {true, kFallback, Reason::default_unavailable};
  return {false, kDefault, Reason::hold};
}

void on_success(ProcessorState& s, double latency_ms, SteadyClock::time_point now) {
  s.last_success = now;
  // An EWMA over roughly the last 10 answers: quick to follow a stage change, not jumpy.
  s.latency_ewma_ms = s.latency_ewma_ms == 0 ? latency_ms : 0.9 * s.latency_ewma_ms + 0.1 * latency_ms;
  s.consecutive_errors = 0;
  s.tripped = false;
  s.probe_in_flight = false;
}

void on_failure(ProcessorState& s, const RoutingPolicy& p, SteadyClock::time_point now) {
  ++s.consecutive_errors;
  s.probe_in_flight = false;
  if (s.consecutive_errors >= p.open_after_errors) {
    s.tripped = true;  // a failed half-open probe re-opens it for another open_for
    s.open_until = now + p.open_for;
  }
}

void on_health(ProcessorState& s, const RoutingPolicy& p, bool failing, int64_t min_response_ms,
               SteadyClock::time_point checked_at, SteadyClock::time_point now) {
  // The same report comes back every read (its age grows): only a newer check is news.
  bool news = !s.health_known || checked_at - s.health_at > std::chrono::milliseconds(100);
  s.health_known = true;
  s.health_failing = failing;
  s.health_min_response_ms = min_response_ms;
  if (!news) return;
  s.health_at = checked_at;
  // A processor we stopped using for being slow gets no answers to update its average: a
  // healthy report that it is faster now is the news that brings it back.
  if (!failing) s.latency_ewma_ms = std::min(s.latency_ewma_ms, static_cast<double>(min_response_ms));
  if (failing && checked_at > s.last_success) {
    s.tripped = true;
    s.open_until = std::max(s.open_until, now + p.open_for);
  } else if (!failing && s.tripped) {
    s.open_until = std::min(s.open_until, now);  // healthy: let a probe through at once
  }
}

}  // namespace engine
