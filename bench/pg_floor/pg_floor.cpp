// The latency floor of a durable commit on this machine, against the engine's own accept: one
// connection (set up like the engine's ingress connections), statements paced at RATE per second
// (the final test's peak is about 300 per second per engine), each timed from send to result.
//   pg_floor CONNINFO [RATE] [SECONDS] [floor]
// Statements: SELECT 1 (a round trip), a one-row INSERT into a table without indexes (the cheapest
// durable commit), the same INSERT through net::PgConn on an event loop (the engine's own client),
// and the engine's accept of one payment in both forms (engine/store.cpp: kAccept for a batch,
// kAcceptOne for a batch of one, the statement most POSTs wait for). Needs the engine's schema,
// which it applies (idempotent). With `floor`, only the first three: nothing is written to the
// engine's tables, so it can probe the machine right before a run (bench/final.sh).
// bench/README.md.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <future>
#include <memory>
#include <pqxx/pqxx>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "engine/store.h"
#include "engine/timefmt.h"
#include "net/event_loop.h"
#include "net/pg_client.h"
#include "bench/runner/uuid.h"

using namespace engine;
using Clock = std::chrono::steady_clock;

namespace {

void report(const char* what, std::vector<double> ms) {
  if (ms.empty()) {
    std::printf("%-40s no statement completed\n", what);
    return;
  }
  std::sort(ms.begin(), ms.end());
  auto q = [&](double p) { return ms[static_cast<size_t>(p * (ms.size() - 1))]; };
  std::printf("%-40s n %6zu  p50 %.3f  p90 %.3f  p99 %.3f  p99.9 %.3f ms\n", what, ms.size(), q(0.5), q(0.9),
              q(0.99), q(0.999));
}

template <class F>
void paced(const char* what, int rate, int seconds, F&& run_one) {
  std::vector<double> ms;
  const auto step = std::chrono::nanoseconds(1'000'000'000LL / rate);
  auto next = Clock::now();
  const auto end = next + std::chrono::seconds(seconds);
  while (next < end) {
    std::this_thread::sleep_until(next);
    auto t0 = Clock::now();
    run_one();
    ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    next += step;
    if (next < Clock::now()) next = Clock::now();  // behind: no burst to catch up
  }
  report(what, std::move(ms));
}

// The same one-row INSERT through the engine's own client: a net::PgConn on a net::EventLoop
// (epoll, the socket non-blocking), paced by the loop's timers, each timed from exec() to its
// callback. Against the blocking libpqxx line above it tells what the loop's path adds.
void paced_on_loop(const char* what, const Config& cfg, int rate, int seconds) {
  net::EventLoop loop;
  std::thread thread([&] { loop.run(); });
  const auto o = store::connection(cfg, "pg_floor", true, cfg.db_statement_timeout,
                                   {{"floor.insert", "INSERT INTO pg_floor_rows VALUES (1)"}});
  std::unique_ptr<net::PgConn> conn;
  loop.run_and_wait([&] {
    conn = std::make_unique<net::PgConn>(loop, o);
    conn->start();
  });
  for (int i = 0; i < 500; ++i) {
    bool ready = false;
    loop.run_and_wait([&] { ready = conn->ready(); });
    if (ready) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  std::vector<double> ms;
  std::promise<void> finished;
  long left = static_cast<long>(rate) * seconds;
  const auto step = std::chrono::milliseconds(std::max(1, 1000 / rate));
  std::function<void()> tick = [&] {
    if (left-- <= 0) return finished.set_value();
    const auto t0 = Clock::now();
    conn->exec("floor.insert", {}, t0 + std::chrono::seconds(2), [&ms, t0](net::PgReply&& r) {
      if (r.status == net::PgStatus::ok) ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    });
    loop.add_timer(step, tick);
  };
  loop.post(tick);
  finished.get_future().wait();
  loop.run_and_wait([&] { conn.reset(); });
  loop.stop();
  thread.join();
  report(what, std::move(ms));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: pg_floor CONNINFO [RATE] [SECONDS] [floor]\n");
    return 2;
  }
  const std::string conninfo = argv[1];
  const int rate = argc > 2 ? std::atoi(argv[2]) : 300;
  const int seconds = argc > 3 ? std::atoi(argv[3]) : 20;
  const bool floor_only = argc > 4 && std::string(argv[4]) == "floor";
  Config cfg;  // the engine's defaults: its schema, session settings and timeouts
  cfg.database_url = conninfo;
  store::init(conninfo, cfg.db_connect_timeout, cfg.partitions_ahead_days, cfg.retention_days);
  pqxx::connection c(conninfo);
  {
    pqxx::nontransaction tx(c);
    tx.exec(store::session_setup(true, cfg.db_statement_timeout));
    tx.exec("CREATE TABLE IF NOT EXISTS pg_floor_rows (v int)");
  }
  for (const auto& [name, sql] : store::ingress_statements()) c.prepare(name, sql);
  c.prepare("floor.select1", "SELECT 1");
  c.prepare("floor.insert", "INSERT INTO pg_floor_rows VALUES ($1)");
  scenario::UuidGen uuids;
  std::mt19937_64 rng{std::random_device{}()};
  paced("SELECT 1 (round trip)", rate, seconds, [&] {
    pqxx::nontransaction tx(c);
    tx.exec_prepared("floor.select1");
  });
  paced("INSERT one row, no index (durable commit)", rate, seconds, [&] {
    pqxx::nontransaction tx(c);
    tx.exec_prepared("floor.insert", 1);
  });
  paced_on_loop("the same INSERT through net::PgConn", cfg, rate, seconds);
  if (!floor_only) {
    paced("the engine's accept of one payment, as a batch (kAccept)", rate, seconds, [&] {
      std::string ids = uuids.next();
      ids.insert(ids.begin(), '{');
      ids.push_back('}');
      pqxx::nontransaction tx(c);
      tx.exec_prepared(store::kAccept, ids, "{2005}", now_epoch_ms(), "{3000}", "{0}",
                       static_cast<int64_t>(rng() >> 1));
    });
    paced("the engine's accept of one payment (kAcceptOne)", rate, seconds, [&] {
      pqxx::nontransaction tx(c);
      tx.exec_prepared(store::kAcceptOne, uuids.next(), 2005, now_epoch_ms(), 3000, 0, static_cast<int64_t>(rng() >> 1));
    });
  }
  pqxx::nontransaction tx(c);
  tx.exec("DROP TABLE pg_floor_rows");
  return 0;
}
