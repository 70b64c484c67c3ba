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
  c.ingress_batch_max = static_cast<int>(env_int("INGRESS_BATCH_MAX", c.ingress_batch_max, 1, 10000));
  c.processor_max_conns = static_cast<int>(env_int("PROCESSOR_MAX_CONNECTIONS", c.processor_max_conns, 1, 20000));
  c.lease = env_ms("LEASE_MS", c.lease, 1000, 3600000);
  c.request_timeout = env_ms("PROCESSOR_TIMEOUT_MS", c.request_timeout, 50, 600000);
  c.max_latency = env_ms("MAX_LATENCY_MS", c.max_latency, 1, 600000);
  c.unknown_horizon = env_ms("UNKNOWN_HORIZON_MS", c.unknown_horizon, 100, 3600000);
  c.tick = env_ms("JANITOR_TICK_MS", c.tick, 10, 60000);
  c.recorder_gather = env_ms("RECORDER_GATHER_MS", c.recorder_gather, 0, 1000);
  if (c.lease <= c.tick * 4) throw std::invalid_argument("LEASE_MS must exceed 4 x JANITOR_TICK_MS (leases are renewed each tick)");
  return c;
}

}  // namespace engine
