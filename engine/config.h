// Every setting of the engine, read from the environment in one place and validated at start-up.
#pragma once
#include <chrono>
#include <cstdint>
#include <string>

#include "net/http_server.h"

namespace engine {

struct Config {
  std::string listen_addr = "0.0.0.0:8080";  // LISTEN_ADDR: host:port or unix:/path
  std::string database_url;                  // DATABASE_URL (libpq conninfo or URI), required
  std::string processor_url[2];              // PAYMENT_PROCESSOR_URL_DEFAULT / _FALLBACK, required
  std::string admin_token;                   // ADMIN_TOKEN for POST /purge-payments, required
  std::string processor_token = "123";       // PROCESSOR_ADMIN_TOKEN: X-Rinha-Token for the processors
  int instance_id = 1;                       // INSTANCE_ID: names this instance in logs and health claims

  int http_threads = 1;            // HTTP_THREADS: ingress event-loop threads
  // HTTP_MAX_CONNECTIONS: open client connections; more are closed. The server's own default.
  size_t http_max_connections = net::HttpServer::Options{}.max_connections;
  int ingress_batch_max = 256;     // INGRESS_BATCH_MAX: payments per group commit
  int processor_max_conns = 1024;  // PROCESSOR_MAX_CONNECTIONS per processor (thousands may be in flight)

  std::chrono::milliseconds lease{10000};            // LEASE_MS: queue visibility while a payment is ours
  std::chrono::milliseconds request_timeout{10000};  // PROCESSOR_TIMEOUT_MS: then the outcome is unknown
  std::chrono::milliseconds max_latency{1500};       // MAX_LATENCY_MS: slower than this, prefer the other
  std::chrono::milliseconds unknown_horizon{20000};  // UNKNOWN_HORIZON_MS: a 404 after this is conclusive
  std::chrono::milliseconds tick{200};               // JANITOR_TICK_MS: health, leases, adoption
  std::chrono::milliseconds recorder_gather{5};      // RECORDER_GATHER_MS: batch the dispatcher's writes

  // Reads the environment; throws std::invalid_argument naming the variable on a bad or missing value.
  static Config from_env();
};

}  // namespace engine
