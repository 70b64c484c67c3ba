// Reconciliation: do our books match the processors'? For each processor, our processed_payments
// over a window against the processor's own GET /admin/payments-summary for the same window
// (count and cents, by requestedAt, bounds inclusive).
//  - Periodically (RECONCILE_INTERVAL_MS), one instance at a time (it claims the job through
//    PostgreSQL, like the health check), over a closed past window ending RECONCILE_DELAY_MS ago,
//    when every payment of it has long been settled. The result is stored (sql/005) so that every
//    instance exposes the difference in /metrics; a difference is also logged.
//  - On demand: GET /admin/reconciliation?from&to (admin token), both sides and the difference.
// Runs on the dispatcher's loop, with its connection and its HTTP client.
#pragma once
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "engine/config.h"
#include "engine/router.h"
#include "net/http_client.h"
#include "net/http_server.h"
#include "net/pg_client.h"

namespace engine {

struct Books {
  int64_t requests = 0;
  int64_t cents = 0;
};

// A processor's admin summary ({"totalRequests":N,"totalAmount":X.YY,...}), exactly; nullopt if
// it is not one.
std::optional<Books> parse_processor_summary(std::string_view body);

// {"from":...,"to":...,"default":{"ours":{"totalRequests","totalAmount"},"processor":{...},
//  "difference":{...}},"fallback":{...}}; difference = ours - processor; from/to null if open.
std::string reconciliation_json(std::optional<int64_t> from_ms, std::optional<int64_t> to_ms, const Books ours[2],
                                const Books theirs[2]);

class Reconciler {
 public:
  // `endpoints` is the dispatcher's pair, which it may update (a processor's new address).
  Reconciler(const Config& cfg, net::EventLoop& loop, net::PgConn& db, net::HttpClient& client,
             const net::Endpoint* endpoints);
  void tick();  // loop thread: the periodic job and the gauges
  void on_demand(std::optional<int64_t> from_ms, std::optional<int64_t> to_ms, net::Responder r,
                 SteadyClock::time_point arrived);

 private:
  using Done = std::function<void(bool ok, std::string error, const Books* ours, const Books* theirs)>;
  void compare(int64_t from_ms, int64_t to_ms, Done done);
  void run_periodic();
  void read_gauges();

  const Config& cfg_;
  net::EventLoop& loop_;
  net::PgConn& db_;
  net::HttpClient& client_;
  const net::Endpoint* endpoints_;
  SteadyClock::time_point last_run_{}, last_gauges_{};
  bool running_ = false;
};

}  // namespace engine
