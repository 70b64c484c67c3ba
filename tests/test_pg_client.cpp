// net::PgConn against a real PostgreSQL, through a proxy that stalls or cuts its connection:
// the outcome model (ok, not_sent, failed, in_doubt), deadlines that hold while the server is
// silent, and reconnection by itself.
#include <doctest/doctest.h>

#include <pqxx/pqxx>

#include "net/event_loop.h"
#include "net/pg_client.h"
#include "tests/support/pg_cluster.h"
#include "tests/support/pg_proxy.h"

using namespace std::chrono_literals;
using net::PgReply;
using net::PgStatus;

namespace {

struct Fixture {
  testpg::Schema schema;
  testpg::PgProxy proxy{testpg::Cluster::shared().dir(), testpg::Cluster::shared().port()};
  net::EventLoop loop;
  std::unique_ptr<net::PgConn> conn;
  int ups = 0, downs = 0;

  Fixture() {
    pqxx::connection c(schema.conninfo);
    pqxx::nontransaction tx(c);
    tx.exec("CREATE TABLE t (k int PRIMARY KEY, v text)");
  }
  void open(std::string setup = "") {
    net::PgConn::Options o;
    o.conninfo = proxy.conninfo(schema.name);
    o.setup_sql = std::move(setup);
    o.prepare = {{"ins", "INSERT INTO t (k, v) VALUES ($1, $2) RETURNING k"},
                 {"get", "SELECT v FROM t WHERE k = $1"},
                 {"slow", "SELECT pg_sleep($1::float8 / 1000)"}};
    o.connect_timeout = 500ms;
    o.retry_min = 20ms;
    o.retry_max = 100ms;
    conn = std::make_unique<net::PgConn>(loop, o);
    conn->on_state = [this](bool up) { (up ? ups : downs)++; };
    conn->start();
  }
  // Runs one statement to completion on the test thread's loop.
  PgReply run(const char* stmt, std::vector<std::string> params, std::chrono::milliseconds deadline = 2s) {
    PgReply out;
    bool done = false;
    conn->exec(stmt, std::move(params), net::Clock::now() + deadline, [&](PgReply&& r) {
      out = std::move(r);
      done = true;
      loop.stop();
    });
    auto guard = loop.add_timer(deadline + 5s, [&] { loop.stop(); });
    loop.run();
    loop.cancel_timer(guard);
    REQUIRE(done);
    return out;
  }
  // Spins the loop for a while (reconnects happen on it).
  void spin(std::chrono::milliseconds d) {
    loop.add_timer(d, [&] { loop.stop(); });
    loop.run();
  }
  int64_t count() {
    pqxx::connection c(schema.conninfo);
    pqxx::nontransaction tx(c);
    return tx.exec("SELECT count(*) FROM t")[0][0].as<int64_t>();
  }
};

}  // namespace

TEST_CASE("prepared statements run with parameters and an SQL error leaves the connection usable") {
  Fixture f;
  f.open();
  auto r = f.run("ins", {"1", "one"});
  INFO(r.error << " / " << f.conn->last_error());
  REQUIRE(r.status == PgStatus::ok);
  CHECK(r.result.rows() == 1);
  CHECK(r.result.int64(0, 0) == 1);
  auto dup = f.run("ins", {"1", "again"});
  CHECK(dup.status == PgStatus::failed);
  CHECK(dup.error.find("duplicate key") != std::string::npos);
  auto g = f.run("get", {"1"});
  REQUIRE(g.status == PgStatus::ok);
  CHECK(g.result.text(0, 0) == "one");
  CHECK(f.ups == 1);
  CHECK(f.downs == 0);
}

TEST_CASE("a statement that cannot reach a server before its deadline is not_sent and runs after it comes back") {
  Fixture f;
  f.proxy.pause(true);  // the server looks frozen: connections are not even accepted
  f.open();
  auto r = f.run("ins", {"1", "x"}, 300ms);
  CHECK(r.status == PgStatus::not_sent);
  CHECK(f.count() == 0);
  f.proxy.pause(false);
  auto ok = f.run("ins", {"2", "y"}, 3s);
  CHECK(ok.status == PgStatus::ok);
  CHECK(f.count() == 1);
}

TEST_CASE("a statement sent to a server that stops answering is in_doubt at its deadline and may still commit") {
  Fixture f;
  f.open();
  REQUIRE(f.run("get", {"0"}).status == PgStatus::ok);  // connected and prepared
  f.proxy.pause(true);                                   // the insert's bytes wait in the proxy
  auto t0 = net::Clock::now();
  auto r = f.run("ins", {"7", "late"}, 300ms);
  auto took = net::Clock::now() - t0;
  CHECK(r.status == PgStatus::in_doubt);
  CHECK(took < 1s);  // the deadline held although the server said nothing
  f.proxy.pause(false);
  // The connection was closed and is reopened by itself; the held insert reaches the server.
  auto again = f.run("get", {"7"}, 3s);
  REQUIRE(again.status == PgStatus::ok);
  CHECK(again.result.rows() == 1);  // in doubt meant exactly that: it did commit
  CHECK(f.downs == 1);
  CHECK(f.ups == 2);
  CHECK(f.conn->reconnects() == 1);
}

TEST_CASE("a connection cut while a statement runs is in_doubt and the next statement reconnects") {
  Fixture f;
  f.open();
  REQUIRE(f.run("get", {"0"}).status == PgStatus::ok);
  PgReply r;
  bool done = false;
  f.conn->exec("slow", {"500"}, net::Clock::now() + 3s, [&](PgReply&& x) {
    r = std::move(x);
    done = true;
  });
  f.spin(100ms);
  f.proxy.cut_all();
  f.spin(300ms);
  REQUIRE(done);
  CHECK(r.status == PgStatus::in_doubt);
  CHECK(f.run("ins", {"3", "z"}, 3s).status == PgStatus::ok);
}

TEST_CASE("a restarted server is reconnected to without any caller action") {
  Fixture f;
  f.open();
  REQUIRE(f.run("get", {"0"}).status == PgStatus::ok);
  testpg::Cluster::shared().restart_fast();
  f.spin(500ms);  // the loop notices the session end and reconnects
  CHECK(f.downs == 1);
  CHECK(f.conn->ready());
  CHECK(f.run("ins", {"4", "w"}, 3s).status == PgStatus::ok);
}

TEST_CASE("notifications of a LISTEN in the setup reach on_notify") {
  Fixture f;
  f.open("LISTEN wake");
  std::string got;
  f.conn->on_notify = [&](std::string_view ch, std::string_view payload) {
    got = std::string(ch) + ":" + std::string(payload);
    f.loop.stop();
  };
  REQUIRE(f.run("get", {"0"}).status == PgStatus::ok);
  {
    pqxx::connection c(f.schema.conninfo);
    pqxx::nontransaction tx(c);
    tx.exec("NOTIFY wake, 'hello'");
  }
  auto guard = f.loop.add_timer(3s, [&] { f.loop.stop(); });
  f.loop.run();
  f.loop.cancel_timer(guard);
  CHECK(got == "wake:hello");
}
