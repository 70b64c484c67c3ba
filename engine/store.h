// Every statement the engine runs against its own tables (sql/) and its queue. Plain functions
// over a connection: each engine thread owns one connection (libpqxx has no locking).
#pragma once
#include <pqxx/pqxx>

#include <chrono>
#include <memory>
#include <string>
#include <optional>
#include <vector>

#include "engine/payment_request.h"
#include "engine/router.h"
#include "queue/queue.h"

namespace engine::store {

inline constexpr const char* kQueue = "payments";

// One engine thread's database connection, with this module's statements prepared and the
// payments queue bound to it. Opened on first use; after an error, reset() and the next use
// reconnects. Counted in /metrics (db_connections, db_connections_busy).
class Session {
 public:
  explicit Session(std::string url) : url_(std::move(url)) {}
  ~Session() { reset(); }
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;
  pqxx::connection& conn();
  pgq::Queue& queue();
  void reset();

 private:
  std::string url_;
  std::unique_ptr<pqxx::connection> conn_;
  std::unique_ptr<pgq::Queue> queue_;
};

// Marks a Session busy for /metrics while a statement or transaction runs.
struct BusyScope {
  BusyScope();
  ~BusyScope();
};

// Applies migrations and creates the queue; idempotent, safe for instances starting together.
void init(pqxx::connection& conn);
// Prepares the statements this module uses on this connection (and its payments queue).
void prepare(pqxx::connection& conn, const pgq::Queue& queue);

// Queue message layout (compact text, see bench/README.md): "<uuid> <amount_cents>".
std::string encode_message(const PaymentRequest& p);
bool decode_message(std::string_view text, PaymentRequest& out);

enum class Acceptance : uint8_t { created, duplicate, conflict /* same id, other amount */ };
struct Accepted {
  Acceptance outcome;
  int64_t msg_id = 0;  // created only
};
// ONE statement (one round trip, atomic): records new payments and enqueues them hidden for
// `lease` (this instance processes them from memory; if it dies, the lease expires and any
// instance adopts them). `batch` must not repeat a correlation id.
std::vector<Accepted> accept(pqxx::connection& conn, const std::vector<PaymentRequest>& batch,
                             std::chrono::milliseconds lease);

struct Attempt {
  CorrelationId cid;
  Processor processor;
  int64_t requested_at_ms;
};
// "In flight on X" rows, upserted before the first byte goes to X. Returns, per input, whether the
// payment still exists (false: purged meanwhile; do not send it).
std::vector<bool> upsert_attempts(pqxx::transaction_base& tx, const std::vector<Attempt>& attempts);

struct Done {
  CorrelationId cid;
  Processor processor;
  int64_t amount_cents;
  int64_t requested_at_ms;
  int64_t msg_id;
};
// processed_payments rows, their attempts and queue messages deleted: call inside one transaction.
// Idempotent, so an in-doubt commit can simply be retried.
void record_done(pqxx::transaction_base& tx, pgq::Queue& queue, const std::vector<Done>& done);

struct Adopted {
  int64_t msg_id;
  PaymentRequest payment;
  bool has_attempt = false;  // true: unknown on `processor`, resolve there first
  Processor processor = kDefault;
  int64_t requested_at_ms = 0;
  int64_t attempt_age_ms = 0;
};
// Messages whose lease expired (their instance died or gave them back), now leased to us.
std::vector<Adopted> adopt_expired(pqxx::connection& conn, pgq::Queue& queue, std::chrono::milliseconds lease,
                                   int max);

struct Summary {
  int64_t requests[2] = {0, 0};
  int64_t cents[2] = {0, 0};
};
// Inclusive bounds in epoch ms; nullopt = unbounded.
Summary summary(pqxx::connection& conn, std::optional<int64_t> from_ms, std::optional<int64_t> to_ms);
// Attempts in flight whose requestedAt lies in the window (they may land on a processor any moment).
int64_t attempts_in_window(pqxx::connection& conn, std::optional<int64_t> from_ms, std::optional<int64_t> to_ms,
                           std::chrono::milliseconds younger_than);

void purge(pqxx::connection& conn, pgq::Queue& queue);

// Health coordination (sql/002): true if this instance won the right to call X's health endpoint now.
bool claim_health_check(pqxx::connection& conn, Processor p, int instance_id, std::chrono::milliseconds window);
void report_health(pqxx::connection& conn, Processor p, bool failing, int64_t min_response_ms);
struct HealthRow {
  bool known = false, failing = false;
  int64_t min_response_ms = 0, age_ms = 0;
};
void read_health(pqxx::connection& conn, HealthRow out[2]);

}  // namespace engine::store
