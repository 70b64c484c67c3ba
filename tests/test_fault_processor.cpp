// Processor faults under load, black-box: a processor that holds requests longer than the
// engine's timeout and then stores them (the outcome is unknown: it may be settled only on that
// processor), including failure mode switched off while re-sends are sleeping there.
#include "tests/support/audit.h"

using namespace testsupport;
using namespace std::chrono_literals;

namespace {
// Timeout 300 ms; processors may delay up to 1 s; a 404 is conclusive 1.5 s after the last
// unanswered send (which must exceed timeout + the longest delay).
const Stack::Env kEnv{{"LEASE_MS", "2000"},
                      {"PROCESSOR_TIMEOUT_MS", "300"},
                      {"PROCESSOR_MAX_DELAY_MS", "1000"},
                      {"UNKNOWN_HORIZON_MS", "1500"}};
}  // namespace

TEST_CASE("processor hanging past the timeout then storing settles every payment on it once") {
  Stack s(Stack::Options{kEnv, 2});
  Load load({.rate = 150});
  load.set_targets(s.ports());
  auto run = run_fault(
      load, 1s, [&] { s.def.set_delay_ms(800); }, full_scale() ? 20s : 4s, [&] { s.def.set_delay_ms(0); }, 3s);
  auto a = audit(s, run.posted);
  report_fault("processor hangs past the timeout, then stores", a, recovery_ms(run.posted, run.fault_end_ms));
  CHECK(a.accepted > 0);
  CHECK(a.clean());
}

TEST_CASE("processor failure switched off while re-sends sleep there settles each payment once") {
  // Default sleeps 800 ms and fails: every send times out (300 ms) with an unknown outcome and is
  // re-sent there. A burst of payments shares one schedule, so failure mode can be switched off
  // while their re-sends are sleeping at default: those re-sends store the payments after the
  // engine gave up on them. A lookup timed from the FIRST send finds nothing yet and sends them
  // to fallback too; timed from the last unanswered send, it waits for them.
  Stack s(Stack::Options{kEnv, 2});
  s.def.set_delay_ms(800);
  s.def.set_failure(true);
  auto t0 = std::chrono::steady_clock::now();
  auto posted = post_each(s, 30);
  std::this_thread::sleep_until(t0 + 1450ms);  // the 2nd re-send (~900 ms) sleeps there until ~1700 ms
  s.def.set_failure(false);
  std::this_thread::sleep_for(3s);
  s.def.set_delay_ms(0);
  auto a = audit(s, posted);
  report_fault("processor failure off while re-sends sleep there", a, -1);
  CHECK(a.accepted == 30);
  CHECK(a.clean());
}
