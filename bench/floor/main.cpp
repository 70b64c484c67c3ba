// floor_server --listen HOST:PORT [--handoff SOCKET] [--db CONNINFO]: the floors under a POST's
// latency, behind the same load balancer, event loop and HTTP code as the engine. bench/latency.sh
// measures them beside the engine to tell its parts apart:
//   /floor          202 at once: everything but the engine's own work (the balancer's hop, the
//                   event loop, HTTP parsing and writing);
//   /floor/commit   202 after the cheapest durable commit (a one-row INSERT into a table without
//                   indexes), on a net::PgConn of the engine's session settings: the floor of ANY
//                   design that commits before it answers, on this machine;
//   /floor/accept   202 after the engine's own accept of one payment (kAcceptOne, a new id each
//                   time): what the accept statement costs, without the rest of the engine.
// With --db, CONNINFO names a database of its own (bench/stack.sh makes `payeng_floor`), to which
// it applies the engine's schema: nothing it writes reaches the engine's tables or processors.
#include <chrono>
#include <cstdio>
#include <memory>
#include <random>
#include <string>

#include "bench/runner/uuid.h"
#include "engine/store.h"
#include "engine/timefmt.h"
#include "net/http_server.h"
#include "net/pg_client.h"
#include "net/stop_signals.h"

namespace {

constexpr const char* kBody = R"({"status":"accepted"})";
constexpr const char* kCommit = "floor.commit";
constexpr auto kDeadline = std::chrono::seconds(2);

// Lives on the server's one loop: the handler and the connection's callbacks run there only.
struct Durable {
  std::unique_ptr<net::PgConn> conn;
  scenario::UuidGen uuids;
  std::mt19937_64 rng{std::random_device{}()};
};

void run_then_answer(Durable& d, const char* stmt, std::vector<std::string> params, net::Responder r) {
  if (!d.conn->ready()) return r.send(503, R"({"error":"no database connection"})");
  d.conn->exec(stmt, std::move(params), net::Clock::now() + kDeadline, [r](net::PgReply&& rep) {
    if (rep.status == net::PgStatus::ok) return r.send(202, kBody);
    std::fprintf(stderr, "floor_server: %s: %s\n", net::to_string(rep.status), rep.error.c_str());
    r.send(500, R"({"error":"statement failed"})");
  });
}

}  // namespace

int main(int argc, char** argv) {
  net::HttpServer::Options opt;
  opt.listen = "127.0.0.1:9003";
  engine::Config cfg;  // the engine's defaults: its schema, session settings and timeouts
  for (int i = 1; i + 1 < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--listen") opt.listen = argv[i + 1];
    else if (a == "--handoff") opt.handoff = argv[i + 1];
    else if (a == "--db") cfg.database_url = argv[i + 1];
  }
  const bool durable_paths = !cfg.database_url.empty();
  opt.threads = 1;  // the durable paths' connection lives on that loop
  if (durable_paths)
    engine::store::init(cfg.database_url, cfg.db_connect_timeout, cfg.partitions_ahead_days, cfg.retention_days);

  Durable durable;
  const sigset_t sigs = net::block_stop_signals();
  net::HttpServer server(opt, [&](const net::Request& req, net::Responder r) {
    const bool commit = req.path == "/floor/commit", accept = req.path == "/floor/accept";
    // Never a 202 that did not commit: bench/latency.sh fails on any other answer.
    if ((commit || accept) && !durable.conn) return r.send(503, R"({"error":"started without --db"})");
    if (commit) return run_then_answer(durable, kCommit, {}, r);
    if (accept) {
      // $1 id, $2 cents, $3 requestedAt (epoch ms), $4 visibility 0 and $5 route -1 (left to the
      // queue, where no one reads it), $6 token: as engine/ingress.cpp sends one payment.
      return run_then_answer(durable, engine::store::kAcceptOne,
                             {durable.uuids.next(), "2005", std::to_string(timefmt::now_epoch_ms()), "0", "-1",
                              std::to_string(static_cast<int64_t>(durable.rng() >> 1))},
                             r);
    }
    r.send(202, kBody);
  });
  server.start();
  if (durable_paths) {
    auto statements = engine::store::ingress_statements();
    statements.emplace_back(kCommit, "INSERT INTO floor_rows VALUES (1)");
    auto o = engine::store::connection(cfg, "floor", true, cfg.db_statement_timeout, std::move(statements));
    o.setup_sql += "; CREATE TABLE IF NOT EXISTS floor_rows (v int)";
    server.loop(0).run_and_wait([&] {
      durable.conn = std::make_unique<net::PgConn>(server.loop(0), std::move(o));
      durable.conn->start();
    });
  }
  std::fprintf(stderr, "floor_server: listening on %s%s\n", opt.listen.c_str(), durable_paths ? " (durable paths on)" : "");
  net::wait_stop_signal(sigs);
  server.loop(0).run_and_wait([&] { durable.conn.reset(); });  // on its loop, which stop() ends
  server.stop();
  return 0;
}
