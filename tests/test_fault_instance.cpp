// Faults of an engine instance itself, black-box, with a second instance running: frozen
// (SIGSTOP) past its lease and resumed, which is what a long GC-like pause, a paused container or
// a stalled host does. The other instance adopts its payments meanwhile; when the frozen one
// wakes up it still holds them in memory and must not act on any of them.
#include <signal.h>

#include "tests/support/audit.h"

using namespace testsupport;
using namespace std::chrono_literals;

TEST_CASE("instance frozen past its lease while holding unsent payments sends none of them on resume") {
  // Both processors fail, so instance 1 holds its payments in memory, unsent. It is frozen; the
  // payments' leases expire; instance 2 adopts them and, default having recovered, settles them
  // there. Then only fallback works, and instance 1 resumes with its stale payments in memory.
  Stack s(Stack::Options{{{"LEASE_MS", "2000"}}, 2});
  s.def.set_failure(true);
  s.fb.set_failure(true);
  auto posted = post_each(s, 40);
  std::this_thread::sleep_for(1500ms);  // instance 1's circuits open; the payments wait in its memory
  s.engine->signal(SIGSTOP);
  s.def.set_failure(false);
  auto deadline = std::chrono::steady_clock::now() + 30s;
  while (s.def.records().size() < posted.size() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(100ms);
  REQUIRE(s.def.records().size() == posted.size());  // instance 2 adopted and settled them all
  s.def.set_failure(true);
  s.fb.set_failure(false);
  s.engine->signal(SIGCONT);
  std::this_thread::sleep_for(4s);  // instance 1's ticks, health reads and routing rounds run
  s.def.set_failure(false);
  auto a = audit(s, posted, 30s);
  report_fault("instance frozen past its lease holding unsent payments", a, -1);
  CHECK(a.accepted == static_cast<int64_t>(posted.size()));
  CHECK(a.clean());
}

TEST_CASE("instance frozen past its lease under load with processors changing speed processes nothing twice") {
  Stack s(Stack::Options{{{"LEASE_MS", "2000"}}, 2});
  Load load({.rate = full_scale() ? 300 : 200});
  load.set_targets(s.ports());
  // Processors change speed as in the challenge's stages, so the instances' routers disagree.
  std::atomic<bool> stop{false};
  std::thread stages([&] {
    for (int i = 0; !stop; ++i) {
      s.def.set_delay_ms(i % 3 == 1 ? 1500 : 0);
      s.def.set_failure(i % 5 == 3);
      s.fb.set_delay_ms(i % 4 == 2 ? 300 : 0);
      std::this_thread::sleep_for(700ms);
    }
  });
  load.start();
  std::this_thread::sleep_for(3s);
  // As a load balancer would after failed health checks: only instance 2 gets new requests, so
  // no client waits on the frozen one.
  load.set_targets({s.engine2->port()});
  std::this_thread::sleep_for(300ms);
  s.engine->signal(SIGSTOP);
  std::this_thread::sleep_for(full_scale() ? 15s : 5s);  // 2.5 leases
  s.engine->signal(SIGCONT);
  const int64_t fault_end = load.elapsed_ms();
  load.set_targets(s.ports());
  std::this_thread::sleep_for(full_scale() ? 10s : 4s);
  stop = true;
  stages.join();
  s.def.set_delay_ms(0);
  s.def.set_failure(false);
  s.fb.set_delay_ms(0);
  auto posted = load.stop();
  auto a = audit(s, posted);
  report_fault("instance frozen (SIGSTOP) past its lease under load", a, recovery_ms(posted, fault_end));
  CHECK(a.accepted > 0);
  CHECK(a.clean());
}
