// The PGMQ-style queue against a real PostgreSQL: every operation, concurrency, visibility
// timeouts, dead letters, crash of a consumer mid-transaction, bad input, the plans of its
// statements at any table size, its counters, and wake-ups across processes.
#include <doctest/doctest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <set>
#include <thread>

#include <fmt/format.h>

#include "queue/queue.h"
#include "tests/support/pg_cluster.h"

using namespace std::chrono_literals;
using pgq::Queue;

namespace {

int64_t scalar(pqxx::connection& c, const std::string& sql) {
  pqxx::nontransaction tx(c);
  return tx.exec(sql)[0][0].as<int64_t>();
}

void exec(pqxx::connection& c, const std::string& sql) {
  pqxx::nontransaction tx(c);
  tx.exec(sql);
}

std::string explain(pqxx::connection& c, const std::string& sql) {
  pqxx::nontransaction tx(c);
  std::string out;
  for (const auto& row : tx.exec("EXPLAIN " + sql)) out += row[0].as<std::string>() + "\n";
  return out;
}

// The plan of each prepared statement of queue `q` on connection `c` (as cached there), checked
// to reach the queue table only through its indexes: no sequential scan of it, no bitmap scan of
// the vt index (it cannot give the order, so a Sort of every visible message would follow), and
// the reads walking the vt index in order.
void check_plans_use_indexes(pqxx::connection& c, const std::string& q) {
  const std::string t = "pgq_q_" + q;
  auto ex = [&](const std::string& op, const std::string& args) {
    return explain(c, fmt::format("EXECUTE \"pgq.{}.{}\"{}", q, op, args));
  };
  const std::vector<std::pair<std::string, std::string>> statements = {
      {"read", "(100, 0)"},
      {"pop", ""},
      {"delete", "('{1,2}')"},
      {"archive", "('{1,2}')"},
      {"set_vt", "(1, 0)"},
      {"set_vt_batch", "('{1,2}', 0)"},
      {"set_vt_leased", "('{1,2}', 0, '{1,1}')"},
      {"delete_leased", "('{1,2}', '{1,1}')"},
      {"metrics", ""},
  };
  for (const auto& [op, args] : statements) {
    const auto plan = ex(op, args);
    INFO(op, "\n", plan);
    CHECK(plan.find("Seq Scan on " + t) == std::string::npos);
    CHECK(plan.find("Bitmap Index Scan on " + t + "_vt") == std::string::npos);
    CHECK(plan.find("Sort") == std::string::npos);
    if (op == "read" || op == "pop") CHECK(plan.find("Index Scan using " + t + "_vt on " + t) != std::string::npos);
    CHECK(plan.find(t + "_pkey") != std::string::npos);  // every one finds or probes rows by msg_id
  }
}

// What the counters say against what the tables hold (count(*): the test may scan).
void check_counters(pqxx::connection& c, Queue& q) {
  const std::string n = q.name();
  auto m = q.metrics();
  CHECK(m.queue_length == scalar(c, "SELECT count(*) FROM pgq_q_" + n));
  CHECK(m.archived == scalar(c, "SELECT count(*) FROM pgq_a_" + n));
  CHECK(m.dead_letters == scalar(c, "SELECT count(*) FROM pgq_d_" + n));
  CHECK(m.oldest_msg_age_ms.has_value() == (m.queue_length > 0));
}

}  // namespace

TEST_CASE("create_queue is idempotent and send/read/delete round-trip") {
  testpg::Schema s;
  pqxx::connection c(s.conninfo);
  pgq::create_queue(c, "jobs");
  pgq::create_queue(c, "jobs");  // second call changes nothing
  Queue q(c, "jobs");
  auto id = q.send(R"({"a": 1})");
  auto msgs = q.read(30s, 10);
  REQUIRE(msgs.size() == 1);
  CHECK(msgs[0].msg_id == id);
  CHECK(msgs[0].read_ct == 1);
  CHECK(msgs[0].message == R"({"a": 1})");
  CHECK(msgs[0].vt_ms > msgs[0].enqueued_at_ms);
  CHECK(q.read(30s, 10).empty());  // hidden by the visibility timeout
  CHECK(q.remove(id));
  CHECK_FALSE(q.remove(id));
  CHECK(q.metrics().queue_length == 0);
}

TEST_CASE("jsonb payload rejects invalid JSON and stores nothing while text accepts any layout") {
  testpg::Schema s;
  pqxx::connection c(s.conninfo);
  pgq::create_queue(c, "j");
  pgq::create_queue(c, "t", {pgq::Payload::text, 0});
  Queue j(c, "j"), t(c, "t");
  CHECK_THROWS_AS(j.send("not json"), pqxx::data_exception);
  CHECK(j.metrics().queue_length == 0);
  t.send("6a1f...;2005");
  CHECK(t.read(1s, 1).at(0).message == "6a1f...;2005");
}

TEST_CASE("send_batch of 1000 messages is one statement in one transaction and keeps order") {
  testpg::Schema s;
  pqxx::connection c(s.conninfo);
  pgq::create_queue(c, "b", {pgq::Payload::text, 0});
  Queue q(c, "b");
  std::vector<std::string> msgs;
  for (int i = 0; i < 1000; ++i) msgs.push_back(fmt::format("m{}{}", i, i % 7 == 0 ? "\"quoted\\" : ""));
  auto ids = q.send_batch(msgs);
  REQUIRE(ids.size() == 1000);
  for (size_t i = 1; i < ids.size(); ++i) CHECK(ids[i] > ids[i - 1]);
  // Every row carries the same inserting transaction id: one autocommitted statement wrote them all.
  CHECK(scalar(c, "SELECT count(DISTINCT xmin::text) FROM pgq_q_b") == 1);
  auto got = q.read(30s, 1000);
  REQUIRE(got.size() == 1000);
  for (size_t i = 0; i < got.size(); ++i) CHECK(got[i].message == msgs[i]);
}

TEST_CASE("two concurrent readers over 10000 messages receive each message exactly once") {
  testpg::Schema s;
  {
    pqxx::connection c(s.conninfo);
    pgq::create_queue(c, "c", {pgq::Payload::text, 0});
    Queue q(c, "c");
    std::vector<std::string> batch(1000, "x");
    for (int i = 0; i < 10; ++i) q.send_batch(batch);
  }
  std::vector<int64_t> seen[2];
  std::vector<std::thread> readers;
  for (int r = 0; r < 2; ++r) {
    readers.emplace_back([&, r] {
      pqxx::connection c(s.conninfo);
      Queue q(c, "c");
      for (;;) {
        auto msgs = q.read(60s, 50);
        if (msgs.empty()) break;
        std::vector<int64_t> ids;
        for (auto& m : msgs) ids.push_back(m.msg_id);
        CHECK(q.remove(ids).size() == ids.size());
        seen[r].insert(seen[r].end(), ids.begin(), ids.end());
      }
    });
  }
  for (auto& t : readers) t.join();
  std::set<int64_t> all(seen[0].begin(), seen[0].end());
  all.insert(seen[1].begin(), seen[1].end());
  CHECK(seen[0].size() + seen[1].size() == 10000);
  CHECK(all.size() == 10000);
  CHECK(seen[0].size() > 0);
  CHECK(seen[1].size() > 0);
}

TEST_CASE("a message not deleted reappears after its visibility timeout with read_ct 2") {
  testpg::Schema s;
  pqxx::connection c(s.conninfo);
  pgq::create_queue(c, "v");
  Queue q(c, "v");
  auto id = q.send("1");
  REQUIRE(q.read(200ms, 1).size() == 1);
  CHECK(q.read(200ms, 1).empty());
  std::this_thread::sleep_for(300ms);
  auto again = q.read(200ms, 1);
  REQUIRE(again.size() == 1);
  CHECK(again[0].msg_id == id);
  CHECK(again[0].read_ct == 2);
}

TEST_CASE("send with delay hides the message until the delay has passed") {
  testpg::Schema s;
  pqxx::connection c(s.conninfo);
  pgq::create_queue(c, "d");
  Queue q(c, "d");
  q.send("1", 300ms);
  CHECK(q.read(1s, 1).empty());
  std::this_thread::sleep_for(400ms);
  CHECK(q.read(1s, 1).size() == 1);
}

TEST_CASE("a message read max_reads times goes to the dead-letter table on its next read") {
  testpg::Schema s;
  pqxx::connection c(s.conninfo);
  pgq::create_queue(c, "dl", {pgq::Payload::jsonb, 2});
  Queue q(c, "dl");
  auto keep = q.send("1");
  auto die = q.send("2");
  CHECK(q.read(0ms, 10).size() == 2);  // read_ct 1
  CHECK(q.read(0ms, 10).size() == 2);  // read_ct 2
  q.set_vt(keep, 0ms);
  auto third = q.read(0ms, 10);  // both now at max: both dead-lettered, none handed out
  CHECK(third.empty());
  auto m = q.metrics();
  CHECK(m.queue_length == 0);
  CHECK(m.dead_letters == 2);
  CHECK(scalar(c, "SELECT count(*) FROM pgq_d_dl WHERE msg_id = " + std::to_string(die) + " AND read_ct = 2") == 1);
}

TEST_CASE("pop archive set_vt purge and metrics") {
  testpg::Schema s;
  pqxx::connection c(s.conninfo);
  pgq::create_queue(c, "ops");
  Queue q(c, "ops");
  auto a = q.send("1");
  auto b = q.send("2");
  auto d = q.send("3");
  auto p = q.pop();
  REQUIRE(p);
  CHECK(p->msg_id == a);
  CHECK(q.archive(b));
  CHECK_FALSE(q.archive(b));
  CHECK(scalar(c, "SELECT count(*) FROM pgq_a_ops") == 1);
  REQUIRE(q.read(60s, 1).size() == 1);
  CHECK(q.read(60s, 1).empty());
  auto released = q.set_vt(d, 0ms);
  REQUIRE(released);
  CHECK(q.read(60s, 1).size() == 1);
  CHECK_FALSE(q.set_vt(999999, 0ms));
  q.send("4");
  auto m = q.metrics();
  CHECK(m.queue_length == 2);
  CHECK(m.total_messages == 4);
  CHECK(m.archived == 1);
  REQUIRE(m.oldest_msg_age_ms);
  CHECK(*m.oldest_msg_age_ms >= 0);
  CHECK(q.purge() == 2);
  CHECK(q.metrics().queue_length == 0);
  CHECK_FALSE(q.metrics().oldest_msg_age_ms);
  CHECK_FALSE(q.pop());
}

TEST_CASE("read_with_poll wakes on a send from another thread of the same process") {
  testpg::Schema s;
  pqxx::connection c(s.conninfo);
  pgq::create_queue(c, "w");
  Queue q(c, "w");
  std::thread sender([&] {
    std::this_thread::sleep_for(100ms);
    pqxx::connection c2(s.conninfo);
    Queue(c2, "w").send("1");
  });
  // The poll interval is far longer than the test: only the in-process signal can wake us early.
  auto msgs = q.read_with_poll(30s, 1, 20s, 10s);
  sender.join();
  CHECK(msgs.size() == 1);
  CHECK(q.read_with_poll(30s, 1, 50ms, 10ms).empty());  // times out when nothing comes
}

TEST_CASE("consume commits the consumer's write and the delete together") {
  testpg::Schema s;
  pqxx::connection c(s.conninfo);
  pgq::create_queue(c, "k");
  {
    pqxx::nontransaction tx(c);
    tx.exec("CREATE TABLE done (v text)");
  }
  Queue q(c, "k");
  q.send("1");
  auto msgs = q.read(30s, 1);
  REQUIRE(msgs.size() == 1);
  q.consume({msgs[0].lease()}, [](pqxx::transaction_base& tx) { tx.exec("INSERT INTO done VALUES ('1')"); });
  CHECK(scalar(c, "SELECT count(*) FROM done") == 1);
  CHECK(q.metrics().queue_length == 0);
  // The message is gone: consuming it again changes nothing.
  CHECK_THROWS(
      q.consume({msgs[0].lease()}, [](pqxx::transaction_base& tx) { tx.exec("INSERT INTO done VALUES ('2')"); }));
  CHECK(scalar(c, "SELECT count(*) FROM done") == 1);
}

TEST_CASE("a lease lost to another reader fences every write of its first holder") {
  // Reader A's visibility timeout runs out while A is still alive (stopped, or its database
  // stalled); B reads the message. A's lease (msg_id, read_ct) no longer matches: A can neither
  // extend it, delete it nor consume it, and B's lease still works.
  testpg::Schema s;
  pqxx::connection ca(s.conninfo), cb(s.conninfo);
  pgq::create_queue(ca, "f");
  {
    pqxx::nontransaction tx(ca);
    tx.exec("CREATE TABLE done (v text)");
  }
  Queue a(ca, "f"), b(cb, "f");
  a.send_batch({"1", "2"});
  auto mine = a.read(200ms, 2);
  REQUIRE(mine.size() == 2);
  {
    pqxx::work tx(ca);
    CHECK(a.set_vt(tx, {mine[0].lease(), mine[1].lease()}, 200ms).size() == 2);  // still A's: renewed
    tx.commit();
  }
  std::this_thread::sleep_for(300ms);
  auto theirs = b.read(30s, 1);  // B takes the first one
  REQUIRE(theirs.size() == 1);
  CHECK(theirs[0].read_ct == mine[0].read_ct + 1);
  const auto lost = (theirs[0].msg_id == mine[0].msg_id ? mine[0] : mine[1]).lease();
  const auto kept = (theirs[0].msg_id == mine[0].msg_id ? mine[1] : mine[0]).lease();
  {
    pqxx::work tx(ca);
    CHECK(a.set_vt(tx, {lost, kept}, 30s) == std::vector<int64_t>{kept.msg_id});
    CHECK(a.remove(tx, {lost}).empty());
    tx.commit();
  }
  CHECK_THROWS(a.consume({lost}, [](pqxx::transaction_base& tx) { tx.exec("INSERT INTO done VALUES ('A')"); }));
  b.consume({theirs[0].lease()}, [](pqxx::transaction_base& tx) { tx.exec("INSERT INTO done VALUES ('B')"); });
  a.consume({kept}, [](pqxx::transaction_base& tx) { tx.exec("INSERT INTO done VALUES ('A')"); });
  CHECK(scalar(ca, "SELECT count(*) FROM done WHERE v = 'A'") == 1);
  CHECK(scalar(ca, "SELECT count(*) FROM done WHERE v = 'B'") == 1);
  CHECK(a.metrics().queue_length == 0);
}

TEST_CASE("a lease that ran out while guarded readers stalled is left to its holder for the settle time") {
  // Holder A leases a message; guarded readers (those that take over expired leases) then stop for
  // longer than the stall threshold, as they do when the database itself is frozen, and the
  // lease runs out meanwhile. When they resume, that message is not theirs to take until the
  // settle time has passed (A, alive, renews it first), while a message sent since is taken at
  // once. Without a gap, an expired lease is taken as soon as it runs out.
  testpg::Schema s;
  pqxx::connection ca(s.conninfo), cb(s.conninfo);
  pgq::create_queue(ca, "g");
  Queue a(ca, "g");
  const pgq::Statements& sql = a.statements();
  // Guarded reader B: stall after 1 s without a guarded read, settle 2 s.
  auto guarded = [&](int qty) {
    pqxx::nontransaction tx(cb);
    std::vector<int64_t> ids;
    for (const auto& row : tx.exec(fmt::format("WITH {} SELECT msg_id FROM r ORDER BY msg_id",
                                               sql.read_guarded(std::to_string(qty), "30000", "1000", "2000", "r"))))
      ids.push_back(row[0].as<int64_t>());
    return ids;
  };
  const int64_t held = a.send("{\"m\":\"held\"}");
  auto lease = a.read(500ms, 1);
  REQUIRE(lease.size() == 1);
  CHECK(guarded(10).empty());             // the first guarded read starts the clock; nothing visible
  std::this_thread::sleep_for(1500ms);    // no guarded read for 1.5 s: a stall; A's lease ran out in it
  CHECK(guarded(10).empty());             // reads resume: A's expired lease is still A's
  const int64_t fresh = a.send("{\"m\":\"fresh\"}");  // visible since the reads resumed
  CHECK(guarded(10) == std::vector<int64_t>{fresh});
  for (int i = 0; i < 4; ++i) {  // reads resumed ~0.5 s ago and keep going: still A's to renew
    std::this_thread::sleep_for(100ms);
    CHECK(guarded(10).empty());
  }
  {
    pqxx::work tx(ca);
    CHECK(a.set_vt(tx, {lease[0].lease()}, 300ms) == std::vector<int64_t>{held});  // A renews in time
    tx.commit();
  }
  // A stops renewing: with guarded reads every 100 ms (no gap) it is taken once its vt passes.
  const auto renewed_until = std::chrono::steady_clock::now() + 300ms;
  std::vector<int64_t> got;
  while (got.empty() && std::chrono::steady_clock::now() < renewed_until + 5s) {
    std::this_thread::sleep_for(100ms);
    got = guarded(10);
  }
  CHECK(got == std::vector<int64_t>{held});
  CHECK(std::chrono::steady_clock::now() < renewed_until + 1500ms);  // not held back by a settle time
  // The plain read knows nothing of the clock.
  CHECK(scalar(ca, "SELECT count(*) FROM pgq_meta WHERE queue_name = 'g' AND resumed_at IS NOT NULL") == 1);
}

TEST_CASE("a consumer connection killed mid-transaction loses nothing") {
  testpg::Schema s;
  pqxx::connection admin(s.conninfo);
  pgq::create_queue(admin, "kill");
  {
    pqxx::nontransaction tx(admin);
    tx.exec("CREATE TABLE done (v text)");
  }
  Queue producer(admin, "kill");
  producer.send_batch({"1", "2", "3"});

  pqxx::connection consumer(s.conninfo);
  Queue q(consumer, "kill");
  auto msgs = q.read(300ms, 10);
  REQUIRE(msgs.size() == 3);
  std::vector<pgq::Lease> leases;
  for (auto& m : msgs) leases.push_back(m.lease());
  int pid = consumer.backendpid();
  CHECK_THROWS_AS(q.consume(leases,
                            [&](pqxx::transaction_base& tx) {
                              tx.exec("INSERT INTO done VALUES ('work')");
                              pqxx::nontransaction killer(admin);
                              killer.exec("SELECT pg_terminate_backend(" + std::to_string(pid) + ")");
                            }),
                  pqxx::broken_connection);
  CHECK(scalar(admin, "SELECT count(*) FROM done") == 0);
  std::this_thread::sleep_for(400ms);  // past the visibility timeout: all three come back
  pqxx::connection again(s.conninfo);
  Queue q2(again, "kill");
  auto back = q2.read(30s, 10);
  CHECK(back.size() == 3);
  for (auto& m : back) CHECK(m.read_ct == 2);
}

TEST_CASE("bad input gets a clear error and changes nothing") {
  testpg::Schema s;
  pqxx::connection c(s.conninfo);
  for (const char* bad : {"", "Jobs", "1jobs", "jobs; DROP TABLE x", "jo'bs", "a-b", "q\"", "x y",
                          "a_very_long_queue_name_that_is_over_forty_chars"}) {
    CHECK_THROWS_AS(pgq::create_queue(c, bad), pgq::InvalidArgument);
    CHECK_THROWS_AS(Queue(c, bad), pgq::InvalidArgument);
  }
  CHECK(scalar(c, "SELECT count(*) FROM pg_tables WHERE schemaname = current_schema()") == 0);
  CHECK_THROWS_AS(pgq::create_queue(c, "neg", {pgq::Payload::jsonb, -1}), pgq::InvalidArgument);
  CHECK_THROWS_AS(Queue(c, "missing"), pgq::InvalidArgument);
  pgq::create_queue(c, "ok");
  Queue q(c, "ok");
  q.send("1");
  CHECK_THROWS_AS(q.read(-1ms, 1), pgq::InvalidArgument);
  CHECK_THROWS_AS(q.read(1s, 0), pgq::InvalidArgument);
  CHECK_THROWS_AS(q.read(1s, -5), pgq::InvalidArgument);
  CHECK_THROWS_AS(q.send("2", -1ms), pgq::InvalidArgument);
  CHECK_THROWS_AS(q.set_vt(1, -1ms), pgq::InvalidArgument);
  auto m = q.metrics();
  CHECK(m.queue_length == 1);
  CHECK(m.total_messages == 1);
  CHECK(q.read(1s, 5).at(0).read_ct == 1);  // the refused reads did not count
}

TEST_CASE("every statement plans through the indexes in a generic plan made on a fresh never-analyzed queue") {
  testpg::Schema s;
  pqxx::connection c(s.conninfo);
  pgq::create_queue(c, "fresh");
  // The worst case for a cached plan: made now, on the empty table, and kept whatever follows.
  exec(c, "SET plan_cache_mode = force_generic_plan");
  Queue q(c, "fresh");
  check_plans_use_indexes(c, "fresh");
}

TEST_CASE("every statement still plans through the indexes once a drained backlog has been vacuumed") {
  // A vacuum records the row count and invalidates cached plans: the next generic plan is made
  // from what it recorded. After a drain that is an empty table; it keeps its pages
  // (vacuum_truncate off), so a sequential scan does not look free.
  testpg::Schema s;
  pqxx::connection c(s.conninfo);
  pgq::create_queue(c, "drained", {pgq::Payload::text, 0});
  pgq::Statements sql("drained", {pgq::Payload::text, 0});
  // A history the queue goes through: a few messages analyzed once (an ANALYZE that finds no
  // rows later keeps those column statistics), then a backlog, drained. The planner's choice
  // here is a near tie that such details decide.
  auto backlog = [&](int n) {
    exec(c, sql.send(fmt::format("SELECT gen_random_uuid()::text || ' 2005', 0 FROM generate_series(1, {}) g", n)));
  };
  backlog(2000);
  exec(c, "DELETE FROM pgq_q_drained WHERE msg_id > 3");
  exec(c, "VACUUM ANALYZE pgq_q_drained");
  backlog(200000);
  exec(c, "DELETE FROM pgq_q_drained");
  exec(c, "VACUUM ANALYZE pgq_q_drained");
  CHECK(scalar(c, "SELECT reltuples::bigint FROM pg_class WHERE relname = 'pgq_q_drained'") == 0);
  exec(c, "SET plan_cache_mode = force_generic_plan");
  Queue q(c, "drained");
  check_plans_use_indexes(c, "drained");
}

TEST_CASE("a consumer started on an empty never-analyzed queue keeps up while a backlog of 1000000 builds and drains") {
  constexpr int kBacklog = 1000000, kBatch = 1000;
  testpg::Schema s;
  pqxx::connection admin(s.conninfo);
  pgq::create_queue(admin, "big", {pgq::Payload::text, 0});
  // No vacuum during the test: it would re-make the plans from fresh statistics. What is tested
  // is the plan made on the empty table, kept (force_generic_plan) through the whole backlog.
  exec(admin, "ALTER TABLE pgq_q_big SET (autovacuum_enabled = false)");
  pqxx::connection cc(s.conninfo);
  exec(cc, "SET plan_cache_mode = force_generic_plan");
  Queue consumer(cc, "big");
  CHECK(consumer.read(30s, kBatch).empty());  // the generic plans are made now, on the empty table

  // The backlog arrives in one statement, the library's own send (so it also notifies), while the
  // consumer waits.
  std::atomic<bool> sent{false};
  std::thread producer([&] {
    pqxx::connection pc(s.conninfo);
    pgq::Statements sql("big", {pgq::Payload::text, 0});
    exec(pc, sql.send_and_notify(fmt::format("SELECT 'm' || g, 0 FROM generate_series(1, {}) g", kBacklog)));
    sent = true;
  });
  int64_t consumed = 0;
  bool checked_full = false;
  std::vector<double> rates;  // msg/s per 100,000 consumed: reported, not asserted
  auto lap = std::chrono::steady_clock::now();
  while (consumed < kBacklog) {
    auto msgs = consumer.read_with_poll(30s, kBatch, 60s);
    if (msgs.empty()) {
      if (sent) break;  // nothing left, or a plan so slow that 60 s passed: either way, stop
      continue;
    }
    if (!checked_full) {  // the first batch off the full backlog: same cached plans, still on the indexes
      checked_full = true;
      check_plans_use_indexes(cc, "big");
    }
    std::vector<int64_t> ids;
    for (auto& m : msgs) ids.push_back(m.msg_id);
    const auto before = consumed;
    consumed += static_cast<int64_t>(consumer.remove(ids).size());
    if (consumed / 100000 != before / 100000) {
      auto now = std::chrono::steady_clock::now();
      rates.push_back(100000 / std::chrono::duration<double>(now - lap).count());
      lap = now;
    }
  }
  producer.join();
  CHECK(consumed == kBacklog);
  auto m = consumer.metrics();
  CHECK(m.queue_length == 0);
  CHECK(m.total_messages == kBacklog);
  std::string report;
  for (double r : rates) report += fmt::format(" {:.0f}", r);
  MESSAGE("consumer msg/s per 100,000 drained:" << report);
  // What the reads cost the server: a plan that scanned the table would have read millions of rows.
  exec(cc, "SELECT pg_stat_force_next_flush()");  // the consumer's counters reach the shared stats when it goes idle
  CHECK(scalar(admin, "SELECT seq_tup_read FROM pg_stat_user_tables WHERE relname = 'pgq_q_big'") < 1000);
  CHECK(scalar(admin, "SELECT idx_scan FROM pg_stat_user_tables WHERE relname = 'pgq_q_big'") >= 2 * kBacklog / kBatch);
}

TEST_CASE("metrics counters match the tables through every kind of write") {
  testpg::Schema s;
  pqxx::connection c(s.conninfo);
  pgq::create_queue(c, "cnt", {pgq::Payload::text, 2});
  Queue q(c, "cnt");
  check_counters(c, q);
  q.send("a");
  q.send_batch({"b", "c", "d", "e", "f", "g"});
  check_counters(c, q);
  {
    pqxx::work tx(c);  // rolled back: counts nothing
    q.send_batch(tx, {"x", "y"});
    tx.abort();
  }
  check_counters(c, q);
  CHECK(q.metrics().total_messages == 7);
  auto got = q.read(0s, 2);
  REQUIRE(got.size() == 2);
  CHECK(q.remove(got[0].msg_id));
  CHECK(q.archive(got[1].msg_id));
  check_counters(c, q);
  CHECK(q.pop());
  q.read(0s, 10);
  q.read(0s, 10);
  CHECK(q.read(0s, 10).empty());  // read twice each: all dead-lettered now
  check_counters(c, q);
  CHECK(q.metrics().dead_letters == 4);
  // Writers that are not the library: a caller's own DELETE and TRUNCATE, on every table.
  q.send_batch({"h", "i", "j"});
  exec(c, "DELETE FROM pgq_q_cnt WHERE message = 'h'");
  exec(c, "DELETE FROM pgq_d_cnt WHERE msg_id IN (SELECT msg_id FROM pgq_d_cnt LIMIT 1)");
  check_counters(c, q);
  exec(c, "TRUNCATE pgq_a_cnt");
  exec(c, "BEGIN; INSERT INTO pgq_q_cnt (vt, message) VALUES (now(), 'k'); TRUNCATE pgq_q_cnt; COMMIT");
  check_counters(c, q);
  CHECK(q.metrics().queue_length == 0);
  CHECK(q.metrics().archived == 0);
  q.send_batch({"l", "m"});
  CHECK(q.purge() == 2);
  check_counters(c, q);
  CHECK(q.metrics().total_messages == 13);  // 7 + 3 + the raw insert + 2
}

TEST_CASE("a queue without counters counts its tables and create_queue switches counters both ways") {
  testpg::Schema s;
  pqxx::connection c(s.conninfo);
  pgq::create_queue(c, "nc", {pgq::Payload::text, 0, /*counters=*/false});
  CHECK(scalar(c, "SELECT count(*) FROM pg_trigger WHERE tgrelid = 'pgq_q_nc'::regclass") == 0);
  CHECK(scalar(c, "SELECT count(*) FROM pg_class WHERE relname = 'pgq_c_nc'") == 0);
  {
    Queue q(c, "nc");
    CHECK_FALSE(q.options().counters);
    auto ids = q.send_batch({"a", "b", "c"});
    q.archive(ids[0]);
    check_counters(c, q);
    CHECK(q.metrics().queue_length == 2);
    CHECK(q.metrics().total_messages == 3);
  }
  // On: the counters start from what the tables hold, and count from then on.
  pgq::create_queue(c, "nc", {pgq::Payload::text, 0, true});
  {
    pqxx::connection c2(s.conninfo);  // a Queue prepares its statements: one per connection and options
    Queue q(c2, "nc");
    CHECK(q.options().counters);
    CHECK(scalar(c, "SELECT count(*) FROM pg_trigger WHERE tgrelid = 'pgq_q_nc'::regclass") == 3);
    check_counters(c, q);
    q.send("d");
    check_counters(c, q);
    CHECK(q.metrics().queue_length == 3);
  }
  // Off again: triggers, their function and the counter table are gone; metrics still exact.
  pgq::create_queue(c, "nc", {pgq::Payload::text, 0, false});
  pqxx::connection c3(s.conninfo);
  Queue q(c3, "nc");
  CHECK(scalar(c, "SELECT count(*) FROM pg_trigger WHERE tgrelid = 'pgq_q_nc'::regclass") == 0);
  CHECK(scalar(c, "SELECT count(*) FROM pg_proc WHERE proname = 'pgq_count_nc'") == 0);
  q.remove(q.read(30s, 1)[0].msg_id);
  check_counters(c, q);
  CHECK(q.metrics().queue_length == 2);
}

TEST_CASE("metrics counters stay exact with more concurrent writers than counter rows") {
  // 24 writers each holding a transaction open across a send and a delete: more than the 16
  // counter rows, so some must wait for one (the fallback path) instead of taking a free one.
  testpg::Schema s;
  {
    pqxx::connection c(s.conninfo);
    pgq::create_queue(c, "conc", {pgq::Payload::text, 0});
  }
  std::vector<std::thread> writers;
  std::atomic<int> failures{0};
  for (int w = 0; w < 24; ++w) {
    writers.emplace_back([&, w] {
      try {
        pqxx::connection c(s.conninfo);
        Queue q(c, "conc");
        for (int i = 0; i < 20; ++i) {
          pqxx::work tx(c);
          auto ids = q.send_batch(tx, {fmt::format("{}-{}-a", w, i), fmt::format("{}-{}-b", w, i)});
          std::this_thread::sleep_for(2ms);
          q.remove(tx, std::vector<int64_t>{ids[0]});
          tx.commit();
        }
        q.archive(q.send("z"));
      } catch (const std::exception& e) {
        ++failures;
        MESSAGE(e.what());
      }
    });
  }
  for (auto& t : writers) t.join();
  CHECK(failures == 0);
  pqxx::connection c(s.conninfo);
  Queue q(c, "conc");
  check_counters(c, q);
  CHECK(q.metrics().queue_length == 24 * 20);
  CHECK(q.metrics().archived == 24);
  CHECK(q.metrics().total_messages == 24 * 41);
}

TEST_CASE("create_queue brings a queue made by an earlier version up to date") {
  testpg::Schema s;
  pqxx::connection c(s.conninfo);
  pgq::create_queue(c, "old");
  // What the previous version left: no counters, the (vt, msg_id) index, truncating vacuums.
  exec(c, "DROP TABLE pgq_c_old; DROP FUNCTION pgq_count_old() CASCADE; DROP INDEX pgq_q_old_vt;"
          " CREATE INDEX pgq_q_old_vt_idx ON pgq_q_old (vt, msg_id); ALTER TABLE pgq_q_old RESET (vacuum_truncate)");
  exec(c, "INSERT INTO pgq_q_old (vt, message) SELECT now(), to_jsonb(g) FROM generate_series(1, 5) g");
  exec(c, "INSERT INTO pgq_a_old (msg_id, read_ct, enqueued_at, vt, message) VALUES (100, 1, now(), now(), '1')");
  pgq::create_queue(c, "old");
  Queue q(c, "old");
  check_counters(c, q);
  CHECK(q.metrics().queue_length == 5);
  CHECK(q.metrics().archived == 1);
  CHECK(q.metrics().total_messages == 5);
  CHECK(scalar(c, "SELECT count(*) FROM pg_indexes WHERE tablename = 'pgq_q_old' AND indexname = 'pgq_q_old_vt_idx'") == 0);
  CHECK(scalar(c, "SELECT count(*) FROM pg_class WHERE relname = 'pgq_q_old' AND 'vacuum_truncate=false' = ANY(reloptions)") == 1);
  q.send("6");
  check_counters(c, q);
}

TEST_CASE("archive moves messages in one statement so a failed insert leaves them queued") {
  testpg::Schema s;
  pqxx::connection c(s.conninfo);
  pgq::create_queue(c, "arch");
  Queue q(c, "arch");
  auto a = q.send("1");
  auto b = q.send("2");
  // A row already archived under b's id: the insert into the archive fails, so must the delete.
  exec(c, fmt::format("INSERT INTO pgq_a_arch (msg_id, read_ct, enqueued_at, vt, message) VALUES ({}, 0, now(), now(), '0')", b));
  CHECK_THROWS_AS(q.archive(std::vector<int64_t>{a, b}), pqxx::unique_violation);
  CHECK(scalar(c, "SELECT count(*) FROM pgq_q_arch") == 2);
  check_counters(c, q);
  CHECK(q.archive(std::vector<int64_t>{a}) == std::vector<int64_t>{a});
  CHECK(scalar(c, "SELECT count(*) FROM pgq_q_arch") == 1);
  check_counters(c, q);
}

TEST_CASE("read_with_poll wakes on a send committed by another process") {
  testpg::Schema s;
  pqxx::connection c(s.conninfo);
  pgq::create_queue(c, "xp");
  Queue q(c, "xp");
  pid_t pid = fork();
  if (pid == 0) {  // the sender: its own process and connection; _exit, so no destructor stops the cluster
    try {
      std::this_thread::sleep_for(300ms);
      pqxx::connection c2(s.conninfo);
      Queue(c2, "xp").send("1");
      _exit(0);
    } catch (...) {
      _exit(1);
    }
  }
  REQUIRE(pid > 0);
  auto start = std::chrono::steady_clock::now();
  // The poll interval is far longer than the test: only the NOTIFY can wake the reader early.
  auto msgs = q.read_with_poll(30s, 1, 20s, 10s);
  auto waited = std::chrono::steady_clock::now() - start;
  int status = 0;
  waitpid(pid, &status, 0);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  CHECK(msgs.size() == 1);
  CHECK(waited < 5s);
}

TEST_CASE("read_with_poll finds a message that no notification announced by polling") {
  testpg::Schema s;
  pqxx::connection c(s.conninfo);
  pgq::create_queue(c, "quiet");
  Queue q(c, "quiet");
  std::thread writer([&] {
    std::this_thread::sleep_for(300ms);
    pqxx::connection c2(s.conninfo);
    exec(c2, "INSERT INTO pgq_q_quiet (vt, message) VALUES (clock_timestamp(), '1')");  // no NOTIFY
  });
  auto start = std::chrono::steady_clock::now();
  auto msgs = q.read_with_poll(30s, 1, 20s, 100ms);
  auto waited = std::chrono::steady_clock::now() - start;
  writer.join();
  CHECK(msgs.size() == 1);
  CHECK(waited < 10s);  // the 100 ms poll found it, not the 20 s deadline
}

TEST_CASE("a sender with notify_on_send off wakes no reader and the poll still finds its message") {
  testpg::Schema s;
  pqxx::connection c(s.conninfo);
  pgq::create_queue(c, "off");
  Queue q(c, "off");
  std::thread sender([&] {
    std::this_thread::sleep_for(100ms);
    pqxx::connection c2(s.conninfo);
    Queue quiet(c2, "off");
    quiet.notify_on_send(false);
    quiet.send("1");
  });
  auto start = std::chrono::steady_clock::now();
  auto msgs = q.read_with_poll(30s, 1, 20s, 2s);
  auto waited = std::chrono::steady_clock::now() - start;
  sender.join();
  CHECK(msgs.size() == 1);
  CHECK(waited >= 1900ms);  // not woken: found by the 2 s poll
  CHECK(waited < 15s);
}
