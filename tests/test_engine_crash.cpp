// Crashes, black-box: kill -9 of an engine mid-load and a restart; a second instance adopting a
// dead one's payments; SIGTERM. Every accepted payment must end up processed exactly once, checked
// against the processors' own books (tests/support/audit.h).
#include "tests/support/audit.h"

using namespace testsupport;
using namespace std::chrono_literals;

TEST_CASE("kill -9 mid-load then restart processes every accepted payment exactly once") {
  Stack s(Stack::Env{{"LEASE_MS", "2000"}});
  s.def.set_delay_ms(80);  // payments are in flight when the engine dies
  Load load({.rate = 200});
  load.set_targets(s.ports());
  load.start();
  std::this_thread::sleep_for(1500ms);
  s.engine->kill9();
  std::this_thread::sleep_for(300ms);
  s.start_engine();
  const int64_t back = load.elapsed_ms();
  load.set_targets(s.ports());
  std::this_thread::sleep_for(1500ms);
  auto posted = load.stop();
  auto a = audit(s, posted);
  report_fault("kill -9 of the only instance, restarted", a, recovery_ms(posted, back),
               fmt::format("{} committed at the kill, their answer lost with the process", a.held_unanswered));
  CHECK(a.accepted > 50);
  CHECK(a.clean_but_cut_in_transit());
}

TEST_CASE("a second instance adopts the payments of an instance killed for good") {
  Stack s(Stack::Options{{{"LEASE_MS", "2000"}}, 2});
  s.def.set_delay_ms(80);
  Load load({.rate = 200});
  load.set_targets({s.engine->port()});
  load.start();
  std::this_thread::sleep_for(1500ms);
  auto posted = load.stop();
  auto killed_at = std::chrono::steady_clock::now();
  s.engine->kill9();  // never restarted: only the second instance is left
  s.engine = std::move(s.engine2);
  auto a = audit(s, posted);
  // Adoption time: from the kill until every payment the dead instance held was processed.
  auto adopted_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - killed_at).count();
  report_fault("kill -9 of one instance for good (the other adopts)", a, adopted_ms,
               "recovery = time until the survivor processed everything the dead one held");
  CHECK(a.accepted > 50);
  CHECK(a.clean());
  CHECK(metric(s.engine->port(), "payments_adopted_total") > 0);
}

TEST_CASE("SIGTERM finishes in-flight work and exits cleanly") {
  Stack s(Stack::Env{{"LEASE_MS", "2000"}, {"SHUTDOWN_GRACE_MS", "100"}});
  s.def.set_delay_ms(50);
  Load load({.rate = 200});
  load.set_targets({s.engine->port()});
  load.start();
  std::this_thread::sleep_for(1000ms);
  auto posted = load.stop();
  CHECK(s.engine->terminate() == 0);
  s.start_engine();
  auto a = audit(s, posted);
  CHECK(a.accepted > 50);
  CHECK(a.clean());
}
