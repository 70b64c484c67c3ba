// PostgreSQL faults under load, black-box, two engine instances: a restart (what an operator does)
// and a freeze longer than a lease (a stalled disk or a paused VM: sockets stay open, nothing
// answers). Afterwards every payment is audited against the processors' own books.
#include "tests/support/audit.h"

using namespace testsupport;
using namespace std::chrono_literals;

namespace {

// Polls `path` on every engine until each answers `status`; returns how long that took (ms), or -1.
int64_t wait_all_answer(const Stack& s, const std::string& path, int status, std::chrono::milliseconds limit) {
  auto t0 = std::chrono::steady_clock::now();
  while (std::chrono::steady_clock::now() - t0 < limit) {
    bool all = true;
    for (auto port : s.ports()) {
      httplib::Client c("127.0.0.1", port);
      c.set_read_timeout(1s);
      auto r = c.Get(path.c_str());
      all = all && r && r->status == status;
    }
    if (all)
      return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
    std::this_thread::sleep_for(50ms);
  }
  return -1;
}

}  // namespace

TEST_CASE("postgres restart mid-load loses and duplicates nothing and every path recovers") {
  Stack s(Stack::Options{{{"LEASE_MS", "2000"}}, 2});
  s.def.set_delay_ms(30);
  Load load({.rate = full_scale() ? 400 : 200});
  load.set_targets(s.ports());
  int64_t summary_back_ms = -1;
  auto run = run_fault(
      load, full_scale() ? 10s : 3s, [] { testpg::Cluster::shared().restart_fast(); }, 0ms,
      [&] {
        // The restart returned: PostgreSQL is accepting connections again. Every instance's
        // summary (its own connection) must come back by itself, not only the POST path.
        summary_back_ms = wait_all_answer(s, "/payments-summary", 200, 10s);
      },
      full_scale() ? 20s : 4s);
  auto a = audit(s, run.posted);
  report_fault("PostgreSQL restarted (pg_ctl restart -m fast)", a, recovery_ms(run.posted, run.fault_end_ms),
               fmt::format("summary 200 on both instances {} ms after the restart returned", summary_back_ms));
  CHECK(a.accepted > 0);
  CHECK(a.clean());
  CHECK(summary_back_ms >= 0);
}

TEST_CASE("postgres frozen longer than a lease answers 503 fast and processes nothing twice") {
  // Leases (2 s) expire during the freeze: when PostgreSQL comes back, each instance may find the
  // other's payments adoptable while the other still holds them in memory, some of them already
  // sent, some answered by the processor and not yet recorded.
  Stack s(Stack::Options{{{"LEASE_MS", "2000"}}, 2});
  s.def.set_delay_ms(200);  // payments in flight at the processor when the freeze starts
  Load load({.rate = full_scale() ? 400 : 200});
  load.set_targets(s.ports());
  const auto freeze_for = full_scale() ? 15s : 5s;
  load.start();
  std::this_thread::sleep_for(2s);
  const int64_t fault_start = load.elapsed_ms();
  auto& pg = testpg::Cluster::shared();
  pg.freeze();
  struct Thaw {
    testpg::Cluster& pg;
    ~Thaw() { pg.thaw(); }  // whatever happens, the schema's teardown needs a live server
  } thaw{pg};
  // An instance that cannot reach its database tells the load balancer so.
  const int64_t health_down_ms = wait_all_answer(s, "/health", 503, freeze_for);
  std::this_thread::sleep_until(std::chrono::steady_clock::now() +
                                (freeze_for - std::chrono::milliseconds(load.elapsed_ms() - fault_start)));
  pg.thaw();
  const int64_t fault_end = load.elapsed_ms();
  std::this_thread::sleep_for(full_scale() ? 20s : 5s);
  auto posted = load.stop();

  // Nothing may hang to the client's timeout: a POST that cannot be made durable gets a 503.
  int64_t unanswered = 0, during = 0;
  for (const auto& p : posted) {
    if (p.sent_ms < fault_start || p.sent_ms > fault_end) continue;
    ++during;
    unanswered += p.status == 0;
  }
  auto a = audit(s, posted);
  // An accept in doubt when the freeze began is answered 503 and withdrawn once the database is
  // back; the other instance, whose claims resume with the server, leaves it alone meanwhile (its
  // lease ran out during a stall: pgq read_guarded). The engine counts any it could not withdraw.
  int64_t missed = 0;
  for (auto port : s.ports()) {
    const int64_t m = metric(port, "payments_withdraw_missed_total");
    CHECK(m >= 0);
    missed += std::max<int64_t>(m, 0);
  }
  report_fault("PostgreSQL frozen (SIGSTOP) longer than a lease", a, recovery_ms(posted, fault_end),
               fmt::format("{} of {} POSTs during the freeze unanswered; /health 503 after {} ms; {} in-doubt accepts "
                           "taken over before their withdrawal",
                           unanswered, during, health_down_ms, missed));
  CHECK(a.accepted > 0);
  CHECK(a.lost == 0);
  CHECK(a.duplicated == 0);
  CHECK(a.wrong_requested_at == 0);
  CHECK(a.wrong_amount == 0);
  CHECK(a.summary_agrees);
  CHECK(missed == 0);
  CHECK(a.held_unacknowledged == 0);  // no negative lag
  CHECK(unanswered == 0);
  CHECK(health_down_ms >= 0);
}
