#include "engine/metrics.h"

#include <fmt/format.h>

#include <iterator>

namespace engine {
namespace {

constexpr const char* kRouteNames[kRouteCount] = {"post_payments", "get_payments_summary", "get_payment",
                                                  "purge_payments", "reconciliation", "metrics", "health", "other"};
constexpr const char* kOutcomeNames[kOutcomeCount] = {"ok", "duplicate", "failed", "rejected", "unknown",
                                                      "unexpected", "expired"};

int status_slot(int status) {
  for (int i = 0; i < kStatusCount; ++i)
    if (kStatusCodes[i] == status) return i;
  return kStatusCount;
}

uint64_t get(const std::atomic<uint64_t>& a) { return a.load(std::memory_order_relaxed); }
int64_t get(const std::atomic<int64_t>& a) { return a.load(std::memory_order_relaxed); }

void header(fmt::memory_buffer& out, const char* name, const char* type, const char* help) {
  fmt::format_to(std::back_inserter(out), "# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
}

void histogram(fmt::memory_buffer& out, const char* name, const std::string& labels, const Histogram& h) {
  uint64_t cum = 0;
  for (int i = 0; i < Histogram::kBuckets; ++i) {
    cum += get(h.le[i]);
    fmt::format_to(std::back_inserter(out), "{}_bucket{{{}le=\"{}\"}} {}\n", name, labels,
                   Histogram::kBoundsMs[i] / 1000.0, cum);
  }
  cum += get(h.le[Histogram::kBuckets]);
  fmt::format_to(std::back_inserter(out), "{}_bucket{{{}le=\"+Inf\"}} {}\n", name, labels, cum);
  // labels end with a comma (for the le= that follows above); _sum and _count take them without.
  std::string l = labels.empty() ? std::string() : fmt::format("{{{}}}", std::string_view(labels).substr(0, labels.size() - 1));
  fmt::format_to(std::back_inserter(out), "{}_sum{} {}\n{}_count{} {}\n", name, l, get(h.sum_us) / 1e6, name, l,
                 get(h.count));
}

}  // namespace

void Histogram::observe(std::chrono::nanoseconds d) {
  const int64_t us = std::chrono::duration_cast<std::chrono::microseconds>(d).count();
  double ms = us / 1000.0;
  int i = 0;
  while (i < kBuckets && ms > kBoundsMs[i]) ++i;
  le[i].fetch_add(1, std::memory_order_relaxed);
  count.fetch_add(1, std::memory_order_relaxed);
  sum_us.fetch_add(static_cast<uint64_t>(us < 0 ? 0 : us), std::memory_order_relaxed);
}

Metrics& metrics() {
  static Metrics m;
  return m;
}

void count_request(Route r, int status, SteadyClock::time_point arrived) {
  auto& m = metrics();
  m.requests[r][status_slot(status)].fetch_add(1, std::memory_order_relaxed);
  m.latency[r].observe(SteadyClock::now() - arrived);
}

std::string Metrics::render() const {
  fmt::memory_buffer out;
  auto o = std::back_inserter(out);
  header(out, "http_requests_total", "counter", "Requests answered, by route and status code (\"other\": any code not listed).");
  for (int r = 0; r < kRouteCount; ++r)
    for (int c = 0; c <= kStatusCount; ++c)
      if (uint64_t v = get(requests[r][c]); v || (c < kStatusCount && kStatusCodes[c] == 200))
        fmt::format_to(o, "http_requests_total{{route=\"{}\",code=\"{}\"}} {}\n", kRouteNames[r],
                       c < kStatusCount ? std::to_string(kStatusCodes[c]) : std::string("other"), v);
  header(out, "http_request_duration_seconds", "histogram", "Time from request parsed to response queued.");
  for (int r = 0; r < kRouteCount; ++r)
    histogram(out, "http_request_duration_seconds", fmt::format("route=\"{}\",", kRouteNames[r]), latency[r]);

  header(out, "payments_ingress_phase_seconds", "histogram",
         "A POST's time by phase: queued until its batch is sent, the commit statement, the answers;"
         " socket: from the kernel's receipt of the request to its parsing.");
  constexpr const char* kPhases[Metrics::kIngressPhases] = {"queued", "commit", "answered", "socket"};
  for (int p = 0; p < Metrics::kIngressPhases; ++p)
    histogram(out, "payments_ingress_phase_seconds", fmt::format("phase=\"{}\",", kPhases[p]), ingress_phase[p]);

  header(out, "payments_routed_total", "counter", "Routing decisions, by processor and reason.");
  for (int p = 0; p < 2; ++p)
    for (int r = 0; r < kReasonCount; ++r)
      if (r != static_cast<int>(Reason::hold))
        fmt::format_to(o, "payments_routed_total{{processor=\"{}\",reason=\"{}\"}} {}\n",
                       processor_name(static_cast<Processor>(p)), reason_name(static_cast<Reason>(r)), get(routed[p][r]));
  header(out, "processor_results_total", "counter", "Answers from the processors, by outcome.");
  for (int p = 0; p < 2; ++p)
    for (int k = 0; k < kOutcomeCount; ++k)
      fmt::format_to(o, "processor_results_total{{processor=\"{}\",outcome=\"{}\"}} {}\n",
                     processor_name(static_cast<Processor>(p)), kOutcomeNames[k], get(results[p][k]));
  header(out, "processor_request_duration_seconds", "histogram", "Processor answer latency.");
  for (int p = 0; p < 2; ++p)
    histogram(out, "processor_request_duration_seconds",
              fmt::format("processor=\"{}\",", processor_name(static_cast<Processor>(p))), processor_latency[p]);
  struct PerProcessor {
    const char* name;
    const char* help;
    const std::atomic<int64_t>* value;
    double scale;  // ms to seconds, or 1
  };
  for (const PerProcessor& g :
       {PerProcessor{"processor_in_flight", "Requests in flight to the processor.", in_flight, 1},
        PerProcessor{"processor_circuit_state", "Circuit breaker: 0 closed, 1 open, 2 half-open.", circuit, 1},
        PerProcessor{"processor_health_failing", "1 if the last shared health check said failing.", health_failing, 1},
        PerProcessor{"processor_health_min_response_seconds", "The last shared health check's minResponseTime.",
                     health_min_response_ms, 1e-3},
        PerProcessor{"processor_latency_ewma_seconds", "Recent average answer latency.", latency_ewma_ms, 1e-3},
        PerProcessor{"payments_reconciliation_difference_requests",
                     "Our processed payments minus the processor's own count, over the last closed window checked.",
                     reconcile_diff_requests, 1},
        PerProcessor{"payments_reconciliation_difference_cents",
                     "Our processed amount minus the processor's own, in cents, over the same window.",
                     reconcile_diff_cents, 1}}) {
    header(out, g.name, "gauge", g.help);
    for (int p = 0; p < 2; ++p)
      fmt::format_to(o, "{}{{processor=\"{}\"}} {}\n", g.name, processor_name(static_cast<Processor>(p)),
                     static_cast<double>(get(g.value[p])) * g.scale);
  }
  struct Scalar {
    const char* name;
    const char* type;
    const char* help;
    double value;
  };
  auto u = [](const std::atomic<uint64_t>& a) { return static_cast<double>(get(a)); };
  auto i = [](const std::atomic<int64_t>& a) { return static_cast<double>(get(a)); };
  for (const Scalar& s : {
           Scalar{"http_open_connections", "gauge", "HTTP connections open on this instance.",
                  http_open_connections ? static_cast<double>(http_open_connections()) : 0.0},
           Scalar{"payments_ingress_batches_total", "counter", "Group commits of accepted payments.", u(ingress_batches)},
           Scalar{"payments_ingress_backlog", "gauge", "Payments waiting for the next group commit.", i(ingress_backlog)},
           Scalar{"payments_held_total", "counter", "Routing rounds where neither processor was available.", u(holds)},
           Scalar{"payments_owned", "gauge", "Payments this instance is processing (memory is capped).", i(owned)},
           Scalar{"payments_unknown", "gauge", "Payments whose last send has an unknown outcome.", i(unknown)},
           Scalar{"payments_waiting", "gauge", "Payments held here waiting for a processor.", i(waiting)},
           Scalar{"payments_queue_depth", "gauge", "Messages in the durable queue (all instances).", i(queue_depth)},
           Scalar{"payments_queue_oldest_age_seconds", "gauge", "Age of the oldest queued message.",
                  i(oldest_queued_ms) / 1000.0},
           Scalar{"payments_dead_letters", "gauge", "Dead-lettered messages (should stay 0).", i(dead_letters)},
           Scalar{"payments_adopted_total", "counter", "Payments claimed from the queue (given back, or orphaned).",
                  u(adopted)},
           Scalar{"payments_processed_total", "counter", "Payments recorded in processed_payments.", u(processed)},
           Scalar{"payments_lost_leases_total", "counter", "Writes that found a payment taken over by another holder.",
                  u(lost_leases)},
           Scalar{"payments_recorded_twice_total", "counter", "Payments found recorded while still ours (must stay 0).",
                  u(recorded_twice)},
           Scalar{"payments_withdrawn_total", "counter", "In-doubt accepts withdrawn after their client got a 503.",
                  u(withdrawn)},
           Scalar{"payments_withdraw_missed_total", "counter",
                  "In-doubt accepts taken over before they could be withdrawn (must stay 0).", u(withdraw_missed)},
           Scalar{"payments_recorder_backlog", "gauge", "Writes queued for the dispatcher's connections.",
                  i(recorder_backlog)},
           Scalar{"payments_reconciliation_window_end_seconds", "gauge",
                  "End of the last window reconciled with the processors (Unix time).", i(reconcile_window_end_ms) / 1000.0},
           Scalar{"db_connections", "gauge", "Open database connections of the HTTP loops.", i(db_connections)},
           Scalar{"db_errors_total", "counter", "Statements not answered ok (down, in doubt, refused).", u(db_errors)},
           Scalar{"db_reconnects_total", "counter", "Database reconnections of the dispatcher.", i(db_reconnects)},
       }) {
    header(out, s.name, s.type, s.help);
    fmt::format_to(o, "{} {}\n", s.name, s.value);
  }
  return fmt::to_string(out);
}

}  // namespace engine
