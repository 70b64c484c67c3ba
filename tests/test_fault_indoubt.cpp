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
      load, 1s, [&] { s.proxy->cut_after_commit("eng.accept", cuts); }, full_scale() ? 10s : 4s, [] {}, 3s);
  auto a = audit(s, run.posted);
  report_fault("DB connection cut after a batch commit (in-doubt)", a, recovery_ms(run.posted, run.fault_end_ms),
               fmt::format("{} connections cut after a commit", s.proxy->cuts_done()));
  CHECK(s.proxy->cuts_done() == cuts);
  CHECK(a.accepted > 0);
  CHECK(a.clean());
}
