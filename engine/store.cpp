#include "engine/store.h"

#include <fmt/format.h>

#include <charconv>
#include <unordered_map>

#include "engine/metrics.h"
#include "engine/migrations.h"
#include "queue/pg_array.h"

namespace engine::store {
namespace {

// Unbounded summary ends, as epoch ms (about the years -1200 and 5100).
constexpr int64_t kMinMs = -100'000'000'000'000;
constexpr int64_t kMaxMs = 100'000'000'000'000;

constexpr const char* kEpochMs = "timestamptz 'epoch' + {} * interval '1 millisecond'";

std::string ids_array(const std::vector<CorrelationId>& ids) {
  std::vector<std::string_view> v;
  v.reserve(ids.size());
  for (const auto& id : ids) v.push_back(to_view(id));
  return pgq::pg_array(v);
}

template <class T, class F>
std::string int_array(const std::vector<T>& rows, F&& field) {
  std::vector<int64_t> v;
  v.reserve(rows.size());
  for (const auto& r : rows) v.push_back(static_cast<int64_t>(field(r)));
  return pgq::pg_array(v);
}

template <class T>
std::vector<CorrelationId> cids_of(const std::vector<T>& rows) {
  std::vector<CorrelationId> v;
  v.reserve(rows.size());
  for (const auto& r : rows) v.push_back(r.cid);
  return v;
}

CorrelationId cid_from(const pqxx::field& f) {
  CorrelationId id{};
  parse_uuid(f.c_str(), id);
  return id;
}

}  // namespace

pqxx::connection& Session::conn() {
  if (!conn_) {
    conn_ = std::make_unique<pqxx::connection>(url_);
    {
      // Every statement here takes arrays, so a custom plan is never better than the generic one,
      // yet by default PostgreSQL may re-plan each execution: up to a millisecond of CPU each.
      // Every statement is also a key lookup. The queue and attempt tables hold few live rows
      // but many dead ones between autovacuum runs (a row in and out per payment), and a generic
      // plan made while a table was small stays a sequential scan as it bloats: measured, that
      // was ~1 ms of server CPU per payment under load. So sequential scans are off for the
      // engine's sessions (the summary is an index-only scan; purge is a TRUNCATE). That inflates
      // the cost estimate of the few scans that remain past jit_above_cost, and JIT-compiling a
      // short statement every time is pure waste (measured on the metrics query): JIT is off too.
      pqxx::nontransaction tx(*conn_);
      tx.exec("SET plan_cache_mode = force_generic_plan; SET enable_seqscan = off; SET jit = off");
    }
    queue_ = std::make_unique<pgq::Queue>(*conn_, kQueue);
    prepare(*conn_, *queue_);
    metrics().db_connections.fetch_add(1, std::memory_order_relaxed);
  }
  return *conn_;
}

pgq::Queue& Session::queue() {
  conn();
  return *queue_;
}

void Session::reset() {
  if (!conn_) return;
  queue_.reset();
  conn_.reset();
  metrics().db_connections.fetch_sub(1, std::memory_order_relaxed);
}

BusyScope::BusyScope() { metrics().db_busy.fetch_add(1, std::memory_order_relaxed); }
BusyScope::~BusyScope() { metrics().db_busy.fetch_sub(1, std::memory_order_relaxed); }

void init(pqxx::connection& conn) {
  migrations::apply(conn);
  // Payments are never dead-lettered (max_reads 0): a payment that cannot be sent waits, it is not dropped.
  pgq::create_queue(conn, kQueue, {pgq::Payload::text, 0});
}

void prepare(pqxx::connection& conn, const pgq::Queue& queue) {
  auto prep = [&](const char* name, const std::string& sql) {
    conn.prepare(name, sql);
    conn.prepare_now(name);
  };
  // The message text is encode_message()'s layout, built in SQL: "<uuid> <amount_cents>".
  // `p` sees only rows committed before this statement: new rows come back through `sent`.
  prep("eng.accept",
       fmt::format(
           "WITH input AS (SELECT t.cid, t.amt, t.i FROM unnest($1::uuid[], $2::bigint[]) WITH ORDINALITY AS t(cid, amt, i)),"
           " ins AS (INSERT INTO payments (correlation_id, amount_cents) SELECT cid, amt FROM input ORDER BY i"
           "   ON CONFLICT (correlation_id) DO NOTHING RETURNING correlation_id, amount_cents),"
           " sent AS ({})"
           " SELECT sent.msg_id, p.amount_cents FROM input"
           " LEFT JOIN sent ON left(sent.message, 36)::uuid = input.cid"
           " LEFT JOIN payments p ON p.correlation_id = input.cid"
           " ORDER BY input.i",
           queue.send_sql("SELECT correlation_id::text || ' ' || amount_cents FROM ins ORDER BY correlation_id", "$3")));
  prep("eng.amount_of", "SELECT amount_cents FROM payments WHERE correlation_id = $1::uuid");
  prep("eng.upsert_attempts",
       fmt::format("INSERT INTO payment_attempts (correlation_id, processor, requested_at)"
                   " SELECT t.cid, t.proc, {} FROM unnest($1::uuid[], $2::smallint[], $3::bigint[]) AS t(cid, proc, req)"
                   " WHERE EXISTS (SELECT 1 FROM payments p WHERE p.correlation_id = t.cid)"
                   " ON CONFLICT (correlation_id) DO UPDATE SET processor = EXCLUDED.processor,"
                   "   requested_at = EXCLUDED.requested_at, first_sent_at = clock_timestamp()"
                   " RETURNING correlation_id::text",
                   fmt::format(kEpochMs, "t.req")));
  // Rows of payments purged meanwhile are skipped rather than failing the whole batch.
  prep("eng.record_done",
       fmt::format("WITH t AS (SELECT * FROM unnest($1::uuid[], $2::smallint[], $3::bigint[], $4::bigint[])"
                   "   AS t(cid, proc, amt, req)),"
                   " ins AS (INSERT INTO processed_payments (correlation_id, processor, amount_cents, requested_at)"
                   "   SELECT t.cid, t.proc, t.amt, {} FROM t"
                   "   WHERE EXISTS (SELECT 1 FROM payments p WHERE p.correlation_id = t.cid)"
                   "   ON CONFLICT (correlation_id) DO NOTHING)"
                   " DELETE FROM payment_attempts WHERE correlation_id IN (SELECT cid FROM t)",
                   fmt::format(kEpochMs, "t.req")));
  prep("eng.attempts_of",
       "SELECT correlation_id::text, processor, (extract(epoch from requested_at) * 1000)::bigint,"
       " (extract(epoch from clock_timestamp() - first_sent_at) * 1000)::bigint"
       " FROM payment_attempts WHERE correlation_id = ANY($1::uuid[])");
  prep("eng.summary",
       fmt::format("SELECT processor, count(*), coalesce(sum(amount_cents), 0)::bigint FROM processed_payments"
                   " WHERE requested_at BETWEEN {} AND {} GROUP BY processor",
                   fmt::format(kEpochMs, "$1::bigint"), fmt::format(kEpochMs, "$2::bigint")));
  prep("eng.attempts_in_window",
       fmt::format("SELECT count(*) FROM payment_attempts WHERE requested_at BETWEEN {} AND {}"
                   " AND first_sent_at > clock_timestamp() - $3::bigint * interval '1 millisecond'",
                   fmt::format(kEpochMs, "$1::bigint"), fmt::format(kEpochMs, "$2::bigint")));
  prep("eng.claim_health",
       "UPDATE processor_health SET checked_at = clock_timestamp(), checked_by = $2"
       " WHERE processor = $1 AND checked_at < clock_timestamp() - $3::bigint * interval '1 millisecond'"
       " RETURNING 1");
  prep("eng.report_health",
       "UPDATE processor_health SET failing = $2, min_response_ms = $3, reported_at = clock_timestamp()"
       " WHERE processor = $1");
  prep("eng.read_health",
       "SELECT processor, failing, min_response_ms, reported_at IS NOT NULL,"
       " coalesce((extract(epoch from clock_timestamp() - reported_at) * 1000)::bigint, 0) FROM processor_health");
}

std::string encode_message(const PaymentRequest& p) {
  return fmt::format("{} {}", to_view(p.correlation_id), p.amount_cents);
}

bool decode_message(std::string_view text, PaymentRequest& out) {
  if (text.size() < 38 || text[36] != ' ' || !parse_uuid(text.substr(0, 36), out.correlation_id)) return false;
  auto num = text.substr(37);
  auto [p, ec] = std::from_chars(num.data(), num.data() + num.size(), out.amount_cents);
  return ec == std::errc{} && p == num.data() + num.size() && out.amount_cents > 0;
}

std::vector<Accepted> accept(pqxx::connection& conn, const std::vector<PaymentRequest>& batch,
                             std::chrono::milliseconds lease) {
  std::vector<Accepted> out(batch.size(), Accepted{Acceptance::duplicate, 0});
  if (batch.empty()) return out;
  std::vector<CorrelationId> ids;
  for (const auto& p : batch) ids.push_back(p.correlation_id);
  pqxx::nontransaction tx(conn);  // one statement: atomic on its own, no BEGIN/COMMIT round trips
  auto r = tx.exec_prepared("eng.accept", ids_array(ids),
                            int_array(batch, [](const PaymentRequest& p) { return p.amount_cents; }),
                            static_cast<int64_t>(lease.count()));
  for (size_t i = 0; i < batch.size(); ++i) {
    if (!r[i][0].is_null()) {
      out[i] = {Acceptance::created, r[i][0].as<int64_t>()};
      continue;
    }
    // Known id. Its row is invisible to this statement's snapshot only if another instance
    // inserted it concurrently; a new statement sees it.
    int64_t existing = r[i][1].is_null()
                           ? tx.exec_prepared1("eng.amount_of", std::string(to_view(batch[i].correlation_id)))[0].as<int64_t>()
                           : r[i][1].as<int64_t>();
    out[i].outcome = existing == batch[i].amount_cents ? Acceptance::duplicate : Acceptance::conflict;
  }
  return out;
}

std::vector<bool> upsert_attempts(pqxx::transaction_base& tx, const std::vector<Attempt>& attempts) {
  std::vector<bool> exists(attempts.size(), false);
  if (attempts.empty()) return exists;
  auto r = tx.exec_prepared("eng.upsert_attempts", ids_array(cids_of(attempts)),
                            int_array(attempts, [](const Attempt& a) { return a.processor; }),
                            int_array(attempts, [](const Attempt& a) { return a.requested_at_ms; }));
  std::unordered_map<CorrelationId, bool, CorrelationIdHash> written;
  for (const auto& row : r) written.emplace(cid_from(row[0]), true);
  for (size_t i = 0; i < attempts.size(); ++i) exists[i] = written.count(attempts[i].cid) > 0;
  return exists;
}

void record_done(pqxx::transaction_base& tx, pgq::Queue& queue, const std::vector<Done>& done) {
  if (done.empty()) return;
  tx.exec_prepared("eng.record_done", ids_array(cids_of(done)),
                   int_array(done, [](const Done& d) { return d.processor; }),
                   int_array(done, [](const Done& d) { return d.amount_cents; }),
                   int_array(done, [](const Done& d) { return d.requested_at_ms; }));
  std::vector<int64_t> msg_ids;
  for (const auto& d : done) msg_ids.push_back(d.msg_id);
  queue.remove(tx, msg_ids);  // some may be gone already (a retried in-doubt commit): fine
}

std::vector<Adopted> adopt_expired(pqxx::connection& conn, pgq::Queue& queue, std::chrono::milliseconds lease,
                                   int max) {
  std::vector<Adopted> out;
  auto msgs = queue.read(lease, max);
  if (msgs.empty()) return out;
  std::vector<CorrelationId> ids;
  for (const auto& m : msgs) {
    Adopted a;
    a.msg_id = m.msg_id;
    if (!decode_message(m.message, a.payment)) continue;  // cannot happen: we wrote it
    ids.push_back(a.payment.correlation_id);
    out.push_back(a);
  }
  pqxx::nontransaction tx(conn);
  std::unordered_map<CorrelationId, size_t, CorrelationIdHash> index;
  for (size_t i = 0; i < out.size(); ++i) index.emplace(out[i].payment.correlation_id, i);
  for (const auto& row : tx.exec_prepared("eng.attempts_of", ids_array(ids))) {
    auto it = index.find(cid_from(row[0]));
    if (it == index.end()) continue;
    Adopted& a = out[it->second];
    a.has_attempt = true;
    a.processor = row[1].as<int>() == 0 ? kDefault : kFallback;
    a.requested_at_ms = row[2].as<int64_t>();
    a.attempt_age_ms = row[3].as<int64_t>();
  }
  return out;
}

Summary summary(pqxx::connection& conn, std::optional<int64_t> from_ms, std::optional<int64_t> to_ms) {
  Summary s;
  pqxx::nontransaction tx(conn);
  for (const auto& row : tx.exec_prepared("eng.summary", from_ms.value_or(kMinMs), to_ms.value_or(kMaxMs))) {
    int p = row[0].as<int>();
    if (p != 0 && p != 1) continue;
    s.requests[p] = row[1].as<int64_t>();
    s.cents[p] = row[2].as<int64_t>();
  }
  return s;
}

int64_t attempts_in_window(pqxx::connection& conn, std::optional<int64_t> from_ms, std::optional<int64_t> to_ms,
                           std::chrono::milliseconds younger_than) {
  pqxx::nontransaction tx(conn);
  return tx.exec_prepared1("eng.attempts_in_window", from_ms.value_or(kMinMs), to_ms.value_or(kMaxMs),
                           static_cast<int64_t>(younger_than.count()))[0]
      .as<int64_t>();
}

void purge(pqxx::connection& conn, pgq::Queue& queue) {
  pqxx::work tx(conn);
  tx.exec("TRUNCATE processed_payments, payment_attempts, payments");
  queue.purge(tx);
  tx.commit();
}

bool claim_health_check(pqxx::connection& conn, Processor p, int instance_id, std::chrono::milliseconds window) {
  pqxx::nontransaction tx(conn);
  return !tx.exec_prepared("eng.claim_health", static_cast<int>(p), instance_id, static_cast<int64_t>(window.count()))
              .empty();
}

void report_health(pqxx::connection& conn, Processor p, bool failing, int64_t min_response_ms) {
  pqxx::nontransaction tx(conn);
  tx.exec_prepared("eng.report_health", static_cast<int>(p), failing, min_response_ms);
}

void read_health(pqxx::connection& conn, HealthRow out[2]) {
  pqxx::nontransaction tx(conn);
  for (const auto& row : tx.exec_prepared("eng.read_health")) {
    int p = row[0].as<int>();
    if (p != 0 && p != 1) continue;
    out[p].failing = row[1].as<bool>();
    out[p].min_response_ms = row[2].as<int64_t>();
    out[p].known = row[3].as<bool>();
    out[p].age_ms = row[4].as<int64_t>();
  }
}

}  // namespace engine::store
