#include "engine/config.h"

#include <fmt/format.h>

#include <charconv>
#include <cstdlib>
#include <stdexcept>

namespace engine {
namespace {

std::string env_str(const char* name, const std::string& def, bool required) {
  const char* v = std::getenv(name);
  if (v && *v) return v;
  if (required) throw std::invalid_argument(fmt::format("{} must be set", name));
  return def;
}

int64_t env_int(const char* name, int64_t def, int64_t lo, int64_t hi) {
  const char* v = std::getenv(name);
  if (!v || !*v) return def;
  int64_t out = 0;
  std::string_view s(v);
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  if (ec != std::errc{} || p != s.data() + s.size() || out < lo || out > hi)
    throw std::invalid_argument(fmt::format("{}='{}' must be an integer in [{}, {}]", name, s, lo, hi));
  return out;
}

std::chrono::milliseconds env_ms(const char* name, std::chrono::milliseconds def, int64_t lo, int64_t hi) {
  return std::chrono::milliseconds(env_int(name, def.count(), lo, hi));
}

void require_http_url(const char* name, const std::string& url) {
  if (url.rfind("http://", 0) != 0 || url.size() <= 7)
    throw std::invalid_argument(fmt::format("{}='{}' must be an http:// URL", name, url));
}

}  // namespace

Config Config::from_env() {
  Config c;
  c.listen_addr = env_str("LISTEN_ADDR", c.listen_addr, false);
  c.handoff_socket = env_str("HANDOFF_SOCKET", "", false);
  c.database_url = env_str("DATABASE_URL", "", true);
  c.processor_url[0] = env_str("PAYMENT_PROCESSOR_URL_DEFAULT", "", true);
  c.processor_url[1] = env_str("PAYMENT_PROCESSOR_URL_FALLBACK", "", true);
  require_http_url("PAYMENT_PROCESSOR_URL_DEFAULT", c.processor_url[0]);
  require_http_url("PAYMENT_PROCESSOR_URL_FALLBACK", c.processor_url[1]);
  c.admin_token = env_str("ADMIN_TOKEN", "", true);
  c.processor_token = env_str("PROCESSOR_ADMIN_TOKEN", c.processor_token, false);
  c.instance_id = static_cast<int>(env_int("INSTANCE_ID", c.instance_id, 1, 1000));

  c.http_threads = static_cast<int>(env_int("HTTP_THREADS", c.http_threads, 1, 64));
  c.http_max_connections =
      static_cast<size_t>(env_int("HTTP_MAX_CONNECTIONS", static_cast<int64_t>(c.http_max_connections), 1, 1000000));
  c.http_receive_times = env_int("HTTP_RECEIVE_TIMES", c.http_receive_times, 0, 1) == 1;
  c.ingress_batch_max = static_cast<int>(env_int("INGRESS_BATCH_MAX", c.ingress_batch_max, 1, 10000));
  c.ingress_db_connections = static_cast<int>(env_int("INGRESS_DB_CONNECTIONS", c.ingress_db_connections, 1, 16));
  c.ingress_commit_timeout = env_ms("INGRESS_COMMIT_TIMEOUT_MS", c.ingress_commit_timeout, 10, 60000);
  c.ingress_lookup_timeout = env_ms("INGRESS_LOOKUP_TIMEOUT_MS", c.ingress_lookup_timeout, 10, 60000);
  c.summary_wait = env_ms("SUMMARY_WAIT_MS", c.summary_wait, 0, 10000);
  c.summary_timeout = env_ms("SUMMARY_TIMEOUT_MS", c.summary_timeout, 10, 60000);
  c.shutdown_grace = env_ms("SHUTDOWN_GRACE_MS", c.shutdown_grace, 0, 60000);

  c.db_connect_timeout = env_ms("DB_CONNECT_TIMEOUT_MS", c.db_connect_timeout, 100, 60000);
  c.db_statement_timeout = env_ms("DB_STATEMENT_TIMEOUT_MS", c.db_statement_timeout, 100, 600000);

  c.dispatcher_max_payments = static_cast<int>(env_int("DISPATCHER_MAX_PAYMENTS", c.dispatcher_max_payments, 10, 1000000));
  c.processor_max_conns = static_cast<int>(env_int("PROCESSOR_MAX_CONNECTIONS", c.processor_max_conns, 1, 20000));
  c.processor_max_in_flight = static_cast<int>(env_int("PROCESSOR_MAX_IN_FLIGHT", c.processor_max_in_flight, 1, 20000));
  c.lease = env_ms("LEASE_MS", c.lease, 1000, 3600000);
  c.request_timeout = env_ms("PROCESSOR_TIMEOUT_MS", c.request_timeout, 50, 600000);
  c.processor_max_delay = env_ms("PROCESSOR_MAX_DELAY_MS", c.processor_max_delay, 0, 600000);
  c.max_latency = env_ms("MAX_LATENCY_MS", c.max_latency, 1, 600000);
  c.unknown_horizon = env_ms("UNKNOWN_HORIZON_MS", c.unknown_horizon, 100, 3600000);
  c.health_interval = env_ms("HEALTH_CHECK_INTERVAL_MS", c.health_interval, 100, 600000);
  c.tick = env_ms("JANITOR_TICK_MS", c.tick, 10, 60000);
  c.recorder_gather = env_ms("RECORDER_GATHER_MS", c.recorder_gather, 0, 1000);
  c.reconcile_interval = env_ms("RECONCILE_INTERVAL_MS", c.reconcile_interval, 0, 86400000);
  c.reconcile_delay = env_ms("RECONCILE_DELAY_MS", c.reconcile_delay, 0, 86400000);
  // The idempotency window (today and yesterday) must still be there to check.
  c.retention_days = static_cast<int>(env_int("RETENTION_DAYS", c.retention_days, 2, 36500));
  c.partitions_ahead_days = static_cast<int>(env_int("PARTITIONS_AHEAD_DAYS", c.partitions_ahead_days, 1, 365));
  c.validate();
  return c;
}

void Config::validate() const {
  // A payment may still be settled (its unknown outcome resolved) up to the horizon after its
  // last send: a window reconciled sooner would report differences that are only in transit.
  if (reconcile_interval.count() > 0 && reconcile_delay <= unknown_horizon)
    throw std::invalid_argument("RECONCILE_DELAY_MS must exceed UNKNOWN_HORIZON_MS (the window must be settled)");
  if (summary_timeout <= summary_wait)
    throw std::invalid_argument("SUMMARY_TIMEOUT_MS must exceed SUMMARY_WAIT_MS (the summary itself runs after the wait)");
  if (lease <= tick * 4)
    throw std::invalid_argument("LEASE_MS must exceed 4 x JANITOR_TICK_MS (leases are renewed each tick)");
  // A send with an unknown outcome may sit at the processor until our timeout and then sleep its
  // delay before storing the payment: only after both can its 404 prove anything.
  if (unknown_horizon <= request_timeout + processor_max_delay)
    throw std::invalid_argument(fmt::format(
        "UNKNOWN_HORIZON_MS ({}) must exceed PROCESSOR_TIMEOUT_MS ({}) + PROCESSOR_MAX_DELAY_MS ({}): a lookup"
        " sooner could miss a send still sleeping at the processor and pay twice",
        unknown_horizon.count(), request_timeout.count(), processor_max_delay.count()));
}

}  // namespace engine
