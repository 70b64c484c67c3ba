#include "engine/http_api.h"

#include <fmt/format.h>

#include "engine/metrics.h"
#include "engine/timefmt.h"

namespace engine {
namespace {

void answer(net::Responder& r, Route route, int status, std::string body, SteadyClock::time_point arrived,
            std::string_view content_type = "application/json") {
  r.send(status, std::move(body), content_type);
  count_request(route, status, arrived);
}

// An optional ISO-8601 bound: absent or empty is unbounded; anything unparsable is an error.
bool parse_bound(const net::Request& req, std::string_view key, std::optional<int64_t>& out) {
  auto raw = req.query_param(key);
  if (raw.empty()) return true;
  auto v = parse_iso8601_ms(net::url_decode(raw));
  if (!v) return false;
  out = *v;
  return true;
}

}  // namespace

net::Handler make_http_handler(const Config& cfg, Ingress& ingress, SummaryService& summary, Dispatcher& dispatcher,
                               std::function<bool()> ready) {
  return [&cfg, &ingress, &summary, &dispatcher, ready = std::move(ready)](const net::Request& req, net::Responder r) {
    auto arrived = SteadyClock::now();
    if (req.path == "/payments") {
      if (req.method != "POST") return answer(r, kOther, 405, R"({"error":"use POST"})", arrived);
      if (req.received != SteadyClock::time_point{} && req.received <= arrived)
        metrics().ingress_phase[Metrics::kSocket].observe(arrived - req.received);
      auto parsed = parse_payment_request(req.header("Content-Type"), req.body);
      if (!parsed.ok) return answer(r, kPostPayments, parsed.status, std::move(parsed.error_json), arrived);
      return ingress.submit(parsed.payment, std::move(r), arrived);
    }
    if (req.path.rfind("/payments/", 0) == 0) {
      if (req.method != "GET" && req.method != "HEAD") return answer(r, kOther, 405, R"({"error":"use GET"})", arrived);
      CorrelationId cid{};
      if (!parse_uuid(req.path.substr(10), cid))
        return answer(r, kGetPayment, 400, R"({"error":"the path must end with a correlationId, a UUID","field":"correlationId"})",
                      arrived);
      return summary.status(std::string(to_view(cid)), std::move(r), arrived);
    }
    if (req.path == "/admin/reconciliation") {
      if (req.method != "GET") return answer(r, kOther, 405, R"({"error":"use GET"})", arrived);
      if (req.header("X-Rinha-Token") != cfg.admin_token)
        return answer(r, kReconcile, 401, R"({"error":"a valid X-Rinha-Token header is required"})", arrived);
      std::optional<int64_t> from, to;
      if (!parse_bound(req, "from", from) || !parse_bound(req, "to", to) || (from && to && *from > *to))
        return answer(r, kReconcile, 400, R"({"error":"from and to must be ISO-8601 UTC timestamps, from not after to"})",
                      arrived);
      return dispatcher.reconcile(from, to, std::move(r), arrived);
    }
    if (req.path == "/payments-summary") {
      if (req.method != "GET") return answer(r, kOther, 405, R"({"error":"use GET"})", arrived);
      std::optional<int64_t> from, to;
      if (!parse_bound(req, "from", from))
        return answer(r, kGetSummary, 400, R"({"error":"from must be an ISO-8601 UTC timestamp","field":"from"})", arrived);
      if (!parse_bound(req, "to", to))
        return answer(r, kGetSummary, 400, R"({"error":"to must be an ISO-8601 UTC timestamp","field":"to"})", arrived);
      if (from && to && *from > *to)
        return answer(r, kGetSummary, 400, R"({"error":"from must not be after to","field":"from"})", arrived);
      return summary.summary(from, to, std::move(r), arrived);
    }
    if (req.path == "/purge-payments") {
      if (req.method != "POST") return answer(r, kOther, 405, R"({"error":"use POST"})", arrived);
      if (req.header("X-Rinha-Token") != cfg.admin_token)
        return answer(r, kPurge, 401, R"({"error":"a valid X-Rinha-Token header is required"})", arrived);
      return summary.purge(std::move(r), arrived);
    }
    if (req.path == "/metrics" && req.method == "GET")
      return answer(r, kMetrics, 200, metrics().render(), arrived, "text/plain; version=0.0.4");
    // Load balancers and probes check health with HEAD as often as with GET.
    if (req.path == "/health" && (req.method == "GET" || req.method == "HEAD")) {
      if (ready()) return answer(r, kHealth, 200, R"({"status":"ok"})", arrived);
      return answer(r, kHealth, 503, R"({"status":"unavailable"})", arrived);
    }
    answer(r, kOther, 404, R"({"error":"not found"})", arrived);
  };
}

}  // namespace engine
