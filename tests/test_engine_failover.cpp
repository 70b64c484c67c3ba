// Routing under processor trouble, black-box: a failing default sends work to fallback, a slow
// default shifts work without any payment landing on both, and the summary stays exact.
#include "tests/support/audit.h"

using testsupport::Stack;
using testsupport::test_uuid;

namespace {

// Every accepted payment is held by exactly one processor.
void check_exactly_once(const Stack& s, int n) {
  int both = 0, none = 0;
  for (int i = 0; i < n; ++i) {
    bool d = Stack::lookup(s.def, test_uuid(i)) == 200, f = Stack::lookup(s.fb, test_uuid(i)) == 200;
    both += d && f;
    none += !d && !f;
  }
  CHECK(both == 0);
  CHECK(none == 0);
}

}  // namespace

TEST_CASE("a failing default sends payments to fallback") {
  Stack s;
  s.def.set_failure(true);
  for (int i = 0; i < 40; ++i) CHECK(s.post(test_uuid(i), "20.05") == 202);
  REQUIRE(s.wait_processed(40));
  CHECK(Stack::admin_totals(s.def).requests == 0);
  CHECK(Stack::admin_totals(s.fb).requests == 40);
  check_exactly_once(s, 40);
  auto m = s.client().Get("/metrics");
  REQUIRE(m);
  CHECK(m->body.find("processor_results_total{processor=\"default\",outcome=\"failed\"}") != std::string::npos);
}

TEST_CASE("a slow default moves payments to fallback and none is processed twice") {
  Stack s(Stack::Env{{"MAX_LATENCY_MS", "150"}});
  s.def.set_delay_ms(400);
  for (int i = 0; i < 120; ++i) {
    CHECK(s.post(test_uuid(i), "20.05") == 202);
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  REQUIRE(s.wait_processed(120));
  auto d = Stack::admin_totals(s.def), f = Stack::admin_totals(s.fb);
  CHECK(d.requests + f.requests == 120);
  CHECK(f.requests > 0);  // the oldest unanswered request on default exceeded MAX_LATENCY_MS
  check_exactly_once(s, 120);
}

TEST_CASE("when default recovers new payments go back to it") {
  Stack s;
  s.def.set_failure(true);
  for (int i = 0; i < 20; ++i) CHECK(s.post(test_uuid(i), "20.05") == 202);
  REQUIRE(s.wait_processed(20));
  s.def.set_failure(false);
  // The open circuit lets a probe through once it is half-open; a health report taken while
  // default was still failing may re-open it for a while. So payments keep coming until default
  // holds one: from then on (a success newer than any failing report) it takes the traffic.
  int n = 20;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
  while (s.def.records().empty() && std::chrono::steady_clock::now() < deadline) {
    CHECK(s.post(test_uuid(n++), "20.05") == 202);
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  REQUIRE_FALSE(s.def.records().empty());
  REQUIRE(s.wait_processed(n));
  const auto before = Stack::admin_totals(s.def).requests;
  for (int i = 0; i < 30; ++i) {
    CHECK(s.post(test_uuid(n++), "20.05") == 202);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  REQUIRE(s.wait_processed(n));
  CHECK(Stack::admin_totals(s.def).requests - before == 30);
  check_exactly_once(s, n);
}
