// Every statement the engine runs against its tables (sql/) and its queue, as SQL text prepared on
// the net::PgConn that runs it, with the parameter encoders they share. A payment's durable state
// and its transitions are described in sql/004_payment_state.sql; the statements that move it:
//
//   accept   (ingress)     payments row + queue message, hidden for a lease, in ONE statement
//   claim    (dispatcher)  leases visible messages: released by a full instance, or whose lease
//                          expired (their instance died or stalled); the read bumps read_ct
//   route    (dispatcher)  "in flight on X", written before the first byte goes to X
//   renew    (dispatcher)  extends (or, with 0, gives back) leases still ours
//   record   (recorder)    processed_payments row + queue delete, in ONE statement
//
// Everything that acts on a queued message is fenced by its lease (msg_id, read_ct): a statement
// changes only the messages nobody read since, and says which. The queue library owns that SQL
// (pgq::Statements); the engine composes it into its own statements, never around it.
#pragma once
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "engine/config.h"
#include "engine/payment_request.h"
#include "engine/router.h"
#include "net/pg_client.h"
#include "queue/queue.h"

namespace engine::store {

inline constexpr const char* kQueue = "payments";
const pgq::Statements& queue();

// Applies migrations, creates the queue and the history partitions around today (sql/006):
// idempotent, safe for instances starting together. Blocking (start-up only), bounded by
// connect_timeout.
void init(const std::string& url, std::chrono::milliseconds connect_timeout, int ahead_days, int keep_days);

// Session settings of every engine connection; `durable_commits` false only for the recorder's
// connection (see recorder.h for why losing its last commits in a crash is safe).
std::string session_setup(bool durable_commits, std::chrono::milliseconds statement_timeout);

using Statements = std::vector<std::pair<std::string, std::string>>;

// A connection of the engine's: its session settings (see session_setup), its statements, the
// connect timeout, and a name telling the instance and the role (in pg_stat_activity, and what
// an in-doubt statement's server process is found by).
net::PgConn::Options connection(const Config& cfg, std::string_view role, bool durable_commits,
                                std::chrono::milliseconds statement_timeout, Statements statements);
Statements ingress_statements();     // accept, accept_one, end_session, lookup, compensate
Statements dispatcher_statements();  // claim, route, renew, mark_unknown, health, queue gauges, reconcile
Statements recorder_statements();    // record
Statements reader_statements();      // summary, in_flight_in_window, status, purge

// Statement names.
inline constexpr const char* kAccept = "eng.accept";
inline constexpr const char* kAcceptOne = "eng.accept_one";
inline constexpr const char* kEndSession = "eng.end_session";
inline constexpr const char* kLookup = "eng.lookup";
inline constexpr const char* kCompensate = "eng.compensate";
inline constexpr const char* kClaim = "eng.claim";
inline constexpr const char* kRoute = "eng.route";
inline constexpr const char* kRenew = "eng.renew";
inline constexpr const char* kMarkUnknown = "eng.mark_unknown";
inline constexpr const char* kRecord = "eng.record";
inline constexpr const char* kClaimHealth = "eng.claim_health";
inline constexpr const char* kReportHealth = "eng.report_health";
inline constexpr const char* kReadHealth = "eng.read_health";
inline constexpr const char* kQueueGauges = "eng.queue_gauges";
inline constexpr const char* kSummary = "eng.summary";
inline constexpr const char* kInFlightInWindow = "eng.in_flight_in_window";
inline constexpr const char* kPurge = "eng.purge";
inline constexpr const char* kStatus = "eng.status";
inline constexpr const char* kReconcileClaim = "eng.reconcile_claim";
inline constexpr const char* kReconcileReport = "eng.reconcile_report";
inline constexpr const char* kReconcileRead = "eng.reconcile_read";
inline constexpr const char* kPartitions = "eng.partitions";

// Queue message layout (compact text, see bench/README.md): "<uuid> <amount_cents> <requestedAt ms>"
// (the last field tells whoever claims it which partition holds its payment).
bool decode_message(std::string_view text, PaymentRequest& out);

// Parameter encoders: N values travel as ONE array parameter, so a batch is one statement.
std::string uuid_array(const std::vector<CorrelationId>& ids);
std::string int_array(const std::vector<int64_t>& v);

// Epoch-ms bounds of an open summary range (about the years -1200 and 5100).
inline constexpr int64_t kMinMs = -100'000'000'000'000;
inline constexpr int64_t kMaxMs = 100'000'000'000'000;

}  // namespace engine::store
