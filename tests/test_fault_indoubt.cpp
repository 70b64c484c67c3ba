// An in-doubt commit, black-box: the engine's database connection is reset right after the server
// committed a batch of accepted payments, before the answer reaches the engine. Those payments
// exist and will be processed, so they must be answered 2XX: a 503 would leave the processors
// holding payments nobody was told were accepted (a negative lag).
#include "tests/support/audit.h"

using namespace testsupport;
using namespace std::chrono_literals;

TEST_CASE("database connection cut right after a batch commit answers the committed payments 2XX") {
  Stack s(Stack::Options{{{"LEASE_MS", "2000"}}, 2, /*db_through_proxy=*/true});
  Load load({.rate = 200});
  load.set_targets(s.ports());
  const int cuts = full_scale() ? 20 : 5;
  auto run = run_fault(
      load, 1s, [&] { s.proxy->cut_after_commit({"eng.accept", "eng.accept_one"}, cuts); }, full_scale() ? 10s : 4s, [] {}, 3s);
  auto a = audit(s, run.posted);
  report_fault("DB connection cut after a batch commit (in-doubt)", a, recovery_ms(run.posted, run.fault_end_ms),
               fmt::format("{} connections cut after a commit", s.proxy->cuts_done()));
  CHECK(s.proxy->cuts_done() == cuts);
  CHECK(a.accepted > 0);
  CHECK(a.clean());
}

TEST_CASE("postgres frozen right after an in-doubt accept lets its instance withdraw it before anyone adopts it") {
  // The worst moment for an in-doubt accept: the server committed it, the answer never arrived,
  // and then the whole database stalls for longer than a lease. The instance cannot look the
  // payment up, answers 503, and withdraws the payment once the database is back. The other
  // instance's claim, stalled with the server, finds the payment's lease run out the moment the
  // server resumes: it must leave it to its live owner (a lease that ran out during a stall proves
  // nothing about its holder), or the processors end up holding a payment answered 503.
  Stack s(Stack::Options{{{"LEASE_MS", "2000"}}, 2, /*db_through_proxy=*/true});
  auto& pg = testpg::Cluster::shared();
  std::atomic<bool> frozen{false};
  struct Thaw {
    testpg::Cluster& pg;
    ~Thaw() { pg.thaw(); }  // whatever happens, the schema's teardown needs a live server
  } thaw{pg};
  Load load({.rate = 50});
  load.set_targets(s.ports());
  load.start();
  std::this_thread::sleep_for(1s);
  s.proxy->cut_after_commit({"eng.accept", "eng.accept_one"}, 1, [&] {
    pg.freeze();
    frozen = true;
  });
  for (int i = 0; i < 200 && !frozen; ++i) std::this_thread::sleep_for(50ms);
  REQUIRE(frozen);
  std::this_thread::sleep_for(4s);  // twice the lease
  pg.thaw();
  std::this_thread::sleep_for(6s);
  auto posted = load.stop();
  auto a = audit(s, posted);
  int64_t missed = 0, withdrawn = 0;
  for (auto port : s.ports()) {
    missed += metric(port, "payments_withdraw_missed_total");
    withdrawn += metric(port, "payments_withdrawn_total");
  }
  report_fault("PostgreSQL frozen right after an in-doubt accept", a, -1,
               fmt::format("{} withdrawn, {} taken over before their withdrawal", withdrawn, missed));
  CHECK(a.accepted > 0);
  CHECK(missed == 0);
  CHECK(a.clean());
}
