// Every setting of the engine, read from the environment in one place and validated at start-up.
#pragma once
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <string>

#include "net/http_server.h"

namespace engine {

// A retry's wait: `first`, doubled per try, never more than `max`.
struct Backoff {
  std::chrono::milliseconds first, max;
  constexpr std::chrono::milliseconds after(int tries) const {
    return std::min(std::chrono::milliseconds(first.count() << std::clamp(tries, 0, 8)), max);
  }
};

struct Config {
  std::string listen_addr = "0.0.0.0:8080";  // LISTEN_ADDR: host:port or unix:/path
  std::string handoff_socket;                // HANDOFF_SOCKET: unix path where conn_balancer hands clients over
  std::string database_url;                  // DATABASE_URL (libpq conninfo or URI), required
  std::string processor_url[2];              // PAYMENT_PROCESSOR_URL_DEFAULT / _FALLBACK, required
  std::string admin_token;                   // ADMIN_TOKEN for POST /purge-payments, required
  std::string processor_token = "123";       // PROCESSOR_ADMIN_TOKEN: X-Rinha-Token for the processors
  int instance_id = 1;                       // INSTANCE_ID: names this instance in logs and health claims

  // Ingress.
  int http_threads = 1;                                // HTTP_THREADS: ingress event-loop threads
  // HTTP_MAX_CONNECTIONS: open client connections; more are closed. The server's own default.
  size_t http_max_connections = net::HttpServer::Options{}.max_connections;
  // HTTP_RECEIVE_TIMES (1/0): the kernel stamps each request's arrival, so that the wait before the
  // loop reads it is measured (the POST phase "socket"). 0 spares the stamping of every packet.
  bool http_receive_times = true;
  int ingress_batch_max = 256;                         // INGRESS_BATCH_MAX: payments per group commit
  // INGRESS_DB_CONNECTIONS per HTTP thread: batches in flight. One: a batch sent during a commit
  // waited in PostgreSQL behind that commit's WAL flush; held here, it waits a little longer, and
  // the commits got faster by more (final preset, alternated with 2: commit p99 1.40-1.82 against
  // 1.80-2.25 ms, queued p99 +0.1-0.3 ms, POST p99 lower in 6 of 7 pairs; bench/README.md,
  // "one ingress connection").
  int ingress_db_connections = 1;
  std::chrono::milliseconds ingress_commit_timeout{800};  // INGRESS_COMMIT_TIMEOUT_MS: then 503 (or in doubt)
  std::chrono::milliseconds ingress_lookup_timeout{400};  // INGRESS_LOOKUP_TIMEOUT_MS: resolving an in-doubt commit
  std::chrono::milliseconds summary_wait{400};         // SUMMARY_WAIT_MS: for payments of the window landing now
  std::chrono::milliseconds summary_timeout{1200};     // SUMMARY_TIMEOUT_MS: then 503
  std::chrono::milliseconds shutdown_grace{1000};      // SHUTDOWN_GRACE_MS: /health says 503 this long before closing

  // Database.
  std::chrono::milliseconds db_connect_timeout{2000};    // DB_CONNECT_TIMEOUT_MS: connect + prepare
  std::chrono::milliseconds db_statement_timeout{5000};  // DB_STATEMENT_TIMEOUT_MS: every other statement

  // Dispatcher.
  int dispatcher_max_payments = 4000;  // DISPATCHER_MAX_PAYMENTS held in memory; the rest wait in the queue
  int processor_max_conns = 1024;      // PROCESSOR_MAX_CONNECTIONS per processor (thousands may be in flight)
  int processor_max_in_flight = 600;   // PROCESSOR_MAX_IN_FLIGHT per processor: they answer 429 past 800 + 500
  std::chrono::milliseconds lease{3000};                // LEASE_MS: queue visibility while a payment is ours
  std::chrono::milliseconds request_timeout{10000};     // PROCESSOR_TIMEOUT_MS: then the outcome is unknown
  std::chrono::milliseconds processor_max_delay{5000};  // PROCESSOR_MAX_DELAY_MS: the longest a processor sleeps
  std::chrono::milliseconds max_latency{1500};          // MAX_LATENCY_MS: slower than this, prefer the other
  std::chrono::milliseconds unknown_horizon{20000};     // UNKNOWN_HORIZON_MS: a 404 after this is conclusive
  std::chrono::milliseconds health_interval{5100};      // HEALTH_CHECK_INTERVAL_MS: processors allow 1 call / 5 s
  std::chrono::milliseconds tick{200};                  // JANITOR_TICK_MS: health, leases, adoption
  std::chrono::milliseconds recorder_gather{20};        // RECORDER_GATHER_MS: at most one record statement per window (the first after a quiet spell at once)
  std::chrono::milliseconds reconcile_interval{60000};  // RECONCILE_INTERVAL_MS: window compared with the processors; 0: off
  std::chrono::milliseconds reconcile_delay{60000};     // RECONCILE_DELAY_MS: the window ends this long ago (all settled)

  // History (sql/006): daily partitions.
  int retention_days = 7;  // RETENTION_DAYS: payments older than this many UTC days are dropped
  int partitions_ahead_days = 2;  // PARTITIONS_AHEAD_DAYS: created ahead, hourly

  // Fixed, not read from the environment. Kept here, beside the settings, so that the engine's
  // periods, timeouts, batch sizes and retry backoffs are all in one place.
  static constexpr int claim_batch = 500;        // messages per claim: a claim's round trip stays short
  static constexpr size_t record_batch_max = 1000;  // items per record statement: its arrays stay reasonable
  static constexpr std::chrono::seconds gauges_every{1};        // /metrics gauges, and reading the shared health
  static constexpr std::chrono::hours partitions_every{1};      // history partitions made ahead and dropped (sql/006)
  // GET service-health and the admin summary: calls outside the payment path, each bounded.
  static constexpr std::chrono::milliseconds processor_admin_timeout{2000};
  static constexpr std::chrono::milliseconds withdraw_retry{200};  // an in-doubt accept's withdrawal that could not run
  static constexpr std::chrono::milliseconds summary_wait_step{5};  // while payments of the window land, look again
  static constexpr std::chrono::seconds http_drain{3};        // stopping: a request already read still gets its answer
  static constexpr std::chrono::seconds dispatcher_drain{5};  // stopping: payments in flight answered and recorded
  static constexpr std::chrono::seconds dispatcher_release_wait{1};  // then what is left is handed back for this long
  // Start-up: the database may come up after us (docker-compose); asked again this often, this long.
  static constexpr std::chrono::milliseconds db_start_retry{500};
  static constexpr std::chrono::seconds db_start_wait{60};
  // Retries in a payment's transitions (dispatcher.cpp) and of the recorder's statements.
  static constexpr Backoff route_retry{std::chrono::milliseconds(50), std::chrono::milliseconds(1000)};  // route write failed
  static constexpr Backoff refused_retry{std::chrono::milliseconds(10), std::chrono::milliseconds(1000)};  // X did not take it
  static constexpr std::chrono::milliseconds unknown_first_resend{100};  // after a send whose outcome is unknown
  static constexpr Backoff unknown_retry{std::chrono::milliseconds(100), std::chrono::milliseconds(5000)};  // still unknown
  static constexpr std::chrono::milliseconds lookup_retry{1000};  // a lookup on X that settled nothing
  static constexpr Backoff record_retry{std::chrono::milliseconds(20), std::chrono::milliseconds(1000)};  // record failed
  // A processor refusing this many connections in a row may have moved: its name is resolved
  // again, at most this often.
  static constexpr int resolve_after_refusals = 3;
  static constexpr std::chrono::seconds resolve_every{2};

  // Our right to send a payment ends this long before its lease does (clock rates, the write).
  std::chrono::milliseconds lease_margin() const { return lease / 10; }
  // Without a backlog, each instance claims visible messages this often: adoption after a crash
  // takes a lease plus this.
  std::chrono::milliseconds claim_interval() const { return std::min<std::chrono::milliseconds>(lease / 4, std::chrono::milliseconds(500)); }
  // No claim by any instance for this long means the database (or every instance) stalled: the
  // leases that ran out meanwhile are left to their holders for a whole lease after (pgq
  // read_guarded), since they could not renew them either. Twice the claim interval at least.
  std::chrono::milliseconds claim_stall() const { return lease / 2; }
  // The queue's gauges count its messages (the engine's queue keeps no counters: store.cpp), and a
  // count costs in proportion to the depth. Every second up to 100,000 messages; past that, less
  // often in proportion, so that counting an outage's backlog never takes more of PostgreSQL than
  // counting 100,000 messages a second does (~7 ms; 1,000,000 take ~70 ms: bench/README.md).
  static std::chrono::milliseconds queue_gauges_interval(int64_t depth) {
    return std::chrono::milliseconds(std::max<int64_t>(1000, (depth + 99) / 100));  // rounded up
  }

  // Reads the environment; throws std::invalid_argument naming the variable on a bad or missing value.
  static Config from_env();
  // The cross-setting rules (from_env applies them); throws std::invalid_argument.
  void validate() const;
};

}  // namespace engine
