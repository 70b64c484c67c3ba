// Both processors failing for a long time under load, black-box: every accepted payment waits,
// durably, in the queue. An instance keeps only a bounded number of them in memory (the queue is
// in PostgreSQL precisely so that memory need not grow); when the processors recover, the queue
// drains to zero with nothing lost or duplicated.
#include "tests/support/audit.h"

using namespace testsupport;
using namespace std::chrono_literals;

TEST_CASE("both processors failing for minutes keeps memory bounded then drains everything once") {
  const int cap = 300;
  Stack s(Stack::Options{{{"LEASE_MS", "2000"}, {"DISPATCHER_MAX_PAYMENTS", std::to_string(cap)}}, 2});
  Load load({.rate = full_scale() ? 500 : 250});
  load.set_targets(s.ports());
  const auto outage = full_scale() ? 180s : 15s;
  int64_t max_owned = 0, rss_start = 0, rss_max = 0;
  load.start();
  s.def.set_failure(true);
  s.fb.set_failure(true);
  const int64_t fault_start = load.elapsed_ms();
  auto t0 = std::chrono::steady_clock::now();
  std::this_thread::sleep_for(1s);
  rss_start = s.engine->rss_kb() + s.engine2->rss_kb();
  std::string rss_series;
  while (std::chrono::steady_clock::now() - t0 < outage) {
    for (auto port : s.ports()) max_owned = std::max(max_owned, metric(port, "payments_owned"));
    int64_t rss = s.engine->rss_kb() + s.engine2->rss_kb();
    rss_max = std::max(rss_max, rss);
    rss_series += fmt::format(" {}", rss / 1024);
    std::this_thread::sleep_for(1s);
  }
  s.def.set_failure(false);
  s.fb.set_failure(false);
  const int64_t fault_end = load.elapsed_ms();
  std::this_thread::sleep_for(2s);
  auto posted = load.stop();
  auto a = audit(s, posted, full_scale() ? 300s : 90s);
  report_fault("both processors failing", a, recovery_ms(posted, fault_end),
               fmt::format("outage {} s at {}/s from {} ms; max payments in one instance's memory {} (cap {});"
                           " RSS of both instances MB:{}",
                           outage.count(), full_scale() ? 500 : 250, fault_start, max_owned, cap, rss_series));
  CHECK(a.accepted > 0);
  CHECK(a.clean());
  CHECK(max_owned <= cap);
  // Flat: the instances' memory does not grow with the backlog. (Under AddressSanitizer freed
  // memory is quarantined, not reused, so RSS grows with any allocation: only measured there.)
#if defined(__SANITIZE_ADDRESS__)
  MESSAGE("RSS growth " << (rss_max - rss_start) / 1024 << " MB, not checked under AddressSanitizer");
#else
  CHECK(rss_max - rss_start < 16 * 1024);
#endif
}
