#include "engine/metrics.h"

#include <fmt/format.h>

#include <iterator>

namespace engine {
namespace {

constexpr const char* kRouteNames[kRouteCount] = {"post_payments", "get_payments_summary", "purge_payments",
                                                  "metrics", "health", "other"};
constexpr const char* kOutcomeNames[kOutcomeCount] = {"ok", "duplicate", "failed", "rejected", "unknown",
                                                      "unexpected", "expired"};
constexpr const char* kClass[3] = {"2xx", "4xx", "5xx"};

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

void Histogram::observe_us(int64_t us) {
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
  auto latency_us = std::chrono::duration_cast<std::chrono::microseconds>(SteadyClock::now() - arrived).count();
  auto& m = metrics();
  int cls = status < 400 ? 0 : status < 500 ? 1 : 2;
  m.requests[r][cls].fetch_add(1, std::memory_order_relaxed);
  m.latency[r].observe_us(latency_us);
}

std::string Metrics::render() const {
  fmt::memory_buffer out;
  auto o = std::back_inserter(out);
  header(out, "http_requests_total", "counter", "Requests answered, by route and status class.");
  for (int r = 0; r < kRouteCount; ++r)
    for (int c = 0; c < 3; ++c)
      fmt::format_to(o, "http_requests_total{{route=\"{}\",code=\"{}\"}} {}\n", kRouteNames[r], kClass[c],
                     get(requests[r][c]));
  header(out, "http_request_duration_seconds", "histogram", "Time from request parsed to response queued.");
  for (int r = 0; r < kRouteCount; ++r)
    histogram(out, "http_request_duration_seconds", fmt::format("route=\"{}\",", kRouteNames[r]), latency[r]);
  header(out, "payments_ingress_batches_total", "counter", "Group commits of accepted payments.");
  fmt::format_to(o, "payments_ingress_batches_total {}\n", get(ingress_batches));
  header(out, "payments_ingress_backlog", "gauge", "Payments waiting for the next group commit.");
  fmt::format_to(o, "payments_ingress_backlog {}\n", get(ingress_backlog));

  header(out, "payments_routed_total", "counter", "Routing decisions, by processor and reason.");
  for (int p = 0; p < 2; ++p)
    for (int r = 0; r < kReasonCount; ++r)
      if (r != static_cast<int>(Reason::hold))
        fmt::format_to(o, "payments_routed_total{{processor=\"{}\",reason=\"{}\"}} {}\n",
                       processor_name(static_cast<Processor>(p)), reason_name(static_cast<Reason>(r)), get(routed[p][r]));
  header(out, "payments_held_total", "counter", "Routing rounds where neither processor was available.");
  fmt::format_to(o, "payments_held_total {}\n", get(holds));
  header(out, "processor_results_total", "counter", "Answers from the processors, by outcome.");
  for (int p = 0; p < 2; ++p)
    for (int k = 0; k < kOutcomeCount; ++k)
      fmt::format_to(o, "processor_results_total{{processor=\"{}\",outcome=\"{}\"}} {}\n",
                     processor_name(static_cast<Processor>(p)), kOutcomeNames[k], get(results[p][k]));
  header(out, "processor_request_duration_seconds", "histogram", "Processor answer latency.");
  for (int p = 0; p < 2; ++p)
    histogram(out, "processor_request_duration_seconds",
              fmt::format("processor=\"{}\",", processor_name(static_cast<Processor>(p))), processor_latency[p]);
  struct Gauge {
    const char* name;
    const char* help;
    const std::atomic<int64_t>* per_processor;
  };
  for (const Gauge& g : {Gauge{"processor_in_flight", "Requests in flight to the processor.", in_flight},
                         Gauge{"processor_circuit_state", "0 closed, 1 open, 2 half-open.", circuit},
                         Gauge{"processor_health_failing", "Last shared health check said failing.", health_failing},
                         Gauge{"processor_health_min_response_ms", "Last shared health check's minResponseTime.",
                               health_min_response_ms},
                         Gauge{"processor_latency_ewma_ms", "Recent average answer latency.", latency_ewma_ms}}) {
    header(out, g.name, "gauge", g.help);
    for (int p = 0; p < 2; ++p)
      fmt::format_to(o, "{}{{processor=\"{}\"}} {}\n", g.name, processor_name(static_cast<Processor>(p)),
                     get(g.per_processor[p]));
  }
  struct Scalar {
    const char* name;
    const char* type;
    const char* help;
    int64_t value;
  };
  for (const Scalar& s : {
           Scalar{"payments_owned", "gauge", "Payments this instance is processing.", get(owned)},
           Scalar{"payments_unknown", "gauge", "Payments whose last send has an unknown outcome.", get(unknown)},
           Scalar{"payments_held", "gauge", "Payments waiting for an available processor.", get(held)},
           Scalar{"payments_queue_depth", "gauge", "Messages in the durable queue (all instances).", get(queue_depth)},
           Scalar{"payments_queue_oldest_ms", "gauge", "Age of the oldest queued message.", get(oldest_queued_ms)},
           Scalar{"payments_dead_letters", "gauge", "Dead-lettered messages (should stay 0).", get(dead_letters)},
           Scalar{"payments_adopted_total", "counter", "Payments taken over after a lease expired.",
                  static_cast<int64_t>(get(adopted))},
           Scalar{"payments_processed_total", "counter", "Payments recorded in processed_payments.",
                  static_cast<int64_t>(get(processed))},
           Scalar{"payments_lost_leases_total", "counter", "Writes that found a payment taken over by another holder.",
                  static_cast<int64_t>(get(lost_leases))},
           Scalar{"payments_recorded_twice_total", "counter", "Payments found recorded while still ours (must stay 0).",
                  static_cast<int64_t>(get(recorded_twice))},
           Scalar{"payments_withdrawn_total", "counter", "In-doubt accepts withdrawn after their client got a 503.",
                  static_cast<int64_t>(get(withdrawn))},
           Scalar{"payments_withdraw_missed_total", "counter", "In-doubt accepts taken over before they could be withdrawn.",
                  static_cast<int64_t>(get(withdraw_missed))},
           Scalar{"db_errors_total", "counter", "Statements not answered ok (down, in doubt, refused).",
                  static_cast<int64_t>(get(db_errors))},
           Scalar{"db_reconnects_total", "counter", "Database reconnections of the dispatcher.", get(db_reconnects)},
           Scalar{"db_connections", "gauge", "Open database connections.", get(db_connections)},
           Scalar{"db_connections_busy", "gauge", "Database connections running a statement.", get(db_busy)},
           Scalar{"db_recorder_backlog", "gauge", "Writes queued for the dispatcher's connection.",
                  get(recorder_backlog)},
           Scalar{"http_open_connections", "gauge", "HTTP connections open on this instance.",
                  http_open_connections ? http_open_connections() : 0},
       }) {
    header(out, s.name, s.type, s.help);
    fmt::format_to(o, "{} {}\n", s.name, s.value);
  }
  return fmt::to_string(out);
}

}  // namespace engine
