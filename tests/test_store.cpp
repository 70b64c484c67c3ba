// The engine's SQL (engine/store.cpp) against a real PostgreSQL, below the HTTP layer.
#include <doctest/doctest.h>

#include <fmt/format.h>

#include <thread>

#include "engine/store.h"
#include "tests/support/pg_cluster.h"

using namespace engine;
using namespace std::chrono_literals;

namespace {

PaymentRequest payment(int n, int64_t cents) {
  PaymentRequest p;
  auto text = fmt::format("11111111-2222-4333-8444-{:012d}", n);
  REQUIRE(parse_uuid(text, p.correlation_id));
  p.amount_cents = cents;
  return p;
}

struct Db {
  testpg::Schema schema;
  store::Session session{schema.conninfo};
  Db() {
    pqxx::connection c(schema.conninfo);
    store::init(c);
  }
  int64_t count(const std::string& sql) {
    pqxx::nontransaction tx(session.conn());
    return tx.exec(sql)[0][0].as<int64_t>();
  }
};

}  // namespace

TEST_CASE("init is idempotent and accept tells created duplicate and conflict apart") {
  Db db;
  {
    pqxx::connection c(db.schema.conninfo);
    store::init(c);  // a second instance starting: nothing changes
  }
  auto first = store::accept(db.session.conn(), {payment(1, 100), payment(2, 200)}, 10s);
  CHECK(first[0].outcome == store::Acceptance::created);
  CHECK(first[1].outcome == store::Acceptance::created);
  CHECK(first[0].msg_id < first[1].msg_id);
  auto again = store::accept(db.session.conn(), {payment(1, 100), payment(2, 201), payment(3, 300)}, 10s);
  CHECK(again[0].outcome == store::Acceptance::duplicate);
  CHECK(again[1].outcome == store::Acceptance::conflict);
  CHECK(again[2].outcome == store::Acceptance::created);
  CHECK(db.count("SELECT count(*) FROM payments") == 3);
  CHECK(db.count("SELECT count(*) FROM pgq_q_payments") == 3);
  // Hidden for the lease: no other reader takes them while this instance works on them.
  CHECK(db.session.queue().read(1s, 10).empty());
}

TEST_CASE("record_done is idempotent and keeps the exact requestedAt") {
  Db db;
  auto acc = store::accept(db.session.conn(), {payment(1, 2005)}, 10s);
  store::Done d{payment(1, 2005).correlation_id, kFallback, 2005, 1752582896123, acc[0].msg_id};
  for (int i = 0; i < 2; ++i) {  // the second time is a retried in-doubt commit
    pqxx::work tx(db.session.conn());
    store::record_done(tx, db.session.queue(), {d});
    tx.commit();
  }
  CHECK(db.count("SELECT count(*) FROM processed_payments") == 1);
  CHECK(db.count("SELECT count(*) FROM pgq_q_payments") == 0);
  CHECK(db.count("SELECT count(*) FROM processed_payments WHERE requested_at = '2025-07-15T12:34:56.123Z'") == 1);
  auto s = store::summary(db.session.conn(), 1752582896123, 1752582896123);
  CHECK(s.requests[1] == 1);
  CHECK(s.cents[1] == 2005);
  CHECK(store::summary(db.session.conn(), 1752582896124, std::nullopt).requests[1] == 0);
  CHECK(store::summary(db.session.conn(), std::nullopt, 1752582896122).requests[1] == 0);
}

TEST_CASE("attempts of purged payments are not written") {
  Db db;
  store::accept(db.session.conn(), {payment(1, 100)}, 10s);
  pqxx::work tx(db.session.conn());
  auto exists = store::upsert_attempts(tx, {{payment(1, 100).correlation_id, kDefault, 1000},
                                            {payment(9, 100).correlation_id, kDefault, 1000}});
  tx.commit();
  CHECK(exists[0]);
  CHECK_FALSE(exists[1]);
  CHECK(db.count("SELECT count(*) FROM payment_attempts") == 1);
}

TEST_CASE("an expired lease is adopted together with its attempt") {
  Db db;
  store::accept(db.session.conn(), {payment(1, 100), payment(2, 200)}, 100ms);
  {
    pqxx::work tx(db.session.conn());
    store::upsert_attempts(tx, {{payment(2, 200).correlation_id, kFallback, 1752582896123}});
    tx.commit();
  }
  CHECK(store::adopt_expired(db.session.conn(), db.session.queue(), 10s, 10).empty());
  std::this_thread::sleep_for(200ms);
  auto got = store::adopt_expired(db.session.conn(), db.session.queue(), 10s, 10);
  REQUIRE(got.size() == 2);
  CHECK_FALSE(got[0].has_attempt);
  CHECK(got[0].payment.amount_cents == 100);
  CHECK(got[1].has_attempt);
  CHECK(got[1].processor == kFallback);
  CHECK(got[1].requested_at_ms == 1752582896123);
  CHECK(store::adopt_expired(db.session.conn(), db.session.queue(), 10s, 10).empty());  // leased to us now
}

TEST_CASE("only one instance claims a health-check window") {
  Db db;
  store::Session other(db.schema.conninfo);
  CHECK(store::claim_health_check(db.session.conn(), kDefault, 1, 5000ms));
  CHECK_FALSE(store::claim_health_check(other.conn(), kDefault, 2, 5000ms));
  CHECK(store::claim_health_check(other.conn(), kFallback, 2, 5000ms));  // windows are per processor
  store::report_health(db.session.conn(), kDefault, true, 250);
  store::HealthRow rows[2];
  store::read_health(other.conn(), rows);
  CHECK(rows[0].known);
  CHECK(rows[0].failing);
  CHECK(rows[0].min_response_ms == 250);
  CHECK_FALSE(rows[1].known);
}

TEST_CASE("the summary is an index-only range scan") {
  Db db;
  pqxx::nontransaction tx(db.session.conn());
  // Index-only needs the visibility map, which a fresh table lacks until vacuumed.
  tx.exec("INSERT INTO payments SELECT ('11111111-2222-4333-8444-' || lpad(g::text, 12, '0'))::uuid, 100"
          " FROM generate_series(1, 5000) g");
  tx.exec("INSERT INTO processed_payments (correlation_id, processor, amount_cents, requested_at)"
          " SELECT correlation_id, 0, 100, now() - random() * interval '1 hour' FROM payments");
  tx.exec("VACUUM ANALYZE processed_payments");
  std::string plan;
  for (const auto& row : tx.exec("EXPLAIN EXECUTE \"eng.summary\"(" + std::to_string(1752582896000) + ", " +
                                 std::to_string(1752582897000) + ")"))
    plan += row[0].c_str() + std::string("\n");
  CAPTURE(plan);
  CHECK(plan.find("Index Only Scan using processed_payments_summary_idx") != std::string::npos);
}
