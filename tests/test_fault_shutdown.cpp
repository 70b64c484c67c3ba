// SIGTERM under load, black-box: the load balancer must be told first (GET /health turns 503),
// then the listener closes, the requests already read get their answers, and only then do the
// connections close. No request in transit is reset.
#include <signal.h>
#include <sys/wait.h>

#include "tests/support/audit.h"

using namespace testsupport;
using namespace std::chrono_literals;

TEST_CASE("sigterm under load answers every request it read and says unhealthy first") {
  Stack s(Stack::Options{{{"LEASE_MS", "2000"}, {"SHUTDOWN_GRACE_MS", "500"}}, 2});
  s.def.set_delay_ms(30);
  Load load({.rate = 200});
  load.set_targets({s.engine->port()});
  load.start();
  std::this_thread::sleep_for(2s);
  const uint16_t port = s.engine->port();
  s.engine->signal(SIGTERM);
  // Health as a load balancer sees it, from the signal until the listener is gone.
  bool saw_503 = false, refused = false;
  auto t0 = std::chrono::steady_clock::now();
  while (!refused && std::chrono::steady_clock::now() - t0 < 10s) {
    httplib::Client c("127.0.0.1", port);
    c.set_connection_timeout(200ms);
    c.set_read_timeout(1s);
    auto r = c.Get("/health");
    if (!r) refused = true;
    else if (r->status == 503) saw_503 = true;
    std::this_thread::sleep_for(20ms);
  }
  const int64_t stopped_at = load.elapsed_ms();
  load.set_targets({s.engine2->port()});
  std::this_thread::sleep_for(2s);
  auto posted = load.stop();
  CHECK(s.engine->terminate() == 0);  // already exiting: collects its status
  s.start_engine();                    // a rolling restart: it comes back

  int64_t cut_in_transit = 0;
  for (const auto& p : posted)
    if (p.status == 0 && p.error != "connect_failed") ++cut_in_transit;  // reset or hung, not refused
  auto a = audit(s, posted);
  report_fault("SIGTERM under load", a, recovery_ms(posted, stopped_at),
               fmt::format("{} requests cut in transit; health 503 before close: {}", cut_in_transit, saw_503));
  CHECK(saw_503);
  CHECK(refused);
  CHECK(cut_in_transit == 0);
  CHECK(a.clean());
}
