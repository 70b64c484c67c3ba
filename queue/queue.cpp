#include "queue/queue.h"

#include <fmt/format.h>

#include <algorithm>

#include "queue/pg_array.h"

namespace pgq {
namespace {

// Tuning, in one place.
namespace tuning {
// Autovacuum of the live table after this many dead or inserted rows, whatever its size: every
// message is a row in and a row out, so a fraction of a table that is nearly always empty would
// mean "never" and then "all at once". Each vacuum also records the row count, which is what the
// planner's estimates start from (and it invalidates cached plans).
constexpr int kVacuumThreshold = 1000;
// The statements compare with parameters, estimated by default selectivities, not the column
// statistics: analyze rarely.
constexpr int kAnalyzeThreshold = 1000000;
// Counter rows: a writer takes a free one (SKIP LOCKED), so up to this many transactions writing
// the queue at once never wait on each other for the counters. metrics() sums them all.
constexpr int kCounterShards = 16;
}  // namespace tuning

std::string live(std::string_view n) { return fmt::format("pgq_q_{}", n); }
std::string archive_table(std::string_view n) { return fmt::format("pgq_a_{}", n); }
std::string dead(std::string_view n) { return fmt::format("pgq_d_{}", n); }
std::string counters(std::string_view n) { return fmt::format("pgq_c_{}", n); }
std::string count_fn(std::string_view n) { return fmt::format("pgq_count_{}", n); }

void check_duration(std::chrono::milliseconds d, const char* what) {
  if (d.count() < 0) throw InvalidArgument(fmt::format("pgq: {} must not be negative", what));
}

// Columns every read-like statement returns, in to_messages() order; `m` is the queue table's alias.
constexpr const char* kCols =
    "m.msg_id, m.read_ct, (extract(epoch from m.enqueued_at) * 1000)::bigint,"
    " (extract(epoch from m.vt) * 1000)::bigint, m.message::text";

// The visible messages, those visible the longest first, locked for this statement; concurrent
// readers skip each other's. The time bound is a filter (clock_timestamp() is volatile), not an
// index condition, on purpose: then the only use of the vt index is this ordered walk, which
// stops at the LIMIT. With a condition, the planner could also fetch every visible message by a
// bitmap scan and Sort them, and at the estimates of a vacuumed, drained table (about one row)
// that costs the same as the walk: it was chosen, even with enable_seqscan off, and the next
// backlog would be sorted whole on every read. The price: a read that finds fewer than qty
// visible messages walks on through the leased ones behind them (bench/README.md).
std::string candidates(std::string_view table, std::string_view cols, std::string_view qty,
                       std::string_view also = {}) {
  return fmt::format("SELECT {c} FROM {q} WHERE vt <= clock_timestamp(){a} ORDER BY vt LIMIT {n}"
                     " FOR UPDATE SKIP LOCKED",
                     fmt::arg("c", cols), fmt::arg("q", table), fmt::arg("n", qty),
                     fmt::arg("a", also.empty() ? std::string() : fmt::format(" AND ({})", also)));
}

// The counting trigger function of a queue: statement-level, so one count and one counter row
// update per statement, whoever writes (our statements, a caller's own DELETE, TRUNCATE). `c` is
// the schema-qualified counter table (a trigger runs with the writer's search_path).
std::string count_function_sql(const std::string& fn, const std::string& c) {
  auto set = [&](std::string_view where) {
    return fmt::format(
        "UPDATE {c} AS c SET live = live + CASE WHEN k = 'live' THEN d ELSE 0 END,"
        " sent = sent + CASE WHEN k = 'live' AND TG_OP = 'INSERT' THEN d ELSE 0 END,"
        " dead = dead + CASE WHEN k = 'dead' THEN d ELSE 0 END,"
        " archived = archived + CASE WHEN k = 'archived' THEN d ELSE 0 END {w};",
        fmt::arg("c", c), fmt::arg("w", where));
  };
  return fmt::format(
      "CREATE OR REPLACE FUNCTION {fn}() RETURNS trigger LANGUAGE plpgsql AS $pgq$\n"
      "DECLARE\n  d bigint;\n  k text := TG_ARGV[0];\n"
      "BEGIN\n"
      // TRUNCATE holds an ACCESS EXCLUSIVE lock: no other writer of the table is in flight, so
      // what the counters say (committed, plus our own) is what it removed.
      "  IF TG_OP = 'TRUNCATE' THEN\n"
      "    SELECT -coalesce(sum(CASE k WHEN 'live' THEN live WHEN 'dead' THEN dead ELSE archived END), 0)"
      " INTO d FROM {c};\n"
      "  ELSE\n"
      "    SELECT count(*) INTO d FROM changed;\n"
      "    IF TG_OP = 'DELETE' THEN d := -d; END IF;\n"
      "  END IF;\n"
      "  IF d = 0 THEN RETURN NULL; END IF;\n"
      // Any counter row nobody else holds: writers never queue behind each other's commits.
      "  WITH s AS (SELECT shard FROM {c} LIMIT 1 FOR UPDATE SKIP LOCKED) {free}\n"
      "  IF NOT FOUND THEN\n"  // every row is held: wait for one
      "    {any}\n"
      "  END IF;\n"
      "  RETURN NULL;\n"
      "END $pgq$",
      fmt::arg("fn", fn), fmt::arg("c", c), fmt::arg("free", set("FROM s WHERE c.shard = s.shard")),
      fmt::arg("any", set(fmt::format("WHERE c.shard = pg_backend_pid() % {}", tuning::kCounterShards))));
}

}  // namespace

void validate_name(std::string_view name) {
  if (name.empty() || name.size() > 40) throw InvalidArgument("pgq: queue name must be 1 to 40 characters");
  for (size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    bool ok = (c >= 'a' && c <= 'z') || c == '_' || (i > 0 && c >= '0' && c <= '9');
    if (!ok) throw InvalidArgument(fmt::format("pgq: queue name '{}' may hold only [a-z0-9_], not starting with a digit", name));
  }
}

void create_queue(pqxx::connection& conn, std::string_view name, QueueOptions opts) {
  validate_name(name);
  if (opts.max_reads < 0) throw InvalidArgument("pgq: max_reads must not be negative");
  const char* type = opts.payload == Payload::jsonb ? "jsonb" : "text";
  const std::string q = live(name), a = archive_table(name), d = dead(name), c = counters(name);
  pqxx::work tx(conn);
  // Serialise concurrent creators (two engine instances starting together): CREATE ... IF NOT
  // EXISTS alone still races on the catalog.
  tx.exec("SELECT pg_advisory_xact_lock(hashtext('pgq_create_queue'))");
  tx.exec(
      "CREATE TABLE IF NOT EXISTS pgq_meta ("
      " queue_name text PRIMARY KEY, payload text NOT NULL, max_reads int NOT NULL,"
      " created_at timestamptz NOT NULL DEFAULT clock_timestamp())");
  // The guarded readers' clock (Statements::read_guarded); also for a table of an earlier version.
  tx.exec("ALTER TABLE pgq_meta ADD COLUMN IF NOT EXISTS last_read_at timestamptz,"
          " ADD COLUMN IF NOT EXISTS resumed_at timestamptz");
  tx.exec(fmt::format(
      "CREATE TABLE IF NOT EXISTS {q} ("
      " msg_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
      " read_ct int NOT NULL DEFAULT 0,"
      " enqueued_at timestamptz NOT NULL DEFAULT clock_timestamp(),"
      " vt timestamptz NOT NULL,"
      " message {t} NOT NULL)",
      fmt::arg("q", q), fmt::arg("t", type)));
  // Also for a table made by an earlier version. vacuum_truncate off: a drained queue keeps its
  // pages, so the planner, which scales the last recorded rows-per-page by the current size,
  // does not see an empty one-page table (where a sequential scan is cheapest, for every
  // statement shape) just before the next backlog fills it; truncating also takes an ACCESS
  // EXCLUSIVE lock that stalls every reader and writer of a hot queue.
  tx.exec(fmt::format(
      "ALTER TABLE {q} SET (vacuum_truncate = false,"
      " autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = {v},"
      " autovacuum_vacuum_insert_scale_factor = 0, autovacuum_vacuum_insert_threshold = {v},"
      " autovacuum_analyze_scale_factor = 0, autovacuum_analyze_threshold = {an})",
      fmt::arg("q", q), fmt::arg("v", tuning::kVacuumThreshold), fmt::arg("an", tuning::kAnalyzeThreshold)));
  // Reads take the oldest VISIBLE messages in vt order, straight off this index: they touch only
  // the rows they return, however many messages are leased (hidden) or delayed. On vt alone: with
  // msg_id as a second column, lookups by msg_id could (and at small row estimates did) pick a
  // full scan of this index over the primary key. Earlier versions made it on (vt, msg_id).
  tx.exec(fmt::format("CREATE INDEX IF NOT EXISTS {q}_vt ON {q} (vt)", fmt::arg("q", q)));
  tx.exec(fmt::format("DROP INDEX IF EXISTS {q}_vt_idx", fmt::arg("q", q)));
  for (const auto& table : {a, d}) {
    tx.exec(fmt::format(
        "CREATE TABLE IF NOT EXISTS {a} ("
        " msg_id bigint PRIMARY KEY, read_ct int NOT NULL, enqueued_at timestamptz NOT NULL,"
        " vt timestamptz NOT NULL, moved_at timestamptz NOT NULL DEFAULT clock_timestamp(),"
        " message {t} NOT NULL)",
        fmt::arg("a", table), fmt::arg("t", type)));
  }
  tx.exec("ALTER TABLE pgq_meta ADD COLUMN IF NOT EXISTS counters boolean NOT NULL DEFAULT true");
  const bool counted = !tx.exec(fmt::format("SELECT to_regclass('{}')", c))[0][0].is_null();
  if (counted && !opts.counters) {
    // Switched off: the triggers go with the function they call, and the counter table.
    const std::string schema = tx.quote_name(tx.exec("SELECT current_schema()")[0][0].as<std::string>());
    tx.exec(fmt::format("DROP FUNCTION {}.{}() CASCADE", schema, count_fn(name)));
    tx.exec(fmt::format("DROP TABLE {}.{}", schema, c));
  }
  if (!counted && opts.counters) {
    // Counters for metrics(), kept by statement-level triggers in the writing statement itself.
    // No index: every update is HOT, and the table never holds more than kCounterShards rows.
    const std::string schema = tx.quote_name(tx.exec("SELECT current_schema()")[0][0].as<std::string>());
    const std::string qc = schema + "." + c, fn = schema + "." + count_fn(name);
    tx.exec(fmt::format("CREATE TABLE {} (shard int NOT NULL, live bigint NOT NULL, sent bigint NOT NULL,"
                        " dead bigint NOT NULL, archived bigint NOT NULL)",
                        qc));
    // A queue made by an earlier version starts from its contents, counted while nobody writes.
    tx.exec(fmt::format("LOCK TABLE {}, {}, {} IN SHARE MODE", q, a, d));
    tx.exec(fmt::format(
        "INSERT INTO {c} SELECT g, CASE WHEN g = 0 THEN l ELSE 0 END, CASE WHEN g = 0 THEN s ELSE 0 END,"
        " CASE WHEN g = 0 THEN dl ELSE 0 END, CASE WHEN g = 0 THEN ar ELSE 0 END"
        " FROM generate_series(0, {n} - 1) g,"
        " (SELECT (SELECT count(*) FROM {q}) l, coalesce(pg_sequence_last_value('{q}_msg_id_seq'::regclass), 0) s,"
        "   (SELECT count(*) FROM {d}) dl, (SELECT count(*) FROM {a}) ar) x",
        fmt::arg("c", qc), fmt::arg("n", tuning::kCounterShards), fmt::arg("q", q), fmt::arg("d", d),
        fmt::arg("a", a)));
    tx.exec(count_function_sql(fn, qc));
    for (auto [table, kind] : {std::pair{q, "live"}, {a, "archived"}, {d, "dead"}}) {
      tx.exec(fmt::format("CREATE TRIGGER pgq_count_insert AFTER INSERT ON {t} REFERENCING NEW TABLE AS changed"
                          " FOR EACH STATEMENT EXECUTE FUNCTION {f}('{k}')",
                          fmt::arg("t", table), fmt::arg("f", fn), fmt::arg("k", kind)));
      tx.exec(fmt::format("CREATE TRIGGER pgq_count_delete AFTER DELETE ON {t} REFERENCING OLD TABLE AS changed"
                          " FOR EACH STATEMENT EXECUTE FUNCTION {f}('{k}')",
                          fmt::arg("t", table), fmt::arg("f", fn), fmt::arg("k", kind)));
      tx.exec(fmt::format("CREATE TRIGGER pgq_count_truncate AFTER TRUNCATE ON {t}"
                          " FOR EACH STATEMENT EXECUTE FUNCTION {f}('{k}')",
                          fmt::arg("t", table), fmt::arg("f", fn), fmt::arg("k", kind)));
    }
  }
  tx.exec_params("INSERT INTO pgq_meta (queue_name, payload, max_reads, counters) VALUES ($1, $2, $3, $4)"
                 " ON CONFLICT (queue_name) DO UPDATE SET counters = EXCLUDED.counters",
                 std::string(name), std::string(type), opts.max_reads, opts.counters);
  tx.commit();
}

void drop_queue(pqxx::connection& conn, std::string_view name) {
  validate_name(name);
  pqxx::work tx(conn);
  tx.exec("SELECT pg_advisory_xact_lock(hashtext('pgq_create_queue'))");
  tx.exec(fmt::format("DROP TABLE IF EXISTS {}, {}, {}, {}", live(name), archive_table(name), dead(name),
                      counters(name)));
  tx.exec(fmt::format("DROP FUNCTION IF EXISTS {}()", count_fn(name)));
  if (!tx.exec("SELECT to_regclass('pgq_meta')")[0][0].is_null())
    tx.exec_params("DELETE FROM pgq_meta WHERE queue_name = $1", std::string(name));
  tx.commit();
}

Statements::Statements(std::string_view name, const QueueOptions& opts)
    : name_(name),
      table_(live(name)),
      dead_(dead(name)),
      archive_(archive_table(name)),
      counters_(counters(name)),
      channel_(fmt::format("pgq_{}", name)),
      type_(opts.payload == Payload::jsonb ? "jsonb" : "text"),
      max_reads_(opts.max_reads),
      counted_(opts.counters) {
  validate_name(name);
}

namespace {
std::string vt_after(std::string_view ms_expr) {
  return fmt::format("clock_timestamp() + ({})::bigint * interval '1 millisecond'", ms_expr);
}
}  // namespace

std::string Statements::send(std::string_view rows_select) const {
  return fmt::format("INSERT INTO {} (vt, message) SELECT {}, s.m::{} FROM ({}) AS s(m, vt_ms) RETURNING msg_id, message::text",
                     table_, vt_after("s.vt_ms"), type_, rows_select);
}

std::string Statements::send_and_notify(std::string_view rows_select) const {
  // The uncorrelated subquery runs once, and only when the INSERT returned rows.
  return fmt::format(
      "WITH ins AS ({send}) SELECT msg_id, message FROM ins"
      " WHERE (SELECT true FROM pg_notify('{ch}', '') WHERE EXISTS (SELECT FROM ins))",
      fmt::arg("send", send(rows_select)), fmt::arg("ch", channel_));
}

std::string Statements::notify() const { return fmt::format("SELECT pg_notify('{}', '')", channel_); }

std::string Statements::metrics() const {
  // The oldest message is one probe of the primary key: msg_id and enqueued_at are taken together
  // at insert, so the smallest id is the oldest message (to within the microseconds two
  // concurrent inserts may interleave).
  const std::string oldest = fmt::format(
      "(SELECT (extract(epoch from clock_timestamp() - enqueued_at) * 1000)::bigint FROM {} ORDER BY msg_id LIMIT 1)",
      table_);
  // Without counters: counted, O(n); sent is the msg_id sequence (rolled-back sends included).
  if (!counted_)
    return fmt::format(
        "SELECT (SELECT count(*) FROM {q}), {oldest},"
        " coalesce(pg_sequence_last_value('{q}_msg_id_seq'::regclass), 0),"
        " (SELECT count(*) FROM {d}), (SELECT count(*) FROM {a})",
        fmt::arg("q", table_), fmt::arg("oldest", oldest), fmt::arg("d", dead_), fmt::arg("a", archive_));
  // Counters summed over their shards.
  return fmt::format(
      "SELECT c.live, {oldest}, c.sent, c.dead, c.archived"
      " FROM (SELECT coalesce(sum(live), 0)::bigint AS live, coalesce(sum(sent), 0)::bigint AS sent,"
      "   coalesce(sum(dead), 0)::bigint AS dead, coalesce(sum(archived), 0)::bigint AS archived FROM {c}) c",
      fmt::arg("oldest", oldest), fmt::arg("c", counters_));
}

// Statements find rows by msg_id = ANY(array) on the primary key, whose estimate comes from the
// array (a parameter counts as 10 elements), not from the table's statistics; reads walk the vt
// index (see candidates()). Joining the queue table to a set instead (UPDATE ... FROM cand) let a
// generic plan made while the table was small hash-join against a sequential scan of it, and
// keep doing so as the backlog grew. What no shape changes: when the last vacuum saw a table of a
// few pages, a sequential scan IS the cheapest plan for all of them, and a generic plan made then
// lasts until the next vacuum (bench/README.md).
std::string Statements::read(std::string_view qty, std::string_view vt_ms) const {
  return fmt::format("WITH {} SELECT * FROM pgq_read", read_ctes(qty, vt_ms, "pgq_read", "", ""));
}

// The queue's row in pgq_meta is the readers' shared clock: last_read_at is when a guarded read
// last ran, resumed_at when such reads resumed after a gap longer than stall_ms. Leases whose vt
// passed before resumed_at ran out during the gap, when their holders may have been unable to
// renew them; they are skipped until settle_ms after resumed_at. The row lock serialises guarded
// readers for the length of one read; read() never touches it. A data-modifying CTE, so it runs
// (at the top level: PostgreSQL allows no such CTE deeper) whether or not anything is visible.
std::string Statements::read_guarded(std::string_view qty, std::string_view vt_ms, std::string_view stall_ms,
                                     std::string_view settle_ms, std::string_view alias) const {
  const std::string clock = fmt::format(
      "pgq_clk AS (UPDATE pgq_meta SET resumed_at = CASE WHEN last_read_at IS NULL OR resumed_at IS NULL"
      "   OR last_read_at < clock_timestamp() - ({stall})::bigint * interval '1 millisecond'"
      "   THEN clock_timestamp() ELSE resumed_at END, last_read_at = clock_timestamp()"
      "   WHERE queue_name = '{name}' RETURNING resumed_at), ",
      fmt::arg("stall", stall_ms), fmt::arg("name", name_));
  const std::string since = "coalesce((SELECT resumed_at FROM pgq_clk), '-infinity')";
  return read_ctes(qty, vt_ms, alias, clock,
                   fmt::format("vt >= {s} OR {s} <= clock_timestamp() - ({settle})::bigint * interval '1 millisecond'",
                               fmt::arg("s", since), fmt::arg("settle", settle_ms)));
}

std::string Statements::read_ctes(std::string_view qty, std::string_view vt_ms, std::string_view alias,
                                  std::string_view first_ctes, std::string_view also) const {
  // With max_reads set, candidates already read that often move to the dead-letter table instead.
  std::string dead_cte, alive;
  if (max_reads_ > 0) {
    dead_cte = fmt::format(
        ", pgq_gone AS (DELETE FROM {q} WHERE msg_id = ANY(ARRAY(SELECT msg_id FROM pgq_cand WHERE read_ct >= {m}))"
        "   RETURNING {q}.*)"
        ", pgq_dl AS (INSERT INTO {d} (msg_id, read_ct, enqueued_at, vt, message)"
        "   SELECT msg_id, read_ct, enqueued_at, vt, message FROM pgq_gone)",
        fmt::arg("q", table_), fmt::arg("d", dead_), fmt::arg("m", max_reads_));
    alive = fmt::format(" WHERE read_ct < {}", max_reads_);
  }
  return fmt::format(
      "{first}pgq_cand AS ({cand}){dead},"
      " {alias}(msg_id, read_ct, enqueued_ms, vt_ms, message) AS ("
      "UPDATE {q} AS m SET vt = {vt}, read_ct = m.read_ct + 1"
      " WHERE m.msg_id = ANY(ARRAY(SELECT msg_id FROM pgq_cand{alive})) RETURNING {cols})",
      fmt::arg("first", first_ctes), fmt::arg("cand", candidates(table_, "msg_id, read_ct", qty, also)),
      fmt::arg("q", table_), fmt::arg("alias", alias), fmt::arg("dead", dead_cte), fmt::arg("vt", vt_after(vt_ms)),
      fmt::arg("alive", alive), fmt::arg("cols", kCols));
}

// Fenced writes: the ids' own = ANY condition drives the scan of the queue table (the key
// lookup); the join to the leases only checks read_ct on the rows found.
std::string Statements::set_vt_leased(std::string_view ids, std::string_view read_cts, std::string_view vt_ms) const {
  return fmt::format(
      "UPDATE {q} AS m SET vt = {vt} FROM unnest({ids}::bigint[], {cts}::int[]) AS l(id, ct)"
      " WHERE m.msg_id = ANY({ids}::bigint[]) AND m.msg_id = l.id AND m.read_ct = l.ct RETURNING m.msg_id",
      fmt::arg("q", table_), fmt::arg("vt", vt_after(vt_ms)), fmt::arg("ids", ids), fmt::arg("cts", read_cts));
}

std::string Statements::remove_leased(std::string_view ids, std::string_view read_cts) const {
  return fmt::format(
      "DELETE FROM {q} AS m USING unnest({ids}::bigint[], {cts}::int[]) AS l(id, ct)"
      " WHERE m.msg_id = ANY({ids}::bigint[]) AND m.msg_id = l.id AND m.read_ct = l.ct RETURNING m.msg_id",
      fmt::arg("q", table_), fmt::arg("ids", ids), fmt::arg("cts", read_cts));
}

std::string Statements::remove(std::string_view ids) const {
  return fmt::format("DELETE FROM {} WHERE msg_id = ANY({}::bigint[]) RETURNING msg_id", table_, ids);
}

std::string Statements::archive(std::string_view ids) const {
  return fmt::format(
      "WITH gone AS (DELETE FROM {q} WHERE msg_id = ANY({ids}::bigint[]) RETURNING *)"
      " INSERT INTO {a} (msg_id, read_ct, enqueued_at, vt, message)"
      " SELECT msg_id, read_ct, enqueued_at, vt, message FROM gone RETURNING msg_id",
      fmt::arg("q", table_), fmt::arg("a", archive_), fmt::arg("ids", ids));
}

namespace {
QueueOptions options_of(pqxx::connection& conn, const std::string& name) {
  validate_name(name);
  pqxx::nontransaction tx(conn);
  pqxx::result r;
  if (!tx.exec("SELECT to_regclass('pgq_meta')")[0][0].is_null())
    r = tx.exec_params("SELECT payload, max_reads, counters FROM pgq_meta WHERE queue_name = $1", name);
  if (r.empty()) throw InvalidArgument(fmt::format("pgq: queue '{}' does not exist", name));
  QueueOptions o;
  o.payload = r[0][0].as<std::string>() == "jsonb" ? Payload::jsonb : Payload::text;
  o.max_reads = r[0][1].as<int>();
  o.counters = r[0][2].as<bool>();
  return o;
}
}  // namespace

// A LISTEN on the queue's channel for as long as the Queue lives; notifications only need to
// wake await_notification(), which counts them.
class Queue::Listener : public pqxx::notification_receiver {
 public:
  using pqxx::notification_receiver::notification_receiver;
  void operator()(const std::string&, int) override {}
};

Queue::Queue(pqxx::connection& conn, std::string_view name)
    : conn_(conn), name_(name), opts_(options_of(conn, name_)), sql_(name_, opts_) {
  const std::string q = live(name_);
  auto vt_expr = "clock_timestamp() + $2::bigint * interval '1 millisecond'";

  auto prep = [&](std::string_view op, const std::string& sql) {
    conn_.prepare(stmt(op), sql);
    conn_.prepare_now(stmt(op));
  };
  const std::string one = "VALUES ($1::text, $2::bigint)",
                    many = "SELECT m, $2::bigint FROM unnest($1::text[]) WITH ORDINALITY AS u(m, i) ORDER BY i";
  prep("send", sql_.send_and_notify(one));
  prep("send_batch", sql_.send_and_notify(many));
  prep("send_quiet", sql_.send(one));
  prep("send_batch_quiet", sql_.send(many));
  prep("read", sql_.read("$1", "$2"));
  prep("pop", fmt::format("WITH cand AS ({cand})"
                          " DELETE FROM {q} AS m WHERE m.msg_id = ANY(ARRAY(SELECT msg_id FROM cand)) RETURNING {cols}",
                          fmt::arg("cand", candidates(q, "msg_id", "1")), fmt::arg("q", q), fmt::arg("cols", kCols)));
  prep("delete", sql_.remove("$1"));
  prep("archive", sql_.archive("$1"));
  prep("set_vt", fmt::format("UPDATE {q} AS m SET vt = {vt} WHERE m.msg_id = $1 RETURNING {cols}", fmt::arg("q", q),
                             fmt::arg("vt", vt_expr), fmt::arg("cols", kCols)));
  prep("set_vt_batch", fmt::format("UPDATE {} SET vt = {} WHERE msg_id = ANY($1::bigint[]) RETURNING msg_id", q, vt_expr));
  prep("set_vt_leased", sql_.set_vt_leased("$1", "$3", "$2"));
  prep("delete_leased", sql_.remove_leased("$1", "$2"));
  prep("purge", fmt::format("WITH gone AS (DELETE FROM {} RETURNING 1) SELECT count(*) FROM gone", q));
  prep("metrics", sql_.metrics());
  prep("notify", sql_.notify());
}

Queue::~Queue() = default;
Queue::Queue(Queue&&) noexcept = default;

std::string Queue::stmt(std::string_view op) const { return fmt::format("pgq.{}.{}", name_, op); }

void Queue::check_qty(int qty) const {
  if (qty <= 0) throw InvalidArgument("pgq: qty must be positive");
}

std::vector<Message> Queue::to_messages(const pqxx::result& r) const {
  std::vector<Message> out;
  out.reserve(r.size());
  for (const auto& row : r) {
    Message m;
    m.msg_id = row[0].as<int64_t>();
    m.read_ct = row[1].as<int32_t>();
    m.enqueued_at_ms = row[2].as<int64_t>();
    m.vt_ms = row[3].as<int64_t>();
    m.message = row[4].as<std::string>();
    out.push_back(std::move(m));
  }
  // UPDATE ... RETURNING does not keep the CTE's order; hand them out oldest first.
  std::sort(out.begin(), out.end(), [](const Message& x, const Message& y) { return x.msg_id < y.msg_id; });
  return out;
}

int64_t Queue::send(std::string_view message, ms delay) {
  check_duration(delay, "delay");
  pqxx::nontransaction tx(conn_);
  auto r = tx.exec_prepared(stmt(notify_on_send_ ? "send" : "send_quiet"), std::string(message), delay.count());
  return r[0][0].as<int64_t>();
}

std::vector<int64_t> Queue::send_batch(const std::vector<std::string>& messages, ms delay) {
  pqxx::nontransaction tx(conn_);
  return send_batch(tx, messages, delay);
}

std::vector<int64_t> Queue::send_batch(pqxx::transaction_base& tx, const std::vector<std::string>& messages,
                                       ms delay) {
  check_duration(delay, "delay");
  std::vector<int64_t> ids;
  if (messages.empty()) return ids;
  auto r = tx.exec_prepared(stmt(notify_on_send_ ? "send_batch" : "send_batch_quiet"), pg_array(messages), delay.count());
  ids.reserve(r.size());
  for (const auto& row : r) ids.push_back(row[0].as<int64_t>());
  return ids;
}

std::vector<Message> Queue::read(ms vt, int qty) {
  check_duration(vt, "vt");
  check_qty(qty);
  pqxx::nontransaction tx(conn_);
  return to_messages(tx.exec_prepared(stmt("read"), qty, vt.count()));
}

std::vector<Message> Queue::read_with_poll(ms vt, int qty, ms max_wait, ms poll) {
  check_duration(max_wait, "max_wait");
  if (poll.count() <= 0) throw InvalidArgument("pgq: poll must be positive");
  auto deadline = std::chrono::steady_clock::now() + max_wait;
  // Listening before the first read: a send committed after that read started is notified, and a
  // notification that arrives during a read waits in libpq for the next await_notification().
  if (!listener_) listener_ = std::make_unique<Listener>(conn_, sql_.channel());
  for (;;) {
    auto msgs = read(vt, qty);
    auto now = std::chrono::steady_clock::now();
    if (!msgs.empty() || now >= deadline) return msgs;
    auto wait = std::chrono::duration_cast<std::chrono::microseconds>(std::min<std::chrono::steady_clock::duration>(deadline - now, poll));
    conn_.await_notification(static_cast<long>(wait.count() / 1000000), static_cast<long>(wait.count() % 1000000));
  }
}

std::optional<Message> Queue::pop() {
  pqxx::nontransaction tx(conn_);
  auto msgs = to_messages(tx.exec_prepared(stmt("pop")));
  if (msgs.empty()) return std::nullopt;
  return std::move(msgs.front());
}

bool Queue::remove(int64_t msg_id) { return remove(std::vector<int64_t>{msg_id}).size() == 1; }

std::vector<int64_t> Queue::remove(const std::vector<int64_t>& msg_ids) {
  pqxx::nontransaction tx(conn_);
  return remove(tx, msg_ids);
}

std::vector<int64_t> Queue::remove(pqxx::transaction_base& tx, const std::vector<int64_t>& msg_ids) {
  std::vector<int64_t> out;
  if (msg_ids.empty()) return out;
  for (const auto& row : tx.exec_prepared(stmt("delete"), pg_array(msg_ids))) out.push_back(row[0].as<int64_t>());
  return out;
}

bool Queue::archive(int64_t msg_id) { return archive(std::vector<int64_t>{msg_id}).size() == 1; }

std::vector<int64_t> Queue::archive(const std::vector<int64_t>& msg_ids) {
  std::vector<int64_t> out;
  if (msg_ids.empty()) return out;
  // One statement moves the rows between the two tables: atomic on its own.
  pqxx::nontransaction tx(conn_);
  for (const auto& row : tx.exec_prepared(stmt("archive"), pg_array(msg_ids))) out.push_back(row[0].as<int64_t>());
  return out;
}

std::optional<Message> Queue::set_vt(int64_t msg_id, ms vt) {
  check_duration(vt, "vt");
  pqxx::nontransaction tx(conn_);
  auto msgs = to_messages(tx.exec_prepared(stmt("set_vt"), msg_id, vt.count()));
  if (msgs.empty()) return std::nullopt;
  return std::move(msgs.front());
}

std::vector<int64_t> Queue::set_vt(const std::vector<int64_t>& msg_ids, ms vt) {
  pqxx::nontransaction tx(conn_);
  return set_vt(tx, msg_ids, vt);
}

std::vector<int64_t> Queue::set_vt(pqxx::transaction_base& tx, const std::vector<int64_t>& msg_ids, ms vt) {
  check_duration(vt, "vt");
  std::vector<int64_t> out;
  if (msg_ids.empty()) return out;
  for (const auto& row : tx.exec_prepared(stmt("set_vt_batch"), pg_array(msg_ids), vt.count()))
    out.push_back(row[0].as<int64_t>());
  return out;
}

namespace {
std::vector<int64_t> ids_of(const pqxx::result& r) {
  std::vector<int64_t> out;
  out.reserve(r.size());
  for (const auto& row : r) out.push_back(row[0].as<int64_t>());
  return out;
}
std::pair<std::string, std::string> lease_arrays(const std::vector<Lease>& leases) {
  std::vector<int64_t> ids, cts;
  for (const auto& l : leases) {
    ids.push_back(l.msg_id);
    cts.push_back(l.read_ct);
  }
  return {pg_array(ids), pg_array(cts)};
}
}  // namespace

std::vector<int64_t> Queue::set_vt(pqxx::transaction_base& tx, const std::vector<Lease>& leases, ms vt) {
  check_duration(vt, "vt");
  if (leases.empty()) return {};
  auto [ids, cts] = lease_arrays(leases);
  return ids_of(tx.exec_prepared(stmt("set_vt_leased"), ids, vt.count(), cts));
}

std::vector<int64_t> Queue::remove(pqxx::transaction_base& tx, const std::vector<Lease>& leases) {
  if (leases.empty()) return {};
  auto [ids, cts] = lease_arrays(leases);
  return ids_of(tx.exec_prepared(stmt("delete_leased"), ids, cts));
}

int64_t Queue::purge() {
  pqxx::nontransaction tx(conn_);
  return purge(tx);
}

int64_t Queue::purge(pqxx::transaction_base& tx) { return tx.exec_prepared(stmt("purge"))[0][0].as<int64_t>(); }

Metrics Queue::metrics() {
  pqxx::nontransaction tx(conn_);
  auto row = tx.exec_prepared(stmt("metrics"))[0];
  Metrics m;
  m.queue_length = row[0].as<int64_t>();
  if (!row[1].is_null()) m.oldest_msg_age_ms = row[1].as<int64_t>();
  m.total_messages = row[2].as<int64_t>();
  m.dead_letters = row[3].as<int64_t>();
  m.archived = row[4].as<int64_t>();
  return m;
}

void Queue::notify() {
  pqxx::nontransaction tx(conn_);
  tx.exec_prepared(stmt("notify"));
}

}  // namespace pgq
