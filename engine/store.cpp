#include "engine/store.h"

#include <fmt/format.h>

#include <charconv>
#include <pqxx/pqxx>

#include "engine/migrations.h"
#include "queue/pg_array.h"

namespace engine::store {
namespace {

const pgq::QueueOptions kQueueOptions{pgq::Payload::text, 0, /*counters=*/false};

// An epoch-ms expression as a timestamptz.
std::string at_ms(std::string_view ms) { return fmt::format("(timestamptz 'epoch' + ({}) * interval '1 millisecond')", ms); }
// A timestamptz as epoch ms.
std::string ms_of(std::string_view ts) { return fmt::format("(extract(epoch from {}) * 1000)::bigint", ts); }
// The UTC day of an epoch-ms expression: a payment's partition (sql/006).
std::string day_of(std::string_view ms) { return fmt::format("({} AT TIME ZONE 'UTC')::date", at_ms(ms)); }

// libpq reads connect_timeout from the conninfo, whose two syntaxes append it differently.
std::string with_connect_timeout(const std::string& url, std::chrono::milliseconds t) {
  auto secs = std::max<int64_t>(1, std::chrono::ceil<std::chrono::seconds>(t).count());
  if (url.rfind("postgres://", 0) == 0 || url.rfind("postgresql://", 0) == 0)
    return fmt::format("{}{}connect_timeout={}", url, url.find('?') == std::string::npos ? '?' : '&', secs);
  return fmt::format("{} connect_timeout={}", url, secs);
}

// GET /payments-summary: an index-only range scan (sql/008). Inclusive bounds, epoch ms; $3 the
// instant it speaks for: only payments whose processor's answer had reached us by then count, as
// the processors' own summaries, asked at that same instant, count only what they stored by then.
std::string summary_sql() {
  return fmt::format("SELECT processor, count(*), coalesce(sum(amount_cents), 0)::bigint FROM processed_payments"
                     " WHERE requested_at BETWEEN {} AND {} AND processed_at <= {} GROUP BY processor",
                     at_ms("$1::bigint"), at_ms("$2::bigint"), at_ms("$3::bigint"));
}

}  // namespace

const pgq::Statements& queue() {
  // Payments are never dead-lettered (max_reads 0): a payment that cannot be sent waits, it is not
  // dropped. No counting triggers: they cost every accept (the statement a POST waits for) about
  // 0.1 ms of server time, and this queue holds only the payments in flight, so the gauges count
  // it (bench/README.md); an outage's backlog is counted less often (Config::queue_gauges_interval).
  static const pgq::Statements q(kQueue, kQueueOptions);
  return q;
}

void init(const std::string& url, std::chrono::milliseconds connect_timeout, int ahead_days, int keep_days) {
  pqxx::connection conn(with_connect_timeout(url, connect_timeout));
  migrations::apply(conn);
  pgq::create_queue(conn, kQueue, kQueueOptions);
  pqxx::nontransaction tx(conn);
  tx.exec_params("SELECT payeng_partitions($1, $2)", ahead_days, keep_days);
}

std::string session_setup(bool durable_commits, std::chrono::milliseconds statement_timeout) {
  // Every statement here takes arrays, so a custom plan is never better than the generic one, yet
  // by default PostgreSQL may re-plan each execution: up to a millisecond of CPU each. Every
  // statement is also a key lookup. The queue table holds few live rows but many dead ones between
  // autovacuum runs (a row in and out per payment), and a generic plan made while it was small
  // stays a sequential scan as it bloats: measured, ~1 ms of server CPU per payment under load. So
  // sequential scans are off for the engine's sessions (the summary is an index-only scan; purge
  // is a TRUNCATE); that inflates the cost estimate of the few scans that remain past
  // jit_above_cost, and JIT-compiling a short statement every time is pure waste: JIT is off too.
  // statement_timeout: the server gives up on its side too (a lock wait, a runaway plan); our own
  // deadlines are what bound the client's wait. No parallel workers: a generic plan estimates a
  // range from defaults, and at a few million payments that tipped the in-flight count into a
  // Gather of 2 workers, 50-90 ms to start them for 0.09 ms of work; within a container's CPU
  // quota parallel workers cannot make anything faster anyway.
  return fmt::format(
      "SET plan_cache_mode = force_generic_plan; SET enable_seqscan = off; SET jit = off;"
      " SET max_parallel_workers_per_gather = 0;"
      " SET statement_timeout = {}; SET synchronous_commit = {}",
      statement_timeout.count(), durable_commits ? "on" : "off");
}

net::PgConn::Options connection(const Config& cfg, std::string_view role, bool durable_commits,
                                std::chrono::milliseconds statement_timeout, Statements statements) {
  net::PgConn::Options o;
  o.conninfo = cfg.database_url;
  o.setup_sql = session_setup(durable_commits, statement_timeout);
  o.prepare = std::move(statements);
  o.connect_timeout = cfg.db_connect_timeout;
  o.application_name = fmt::format("payeng{}-{}", cfg.instance_id, role);
  return o;
}

Statements ingress_statements() {
  const auto& q = queue();
  // The accept's CTE `ins`, in both forms: the new payments of ids `cid` (amounts `amt`, routes
  // `proc`) selected `from` the input. The idempotency window lives here once: today's key catches
  // a repeat race-free, yesterday is checked explicitly.
  auto insert_new = [](std::string_view cid, std::string_view amt, std::string_view proc, std::string_view from,
                       std::string_view order) {
    return fmt::format(
        "ins AS (INSERT INTO payments AS p (correlation_id, amount_cents, requested_at, accepted_on, processor, accept_token)"
        "   SELECT {cid}, {amt}, {req}, {day}, nullif({proc}, -1), $6{from}"
        "   WHERE NOT EXISTS (SELECT 1 FROM payments e WHERE e.correlation_id = {cid} AND e.accepted_on = {day} - 1)"
        "{order}"
        "   ON CONFLICT (correlation_id, accepted_on) DO NOTHING RETURNING p.correlation_id)",
        fmt::arg("cid", cid), fmt::arg("amt", amt), fmt::arg("proc", proc), fmt::arg("from", from),
        fmt::arg("order", order), fmt::arg("req", at_ms("$3::bigint")), fmt::arg("day", day_of("$3::bigint")));
  };
  return {
      // $1 ids, $2 cents, $3 requestedAt (epoch ms), $4 visibility of each message (ms: a lease for
      // the payments this instance will process from memory, 0 for those left to the queue), $5
      // processor each is routed to (-1: none yet), $6 this statement's token. Writes the new
      // payments and their messages; returns, per payment created, its message (msg_id, and the
      // message text, which starts with the id). It is the statement every POST waits for, so it
      // does nothing else (sql/007): an id it did not create is a duplicate, a conflict, or one the
      // previous day holds (the idempotency window: today's key catches a repeat race-free,
      // yesterday is checked here), and the ingress asks kLookup about it.
      {kAccept,
       fmt::format(
           "WITH input AS (SELECT t.cid, t.amt, t.vt, t.proc, t.i FROM"
           "   unnest($1::uuid[], $2::bigint[], $4::bigint[], $5::smallint[]) WITH ORDINALITY AS t(cid, amt, vt, proc, i)),"
           " {ins} {send}",
           fmt::arg("ins", insert_new("input.cid", "amt", "proc", " FROM input", "   ORDER BY i")),  // rows locked in the batch's order
           fmt::arg("send", q.send("SELECT input.cid::text || ' ' || input.amt || ' ' || $3::bigint, input.vt FROM ins"
                                   " JOIN input ON input.cid = ins.correlation_id ORDER BY input.i")))},
      // kAccept for a batch of one, the common case (1.1-1.3 payments per commit under the final's
      // load): the same rows and the same result, with scalar parameters ($1 id, $2 cents, $4 vt,
      // $5 processor) instead of arrays. Without unnest, the join back to the input and the sort,
      // the server process spends ~12 % less CPU per durable commit (pgbench, 300 commits/s:
      // 321 against 365 us, medians), and the final's commit p99 was lower in every alternated
      // pair (bench/README.md, "One payment, one plain statement").
      {kAcceptOne,
       fmt::format(
           "WITH {ins} {send}", fmt::arg("ins", insert_new("$1::uuid", "$2::bigint", "$5::smallint", "", "")),
           fmt::arg("send", q.send("SELECT ins.correlation_id::text || ' ' || $2::bigint || ' ' || $3::bigint, $4::bigint"
                                   " FROM ins")))},
      // After an in-doubt statement: the server process that ran it ($1, session $2) may still be
      // running it (a deadline passed, not the process). It is ended, waiting up to $3 ms, before
      // anyone concludes from what is committed: afterwards nothing of it can still commit.
      {kEndSession, "SELECT pg_terminate_backend(pid, $3::bigint) FROM pg_stat_activity"
                    " WHERE pid = $1 AND application_name = $2"},
      // After an accept ($3 its requestedAt, $2 its token), about the payments it did not report
      // as created, or all of them when its outcome is in doubt: which exist in the idempotency
      // window, for what amount, whether that statement created them, and their message if it is
      // still untouched. The ones another request created, for the amount of this one ($4), are
      // marked `retried` on the way: this request is answered 2XX as their duplicate, so they can
      // never be withdrawn (kCompensate).
      {kLookup,
       fmt::format("WITH mark AS (UPDATE payments p SET retried = true FROM unnest($1::uuid[], $4::bigint[]) AS t(cid, amt)"
                   "   WHERE p.correlation_id = t.cid AND p.accepted_on BETWEEN {day} - 1 AND {day}"
                   "   AND p.amount_cents = t.amt AND p.accept_token IS DISTINCT FROM $2 AND NOT p.retried)"
                   " SELECT p.correlation_id::text, p.amount_cents, coalesce(p.accept_token = $2, false), m.msg_id, m.read_ct"
                   " FROM payments p LEFT JOIN {q} m ON left(m.message, 36) = p.correlation_id::text"
                   " WHERE p.correlation_id = ANY($1::uuid[]) AND p.accepted_on BETWEEN {day} - 1 AND {day}",
                   fmt::arg("q", q.table()), fmt::arg("day", day_of("$3::bigint")))},
      // Withdraws payments that our in-doubt accept ($2, of requestedAt $3) may have committed although their client
      // was answered 503: only while nobody has touched them (message never read, no duplicate
      // POST answered 2XX meanwhile). Both rows are locked first, so neither can change in between.
      {kCompensate,
       fmt::format("WITH cand AS (SELECT m.msg_id, p.correlation_id FROM payments p"
                   "   JOIN {q} m ON left(m.message, 36) = p.correlation_id::text"
                   "   WHERE p.correlation_id = ANY($1::uuid[]) AND p.accepted_on = {day} AND p.accept_token = $2"
                   "   AND NOT p.retried AND m.read_ct = 0 FOR UPDATE OF p, m),"
                   " dm AS (DELETE FROM {q} m USING cand WHERE m.msg_id = cand.msg_id),"
                   " dp AS (DELETE FROM payments p USING cand WHERE p.correlation_id = cand.correlation_id"
                   "   AND p.accepted_on = {day} RETURNING p.correlation_id)"
                   // Withdrawn, and how many our statement had committed (the snapshot predates the deletes).
                   " SELECT (SELECT count(*) FROM dp),"
                   " (SELECT count(*) FROM payments p WHERE p.correlation_id = ANY($1::uuid[]) AND p.accepted_on = {day}"
                   "   AND p.accept_token = $2)",
                   fmt::arg("q", q.table()), fmt::arg("day", day_of("$3::bigint")))},
  };
}

Statements dispatcher_statements() {
  const auto& q = queue();
  return {
      // $1 how many, $2 lease (ms), $3 $4 stall and settle (ms): a lease that ran out while the
      // database stalled is left to its holder, alive and unable to renew it, for $4 after the
      // instances' claims resume (pgq read_guarded): it may be an in-doubt accept its instance is
      // about to withdraw, or a payment it is about to send. Per message: msg_id, read_ct,
      // message, requestedAt (ms), processor (-1: never routed), whether a send had an unknown outcome.
      {kClaim, fmt::format("WITH {read}"
                           " SELECT m.msg_id, m.read_ct, m.message, {req}, coalesce(p.processor, -1),"
                           " p.unknown_since IS NOT NULL"
                           " FROM m LEFT JOIN payments p ON p.correlation_id = left(m.message, 36)::uuid"
                           "   AND p.accepted_on = {day}",
                           fmt::arg("read", q.read_guarded("$1", "$2", "$3", "$4", "m")), fmt::arg("req", ms_of("p.requested_at")),
                           fmt::arg("day", day_of("split_part(m.message, ' ', 3)::bigint")))},
      // $1 msg_ids, $2 read_cts, $3 ids, $4 processors, $5 lease (ms), $6 requestedAt (ms): for the
      // messages still ours, records the route and renews the lease. Returns the msg_ids that were ours.
      {kRoute, fmt::format("WITH owned AS ({renew}),"
                           " upd AS (UPDATE payments p SET processor = t.proc, unknown_since = NULL"
                           "   FROM unnest($1::bigint[], $3::uuid[], $4::smallint[], $6::bigint[]) AS t(id, cid, proc, req)"
                           "   JOIN owned ON owned.msg_id = t.id WHERE p.correlation_id = t.cid AND p.accepted_on = {day})"
                           " SELECT msg_id FROM owned",
                           fmt::arg("renew", q.set_vt_leased("$1", "$2", "$5")), fmt::arg("day", day_of("t.req")))},
      // $1 msg_ids, $2 read_cts, $3 lease (ms; 0 gives the message back). Returns those still ours.
      {kRenew, q.set_vt_leased("$1", "$2", "$3")},
      // $1 ids, $2 unknown or not, $3 their requestedAt (ms): for GET /payments/{id}.
      {kMarkUnknown, fmt::format("UPDATE payments p SET unknown_since = CASE WHEN $2 THEN clock_timestamp() END"
                                 " FROM unnest($1::uuid[], $3::bigint[]) AS t(cid, req)"
                                 " WHERE p.correlation_id = t.cid AND p.accepted_on = {}",
                                 day_of("t.req"))},
      // $1 days ahead, $2 days kept (sql/006).
      {kPartitions, "SELECT payeng_partitions($1, $2)"},
      // Health coordination (sql/002): the conditional UPDATE claims processor $1's window for
      // instance $2 if the last claim is older than $3 ms.
      {kClaimHealth, "UPDATE processor_health SET checked_at = clock_timestamp(), checked_by = $2"
                     " WHERE processor = $1 AND checked_at < clock_timestamp() - $3::bigint * interval '1 millisecond'"
                     " RETURNING 1"},
      {kReportHealth, "UPDATE processor_health SET failing = $2, min_response_ms = $3, reported_at = clock_timestamp()"
                      " WHERE processor = $1"},
      {kReadHealth, fmt::format("SELECT processor, failing, min_response_ms, reported_at IS NOT NULL,"
                                " coalesce({}, 0) FROM processor_health",
                                ms_of("clock_timestamp() - reported_at"))},
      {kQueueGauges, q.metrics()},
      // Reconciliation (sql/005): one instance at a time compares a closed past window with each
      // processor's own books. $1 processor, $2 instance, $3 interval (ms).
      {kReconcileClaim, "UPDATE reconciliation SET claimed_at = clock_timestamp(), claimed_by = $2"
                        " WHERE processor = $1 AND claimed_at < clock_timestamp() - $3::bigint * interval '1 millisecond'"
                        " RETURNING 1"},
      // $1 processor, $2 $3 window (ms), $4 $5 our requests and cents, $6 $7 theirs.
      {kReconcileReport, fmt::format("UPDATE reconciliation SET window_from = {}, window_to = {}, our_requests = $4,"
                                     " our_cents = $5, their_requests = $6, their_cents = $7, checked_at = clock_timestamp()"
                                     " WHERE processor = $1",
                                     at_ms("$2::bigint"), at_ms("$3::bigint"))},
      {kReconcileRead, fmt::format("SELECT processor, our_requests - their_requests, our_cents - their_cents, {}"
                                   " FROM reconciliation WHERE checked_at IS NOT NULL",
                                   ms_of("window_to"))},
      // Our side of a reconciliation window: the same statement as GET /payments-summary.
      {kSummary, summary_sql()},
  };
}

Statements recorder_statements() {
  const auto& q = queue();
  // $1 msg_ids, $2 read_cts, $3 ids, $4 processors, $5 cents, $6 requestedAt (ms), $7 when each
  // processor's answer reached us (ms: processed_at, what the summary's instant is compared with). Only messages
  // still ours are recorded and deleted. Per input row: msg_id, ours (recorded now or, if its row
  // was there already, an earlier attempt of this very write committed), a processed row existed
  // before this statement: for a row still ours, its insert found one; for the others, asked of
  // payeng_recorded (sql/010), so that the common case sets up no scan of the partitions.
  return {{kRecord,
           fmt::format("WITH t AS (SELECT * FROM unnest($1::bigint[], $3::uuid[], $4::smallint[], $5::bigint[],"
                       "   $6::bigint[], $7::bigint[]) AS t(id, cid, proc, amt, req, answered)),"
                       " owned AS ({remove}),"
                       " ins AS (INSERT INTO processed_payments (correlation_id, processor, amount_cents, requested_at, processed_at)"
                       "   SELECT t.cid, t.proc, t.amt, {req}, {answered} FROM t JOIN owned ON owned.msg_id = t.id"
                       "   ON CONFLICT (correlation_id, requested_at) DO NOTHING RETURNING correlation_id, requested_at)"
                       " SELECT t.id, owned.msg_id IS NOT NULL,"
                       "   CASE WHEN owned.msg_id IS NOT NULL THEN ins.correlation_id IS NULL"
                       "   ELSE payeng_recorded(t.cid, {req}) END FROM t"
                       " LEFT JOIN owned ON owned.msg_id = t.id"
                       " LEFT JOIN ins ON ins.correlation_id = t.cid AND ins.requested_at = {req}",
                       fmt::arg("remove", q.remove_leased("$1", "$2")), fmt::arg("req", at_ms("t.req")),
                       fmt::arg("answered", at_ms("t.answered")))}};
}

Statements reader_statements() {
  const auto& q = queue();
  return {
      {kSummary, summary_sql()},
      // GET /payments/{id}: its state as sql/004 defines it, and when its processor's answer reached us.
      {kStatus, fmt::format("SELECT p.amount_cents, {}, {}, coalesce(p.processor, -1), p.unknown_since IS NOT NULL,"
                            " coalesce(d.processor, -1), {} FROM payments p"
                            " LEFT JOIN processed_payments d ON d.correlation_id = p.correlation_id"
                            "   AND d.requested_at = p.requested_at"
                            " WHERE p.correlation_id = $1::uuid ORDER BY p.accepted_on DESC LIMIT 1",
                            ms_of("p.received_at"), ms_of("p.requested_at"), ms_of("d.processed_at"))},
      // Payments of the window accepted in the last $3 ms, routed and not recorded yet, that may
      // land on a processor any moment: the queue's messages (a payment's message goes in the
      // statement that records it) that an instance holds (a payment is sent only under a lease,
      // renewed until it is recorded) and whose payment has a route. So the count walks the vt
      // index over the leased messages only: a backlog waiting in the queue (an outage) is not
      // read (at 1,000,000 waiting, reading it took 1.5 s: bench/README.md), and the accept keeps
      // no index on payments.requested_at for it (sql/007). now(), not clock_timestamp(): one
      // instant for the statement, usable as an index bound.
      {kInFlightInWindow,
       fmt::format("SELECT count(*) FROM {q} m JOIN payments p ON p.correlation_id = left(m.message, 36)::uuid"
                   "   AND p.accepted_on = {day}"
                   " WHERE m.vt > now()"
                   "   AND split_part(m.message, ' ', 3)::bigint BETWEEN greatest($1::bigint, {now} - $3::bigint) AND $2::bigint"
                   "   AND p.processor IS NOT NULL",
                   fmt::arg("q", q.table()), fmt::arg("day", day_of("split_part(m.message, ' ', 3)::bigint")),
                   fmt::arg("now", ms_of("now()")))},
      {kPurge, fmt::format("TRUNCATE processed_payments, payments, {}", q.table())},
  };
}

bool decode_message(std::string_view text, PaymentRequest& out) {
  if (text.size() < 38 || text[36] != ' ' || !parse_uuid(text.substr(0, 36), out.correlation_id)) return false;
  auto rest = text.substr(37);
  auto num = rest.substr(0, rest.find(' '));  // then the requestedAt (ms), which the claim reads itself
  auto [p, ec] = std::from_chars(num.data(), num.data() + num.size(), out.amount_cents);
  return ec == std::errc{} && p == num.data() + num.size() && out.amount_cents > 0 && !num.empty();
}

std::string uuid_array(const std::vector<CorrelationId>& ids) {
  std::vector<std::string_view> v;
  v.reserve(ids.size());
  for (const auto& id : ids) v.push_back(to_view(id));
  return pgq::pg_array(v);
}

std::string int_array(const std::vector<int64_t>& v) { return pgq::pg_array(v); }

}  // namespace engine::store
