// The engine's SQL (engine/store.cpp) against a real PostgreSQL, below the HTTP layer: each
// statement's contract, and the fencing that every statement acting on a queued payment obeys.
#include <doctest/doctest.h>

#include <fmt/format.h>

#include <cstdlib>
#include <map>
#include <thread>

#include "engine/store.h"
#include "engine/timefmt.h"
#include "tests/support/pg_cluster.h"

using namespace engine;
using namespace std::chrono_literals;

namespace {

CorrelationId cid(int n) {
  CorrelationId c{};
  REQUIRE(parse_uuid(fmt::format("11111111-2222-4333-8444-{:012d}", n), c));
  return c;
}
std::string ids(std::initializer_list<int> ns) {
  std::vector<CorrelationId> v;
  for (int n : ns) v.push_back(cid(n));
  return store::uuid_array(v);
}
std::string ints(std::initializer_list<int64_t> v) { return store::int_array(std::vector<int64_t>(v)); }

// Payments live in daily partitions around today (sql/006): the tests' requestedAt is today.
const int64_t kReq = now_epoch_ms();

// A connection prepared like the engine's, running the statements with libpqxx.
struct Db {
  testpg::Schema schema;
  pqxx::connection conn{schema.conninfo};
  Db() {
    store::init(schema.conninfo, 2s, 2, 7);
    {
      pqxx::nontransaction tx(conn);
      tx.exec(store::session_setup(true, 5s));
    }
    for (const auto& list : {store::ingress_statements(), store::dispatcher_statements(),
                             store::recorder_statements(), store::reader_statements()})
      for (const auto& [name, sql] : list) {
        conn.prepare(name, sql);
        conn.prepare_now(name);
      }
  }
  template <class... A>
  pqxx::result run(const char* stmt, A&&... args) {
    pqxx::nontransaction tx(conn);
    return tx.exec_prepared(stmt, std::forward<A>(args)...);
  }
  int64_t count(const std::string& sql) {
    pqxx::nontransaction tx(conn);
    return tx.exec(sql)[0][0].as<int64_t>();
  }
  // accept: ids n.., cents, vt per row, route per row, token. Returns, in input order, the msg_id
  // of each payment created, 0 for the others.
  std::vector<int64_t> accept(std::initializer_list<int> ns, std::initializer_list<int64_t> cents,
                              std::initializer_list<int64_t> vt, std::initializer_list<int64_t> route, int64_t token = 7,
                              int64_t requested_at = kReq) {
    auto r = run(store::kAccept, ids(ns), ints(cents), requested_at, ints(vt), ints(route), token);
    std::vector<int64_t> out;
    for (int n : ns) {
      int64_t msg = 0;
      for (const auto& row : r)
        if (row[1].as<std::string>().substr(0, 36) == to_view(cid(n))) msg = row[0].as<int64_t>();
      out.push_back(msg);
    }
    return out;
  }
  // lookup after an accept of token `token`: id -> (amount, created by that accept).
  std::map<int, std::pair<int64_t, bool>> lookup(std::initializer_list<int> ns, std::initializer_list<int64_t> cents,
                                                int64_t token, int64_t requested_at = kReq) {
    std::map<int, std::pair<int64_t, bool>> out;
    for (const auto& row : run(store::kLookup, ids(ns), token, requested_at, ints(cents)))
      for (int n : ns)
        if (row[0].as<std::string>() == to_view(cid(n))) out[n] = {row[1].as<int64_t>(), row[2].as<bool>()};
    return out;
  }
};

}  // namespace

TEST_CASE("init is idempotent and accept creates only new payments and lookup tells duplicate and conflict apart") {
  Db db;
  store::init(db.schema.conninfo, 2s, 2, 7);  // a second instance starting: nothing changes
  auto first = db.accept({1, 2}, {100, 200}, {10000, 0}, {0, -1});
  CHECK(first[0] > 0);  // created, with its queue message
  CHECK(first[1] > 0);
  // The first is leased (hidden) and routed; the second left visible and unrouted.
  CHECK(db.count("SELECT count(*) FROM pgq_q_payments WHERE vt > clock_timestamp()") == 1);
  CHECK(db.count("SELECT count(*) FROM payments WHERE processor = 0") == 1);
  CHECK(db.count("SELECT count(*) FROM payments WHERE processor IS NULL") == 1);

  auto again = db.accept({1, 2, 3}, {100, 201, 300}, {0, 0, 0}, {-1, -1, -1}, 8);
  CHECK(again[0] == 0);  // not created: the ingress looks them up
  CHECK(again[1] == 0);
  CHECK(again[2] > 0);
  CHECK(db.count("SELECT count(*) FROM pgq_q_payments") == 3);
  CHECK(db.count("SELECT count(*) FROM payments WHERE retried") == 0);
  auto seen = db.lookup({1, 2}, {100, 201}, 8);
  REQUIRE(seen.size() == 2);
  CHECK(seen[1] == std::pair<int64_t, bool>{100, false});  // a duplicate: same amount, another accept's
  CHECK(seen[2] == std::pair<int64_t, bool>{200, false});  // a conflict: the amount on record differs
  // A duplicate answered 2XX marks the payment: it can never be withdrawn. A conflict does not.
  CHECK(db.count("SELECT count(*) FROM payments WHERE retried") == 1);
  CHECK(db.count("SELECT count(*) FROM payments WHERE retried AND amount_cents = 100") == 1);
  // One requestedAt per payment, set once.
  CHECK(db.count(fmt::format("SELECT count(*) FROM payments WHERE requested_at = timestamptz 'epoch' + interval '{} ms'", kReq)) == 3);
}

TEST_CASE("the idempotency window is the current UTC day and the one before") {
  Db db;
  const int64_t day = 86400000;
  db.accept({1}, {100}, {0}, {-1}, 7, kReq - day);      // yesterday
  db.accept({2}, {200}, {0}, {-1}, 7, kReq - 2 * day);  // the day before
  auto again = db.accept({1, 2}, {100, 200}, {0, 0}, {-1, -1}, 8, kReq);
  CHECK(again[0] == 0);  // yesterday's: not created again
  CHECK(db.lookup({1}, {100}, 8)[1] == std::pair<int64_t, bool>{100, false});  // ... and answered as a duplicate
  CHECK(again[1] > 0);   // older than the window: a new payment (documented)
  CHECK(db.count("SELECT count(*) FROM payments WHERE correlation_id = '11111111-2222-4333-8444-000000000001'") == 1);
}

TEST_CASE("the accept of one payment writes and returns what the batch accept does for it") {
  const int64_t day = 86400000;
  // The same requests through either statement, each into a fresh schema; returns what each
  // request got back (a message, or none) and then every row of payments and of the queue.
  auto run_all = [&](bool one) {
    Db db;
    std::vector<std::string> out;
    auto accept = [&](int n, int64_t cents, int64_t vt, int64_t route, int64_t token, int64_t req) {
      auto r = one ? db.run(store::kAcceptOne, std::string(to_view(cid(n))), cents, req, vt, route, token)
                   : db.run(store::kAccept, ids({n}), ints({cents}), req, ints({vt}), ints({route}), token);
      REQUIRE(r.size() <= 1);
      out.push_back(r.empty() ? "none" : r[0][1].as<std::string>());
    };
    accept(1, 100, 10000, 0, 7, kReq);    // new, leased to us and routed
    accept(2, 200, 0, -1, 7, kReq);       // new, left visible, unrouted
    accept(1, 100, 0, -1, 8, kReq);       // a duplicate: not created
    accept(2, 201, 0, -1, 8, kReq);       // a conflict: not created
    accept(3, 300, 0, -1, 7, kReq - day);  // yesterday's ...
    accept(3, 300, 0, -1, 8, kReq);       // ... is in the window: not created
    accept(4, 400, 0, -1, 7, kReq - 2 * day);  // two days ago ...
    accept(4, 400, 0, -1, 8, kReq);            // ... is not: a new payment
    pqxx::nontransaction tx(db.conn);
    for (const auto& row : tx.exec("SELECT concat_ws(' ', correlation_id, amount_cents, requested_at, accepted_on,"
                                   " processor, accept_token, retried) FROM payments ORDER BY 1"))
      out.push_back(row[0].as<std::string>());
    for (const auto& row : tx.exec("SELECT concat_ws(' ', message, vt > clock_timestamp() + interval '5 s')"
                                   " FROM pgq_q_payments ORDER BY msg_id"))
      out.push_back(row[0].as<std::string>());
    return out;
  };
  const auto batch = run_all(false), one = run_all(true);
  REQUIRE(batch.size() == 8 + 5 + 5);  // 8 answers, 5 payments, 5 messages
  CHECK(batch[0].substr(0, 36) == to_view(cid(1)));
  CHECK(batch[1].substr(0, 36) == to_view(cid(2)));
  CHECK(batch[2] == "none");
  CHECK(batch[3] == "none");
  CHECK(batch[5] == "none");
  CHECK(batch[7].substr(0, 36) == to_view(cid(4)));
  CHECK(batch[8 + 5].ends_with(" t"));  // the first message hidden for its lease
  CHECK(batch.back().ends_with(" f"));  // the others visible at once
  CHECK(one == batch);
}

TEST_CASE("record is fenced by the lease and idempotent and keeps the exact requestedAt") {
  Db db;
  auto acc = db.accept({1, 2}, {2005, 2005}, {10000, 10000}, {1, 1});
  const int64_t m1 = acc[0], m2 = acc[1];
  // Payment 2's lease is lost: another reader took its message (read_ct 1).
  db.count(fmt::format("WITH u AS (UPDATE pgq_q_payments SET read_ct = 1 WHERE msg_id = {} RETURNING 1) SELECT count(*) FROM u", m2));
  auto rec = db.run(store::kRecord, ints({m1, m2}), ints({0, 0}), ids({1, 2}), ints({1, 1}), ints({2005, 2005}),
                    ints({kReq, kReq}), ints({kReq + 5, kReq + 5}));
  REQUIRE(rec.size() == 2);
  for (const auto& row : rec) {
    if (row[0].as<int64_t>() == m1) CHECK(row[1].as<bool>());        // ours: recorded
    else CHECK_FALSE((row[1].as<bool>() || row[2].as<bool>()));      // lost: nothing written
  }
  CHECK(db.count("SELECT count(*) FROM processed_payments") == 1);
  CHECK(db.count("SELECT count(*) FROM pgq_q_payments") == 1);  // only payment 2's is left
  // The same record again (an in-doubt commit retried): nothing changes, and it says "already".
  auto again = db.run(store::kRecord, ints({m1}), ints({0}), ids({1}), ints({1}), ints({2005}), ints({kReq}), ints({kReq + 9}));
  CHECK_FALSE(again[0][1].as<bool>());
  CHECK(again[0][2].as<bool>());
  CHECK(db.count("SELECT count(*) FROM processed_payments") == 1);
  // Found recorded while still ours (the dispatcher counts it: it must never happen): the message
  // goes, the row that was there stays as it was.
  auto m3 = db.accept({3}, {700}, {10000}, {0})[0];
  db.count(fmt::format("WITH i AS (INSERT INTO processed_payments (correlation_id, processor, amount_cents, requested_at)"
                       " VALUES ('{}', 0, 700, timestamptz 'epoch' + {} * interval '1 millisecond') RETURNING 1)"
                       " SELECT count(*) FROM i",
                       to_view(cid(3)), kReq));
  auto twice = db.run(store::kRecord, ints({m3}), ints({0}), ids({3}), ints({1}), ints({700}), ints({kReq}), ints({kReq + 5}));
  REQUIRE(twice.size() == 1);
  CHECK(twice[0][1].as<bool>());
  CHECK(twice[0][2].as<bool>());
  CHECK(db.count("SELECT count(*) FROM processed_payments WHERE processor = 0") == 1);
  CHECK(db.count("SELECT count(*) FROM pgq_q_payments") == 1);
  // ... and payment 2, never recorded and no longer ours, still reads as lost.
  auto lost = db.run(store::kRecord, ints({m2}), ints({0}), ids({2}), ints({1}), ints({2005}), ints({kReq}), ints({kReq + 5}));
  CHECK_FALSE((lost[0][1].as<bool>() || lost[0][2].as<bool>()));
  db.count("WITH d AS (DELETE FROM processed_payments WHERE processor = 0 RETURNING 1) SELECT count(*) FROM d");
  // Inclusive bounds to the millisecond.
  auto s = db.run(store::kSummary, kReq, kReq, store::kMaxMs);
  REQUIRE(s.size() == 1);
  CHECK(s[0][0].as<int>() == 1);
  CHECK(s[0][2].as<int64_t>() == 2005);
  CHECK(db.run(store::kSummary, kReq + 1, store::kMaxMs, store::kMaxMs).empty());
  CHECK(db.run(store::kSummary, store::kMinMs, kReq - 1, store::kMaxMs).empty());
  // As of an instant: only what the processor had answered by then (its answer reached us at
  // kReq + 5; the retried record above kept that time).
  CHECK(db.run(store::kSummary, store::kMinMs, store::kMaxMs, kReq + 5).size() == 1);
  CHECK(db.run(store::kSummary, store::kMinMs, store::kMaxMs, kReq + 4).empty());
}

TEST_CASE("route and renew change only messages whose lease is still ours") {
  Db db;
  auto acc = db.accept({1, 2}, {100, 200}, {10000, 10000}, {-1, -1});
  const int64_t m1 = acc[0], m2 = acc[1];
  db.count(fmt::format("WITH u AS (UPDATE pgq_q_payments SET read_ct = 1 WHERE msg_id = {} RETURNING 1) SELECT count(*) FROM u", m2));
  auto routed = db.run(store::kRoute, ints({m1, m2}), ints({0, 0}), ids({1, 2}), ints({1, 0}), 10000, ints({kReq, kReq}));
  REQUIRE(routed.size() == 1);
  CHECK(routed[0][0].as<int64_t>() == m1);
  CHECK(db.count("SELECT count(*) FROM payments WHERE processor = 1") == 1);
  CHECK(db.count("SELECT count(*) FROM payments WHERE processor IS NULL") == 1);  // payment 2 untouched
  // Giving leases back (vt 0): ours becomes visible at once, the lost one is not ours to give.
  auto released = db.run(store::kRenew, ints({m1, m2}), ints({0, 0}), 0);
  REQUIRE(released.size() == 1);
  CHECK(db.count("SELECT count(*) FROM pgq_q_payments WHERE vt <= clock_timestamp()") == 1);
}

TEST_CASE("claim leases visible payments with their route and requestedAt") {
  Db db;
  db.accept({1, 2, 3}, {100, 200, 300}, {150, 0, 60000}, {0, -1, 1});
  std::this_thread::sleep_for(200ms);  // payment 1's lease has expired; payment 2 was never leased
  // Settle 0: this test is not about stalls (the guard has its own tests in test_queue).
  auto got = db.run(store::kClaim, 10, 10000, 60000, 0);
  REQUIRE(got.size() == 2);
  for (const auto& row : got) {
    CHECK(row[1].as<int>() == 1);  // read once: the fencing token moved on
    CHECK(row[3].as<int64_t>() == kReq);
    PaymentRequest p;
    REQUIRE(store::decode_message(row[2].as<std::string>(), p));
    CHECK(row[4].as<int>() == (p.amount_cents == 100 ? 0 : -1));  // payment 1 was routed to default
  }
  CHECK(db.run(store::kClaim, 10, 10000, 60000, 0).empty());  // leased to us now
}

TEST_CASE("compensate withdraws only untouched payments of our own in-doubt accept") {
  Db db;
  db.accept({1, 2, 3, 4}, {100, 200, 300, 400}, {10000, 10000, 10000, 10000}, {0, 0, 0, 0}, /*token=*/42);
  db.accept({5}, {500}, {10000}, {0}, /*token=*/43);       // another statement's payment
  db.accept({2}, {200}, {0}, {-1}, /*token=*/44);          // 2: a duplicate POST meanwhile,
  db.lookup({2}, {200}, 44);                                // answered 2XX after this look-up
  db.count("WITH u AS (UPDATE pgq_q_payments SET read_ct = 1 WHERE left(message, 36) = "
           "'11111111-2222-4333-8444-000000000003' RETURNING 1) SELECT count(*) FROM u");  // 3: taken over by another instance
  auto w = db.run(store::kCompensate, ids({1, 2, 3, 5, 9}), 42, kReq);
  CHECK(w[0][0].as<int64_t>() == 1);  // only payment 1
  CHECK(w[0][1].as<int64_t>() == 3);  // 1, 2, 3 were committed by statement 42
  CHECK(db.count("SELECT count(*) FROM payments") == 4);
  CHECK(db.count("SELECT count(*) FROM pgq_q_payments") == 4);
  CHECK(db.count("SELECT count(*) FROM payments WHERE correlation_id = '11111111-2222-4333-8444-000000000001'") == 0);
}

TEST_CASE("lookup tells our in-doubt payments from others and finds their untouched message") {
  Db db;
  db.accept({1}, {100}, {10000}, {0}, 42);
  db.accept({2}, {200}, {10000}, {0}, 43);
  auto r = db.run(store::kLookup, ids({1, 2, 3}), 42, kReq, ints({100, 200, 300}));
  REQUIRE(r.size() == 2);
  for (const auto& row : r) {
    bool first = row[0].as<std::string>().back() == '1';
    CHECK(row[2].as<bool>() == first);
    CHECK_FALSE(row[3].is_null());
    CHECK(row[4].as<int>() == 0);
  }
}

TEST_CASE("only one instance claims a health-check window") {
  Db db;
  pqxx::connection other(db.schema.conninfo);
  for (const auto& [name, sql] : store::dispatcher_statements()) other.prepare(name, sql);
  CHECK(db.run(store::kClaimHealth, 0, 1, 5000).size() == 1);
  {
    pqxx::nontransaction tx(other);
    CHECK(tx.exec_prepared(store::kClaimHealth, 0, 2, 5000).empty());
    CHECK(tx.exec_prepared(store::kClaimHealth, 1, 2, 5000).size() == 1);  // windows are per processor
  }
  db.run(store::kReportHealth, 0, true, 250);
  auto rows = db.run(store::kReadHealth);
  for (const auto& row : rows) {
    if (row[0].as<int>() == 0) {
      CHECK(row[1].as<bool>());
      CHECK(row[2].as<int>() == 250);
      CHECK(row[3].as<bool>());
    } else {
      CHECK_FALSE(row[3].as<bool>());
    }
  }
}

TEST_CASE("in flight in window counts recent routed unrecorded payments of the window") {
  Db db;
  const int64_t now_ms = now_epoch_ms();
  auto acc = db.accept({1, 2, 3}, {100, 200, 300}, {10000, 10000, 0}, {0, 1, -1}, 7, now_ms);
  db.run(store::kRecord, ints({acc[0]}), ints({0}), ids({1}), ints({0}), ints({100}), ints({now_ms}), ints({now_ms}));
  // 2 is routed and not recorded; 1 is recorded; 3 is not routed (it cannot land anywhere yet).
  CHECK(db.run(store::kInFlightInWindow, now_ms - 1000, now_ms + 1000, 3000)[0][0].as<int64_t>() == 1);
  CHECK(db.run(store::kInFlightInWindow, now_ms + 1, now_ms + 1000, 3000)[0][0].as<int64_t>() == 0);
}

TEST_CASE("the in-flight count reads the leased messages, not the history nor a backlog, serially") {
  // Every GET /payments-summary runs it. It once walked every payment of the window (111 ms per GET
  // at 90,000 payments under the final preset), then every message of the queue (1.5 s with
  // 1,000,000 waiting out an outage); now it walks the leased messages and probes their
  // payments: its cost grows neither with the history nor with the backlog.
  Db db;
  std::string plan;
  const int64_t now_ms = now_epoch_ms();
  auto acc = db.accept({1, 2}, {100, 200}, {10000, 10000}, {0, -1}, 7, now_ms);  // 1 routed, 2 not
  REQUIRE(acc[0] > 0);
  {
    pqxx::nontransaction tx(db.conn);
    // 5,000 processed payments of the last minutes: history, no message left.
    tx.exec("INSERT INTO payments (correlation_id, amount_cents, requested_at, accepted_on, processor)"
            " SELECT ('11111111-2222-4333-8444-' || lpad((g + 100)::text, 12, '0'))::uuid, 100, t, (t AT TIME ZONE 'UTC')::date, 0"
            " FROM generate_series(1, 5000) g, LATERAL (SELECT now() - g * interval '10 ms') x(t)");
    // A backlog of 5,000 routed payments of the window waiting in the queue, held by nobody.
    tx.exec("INSERT INTO payments (correlation_id, amount_cents, requested_at, accepted_on, processor)"
            " SELECT ('11111111-2222-4333-8555-' || lpad(g::text, 12, '0'))::uuid, 100, now(), (now() AT TIME ZONE 'UTC')::date, 1"
            " FROM generate_series(1, 5000) g");
    tx.exec(fmt::format("INSERT INTO {} (vt, message) SELECT now() - interval '1 second',"
                        " '11111111-2222-4333-8555-' || lpad(g::text, 12, '0') || ' 100 ' || {} FROM generate_series(1, 5000) g",
                        store::queue().table(), now_ms));
    tx.exec("VACUUM ANALYZE payments");
    tx.exec(fmt::format("VACUUM ANALYZE {}", store::queue().table()));
    // Parallel plans priced as on a table of millions (where a generic plan chose one).
    tx.exec("SET parallel_setup_cost = 0; SET parallel_tuple_cost = 0; SET min_parallel_index_scan_size = 0;"
            " SET min_parallel_table_scan_size = 0");
    for (const auto& row : tx.exec(fmt::format("EXPLAIN (ANALYZE, TIMING OFF) EXECUTE \"{}\"({}, {}, 3600000)",
                                               store::kInFlightInWindow, now_ms - 3600000, now_ms + 1000)))
      plan += row[0].c_str() + std::string("\n");
  }
  CAPTURE(plan);
  CHECK(plan.find("Seq Scan") == std::string::npos);  // the leased messages through the vt index, payments probed
  CHECK(plan.find("Gather") == std::string::npos);   // no parallel workers to start
  CHECK(plan.find("rows=500") == std::string::npos);  // neither the history nor the backlog is walked
  CHECK(db.run(store::kInFlightInWindow, now_ms - 3600000, now_ms + 1000, 3600000)[0][0].as<int64_t>() == 1);
}

TEST_CASE("the summary is an index-only range scan of the days it covers") {
  Db db;
  pqxx::nontransaction tx(db.conn);
  tx.exec("INSERT INTO processed_payments (correlation_id, processor, amount_cents, requested_at)"
          " SELECT ('11111111-2222-4333-8444-' || lpad(g::text, 12, '0'))::uuid, 0, 100,"
          " now() - random() * interval '1 hour' FROM generate_series(1, 5000) g");
  // Index-only needs the visibility map, which a fresh table lacks until vacuumed.
  tx.exec("VACUUM ANALYZE processed_payments");
  for (int64_t span : {int64_t{15000}, int64_t{86400000}}) {  // the checker's 15 s window, a whole day
    std::string plan;
    for (const auto& row : tx.exec(fmt::format("EXPLAIN EXECUTE \"eng.summary\"({}, {}, {})", kReq - span, kReq, kReq)))
      plan += row[0].c_str() + std::string("\n");
    CAPTURE(plan);
    CHECK(plan.find("Index Only Scan using processed_payments_") != std::string::npos);
    CHECK(plan.find("Seq Scan") == std::string::npos);
    CHECK(plan.find("Subplans Removed") != std::string::npos);  // pruned to the days it covers
  }
}

TEST_CASE("partitions are created ahead and dropped past retention") {
  Db db;
  auto partitions = [&](const char* table) {
    return db.count(fmt::format("SELECT count(*) FROM pg_inherits i JOIN pg_class p ON p.oid = i.inhparent"
                                " WHERE p.relname = '{}' AND p.relnamespace = (SELECT oid FROM pg_namespace"
                                " WHERE nspname = current_schema())", table));
  };
  CHECK(partitions("payments") == 10);  // 7 days back, today, 2 ahead
  CHECK(partitions("processed_payments") == 10);
  db.count("SELECT count(*) FROM (SELECT payeng_partitions(5, 3)) x");
  CHECK(partitions("payments") == 9);  // days 4-7 back dropped, 3 more ahead
  CHECK(partitions("processed_payments") == 9);
}

TEST_CASE("a new server gets its next WAL segments made ahead (sql/server/prealloc_wal.sql)") {
  Db db;
  // Run the way the deployment runs it: psql, one statement per transaction.
  const std::string cmd = fmt::format("psql -X -q -v ON_ERROR_STOP=1 '{}' -f {}/sql/server/prealloc_wal.sql >/dev/null",
                                      db.schema.conninfo, SOURCE_DIR);
  REQUIRE(std::system(cmd.c_str()) == 0);
  // Segments past the one being written: the next 256 MB of WAL goes into files that exist,
  // so no commit waits for one to be created and zero-filled.
  CHECK(db.count("SELECT count(*) FROM pg_ls_waldir() WHERE name ~ '^[0-9A-F]{24}$'"
                 " AND name > pg_walfile_name(pg_current_wal_lsn())") >= 16);
  CHECK(db.count("SELECT count(*) FROM pg_class WHERE relname = 'payeng_wal_prealloc'") == 0);  // leaves nothing behind
}

TEST_CASE("a day's partitions are autovacuumed only once their day has passed") {
  Db db;
  // Live days (today and ahead) without autovacuum, past days with it (sql/009).
  auto off = [&](const char* when) {
    return db.count(fmt::format("SELECT count(*) FROM payeng_day_partitions() WHERE autovacuum_off AND {}", when));
  };
  const char* live = "day >= (clock_timestamp() AT TIME ZONE 'UTC')::date";
  const char* past = "day < (clock_timestamp() AT TIME ZONE 'UTC')::date";
  CHECK(off(live) == 6);  // today and 2 ahead, of both tables
  CHECK(off(past) == 0);
  // A day that has just passed still carries the setting of its live day; the janitor's call
  // hands it back to autovacuum and leaves the live ones alone.
  auto exec = [&](const std::string& sql) {
    pqxx::nontransaction tx(db.conn);
    tx.exec(sql);
  };
  for (const char* t : {"payments", "processed_payments"})
    exec(fmt::format("DO $$ BEGIN EXECUTE format('ALTER TABLE %I SET (autovacuum_enabled = false)', '{}_' ||"
                     " to_char((clock_timestamp() AT TIME ZONE 'UTC')::date - 1, 'YYYYMMDD')); END $$", t));
  CHECK(off(past) == 2);
  exec("SELECT payeng_partitions(3, 7)");
  CHECK(off(past) == 0);
  CHECK(off(live) == 8);  // the day created ahead is live too
}
