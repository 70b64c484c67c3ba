// GET /payments/{correlationId}, black-box: a payment's state as PostgreSQL knows it, the same on
// every instance, and clear errors for ids never accepted or malformed.
#include "engine/timefmt.h"
#include "tests/support/audit.h"

using namespace testsupport;
using namespace std::chrono_literals;

namespace {

std::string status_of(uint16_t port, const std::string& cid, int* code = nullptr) {
  httplib::Client c("127.0.0.1", port);
  auto r = c.Get(("/payments/" + cid).c_str());
  REQUIRE(r);
  if (code) *code = r->status;
  return r->body;
}

}  // namespace

TEST_CASE("a processed payment shows its processor requestedAt and when it was recorded on every instance") {
  Stack s(Stack::Options{{}, 2});
  REQUIRE(s.post(test_uuid(1), "20.05") == 202);
  REQUIRE(s.wait_processed(1));
  auto held = s.def.records().at(test_uuid(1));
  for (auto port : s.ports()) {
    int code = 0;
    auto body = status_of(port, test_uuid(1), &code);
    CHECK(code == 200);
    CHECK(body.find(R"("state":"processed")") != std::string::npos);
    CHECK(body.find(R"("processor":"default")") != std::string::npos);
    CHECK(body.find(R"("amount":20.05)") != std::string::npos);
    CHECK(body.find(fmt::format(R"("requestedAt":"{}")", timefmt::format_iso8601_ms(held.requested_at_ms))) !=
          std::string::npos);
    CHECK(body.find(R"("processedAt":")") != std::string::npos);
    CHECK(body.find(R"("acceptedAt":")") != std::string::npos);
  }
}

TEST_CASE("payments in flight unknown and still queued are told apart") {
  // Default answers after 1.5 s while the engine gives up after 300 ms: the first payment is in
  // flight, then unknown. With room for one payment in memory, the next ones wait in the queue,
  // not yet routed.
  Stack s(Stack::Env{{"PROCESSOR_TIMEOUT_MS", "300"},
                     {"PROCESSOR_MAX_DELAY_MS", "2000"},
                     {"UNKNOWN_HORIZON_MS", "5000"},
                     {"MAX_LATENCY_MS", "60000"},
                     {"DISPATCHER_MAX_PAYMENTS", "10"}});
  s.def.set_delay_ms(1500);
  s.fb.set_failure(true);
  REQUIRE(s.post(test_uuid(1), "20.05") == 202);
  auto first = status_of(s.engine->port(), test_uuid(1));
  CHECK(first.find(R"("state":"in_flight","processor":"default")") != std::string::npos);
  std::this_thread::sleep_for(600ms);  // timed out: unknown on default
  CHECK(status_of(s.engine->port(), test_uuid(1)).find(R"("state":"unknown","processor":"default")") !=
        std::string::npos);
  for (int i = 2; i <= 30; ++i) REQUIRE(s.post(test_uuid(i), "1.00") == 202);
  int queued = 0;
  for (int i = 2; i <= 30; ++i)
    queued += status_of(s.engine->port(), test_uuid(i)).find(R"("state":"queued","processor":null)") != std::string::npos;
  CHECK(queued >= 20);  // beyond the 10 in memory
}

TEST_CASE("an id never accepted is 404 and a malformed one 400") {
  Stack s;
  int code = 0;
  status_of(s.engine->port(), test_uuid(99), &code);
  CHECK(code == 404);
  auto body = status_of(s.engine->port(), "not-a-uuid", &code);
  CHECK(code == 400);
  CHECK(body.find(R"("field":"correlationId")") != std::string::npos);
}

TEST_CASE("a lone answer is recorded at once and the answers right after it are gathered") {
  // At most one record statement per RECORDER_GATHER_MS, the first after a quiet spell at once:
  // gathered after it instead, a record at a low rate lands in some later accept's commit.
  Stack s(Stack::Env{{"RECORDER_GATHER_MS", "1000"}});
  auto recorded = [&] { return s.db_count("SELECT count(*) FROM processed_payments"); };
  auto wait_held = [&](const std::string& cid) {
    for (int i = 0; i < 500 && Stack::lookup(s.def, cid) != 200; ++i) std::this_thread::sleep_for(10ms);
    return Stack::lookup(s.def, cid) == 200;
  };
  REQUIRE(s.post(test_uuid(1), "20.05") == 202);
  REQUIRE(wait_held(test_uuid(1)));
  const auto held = std::chrono::steady_clock::now();
  while (recorded() < 1 && std::chrono::steady_clock::now() - held < 10s) std::this_thread::sleep_for(10ms);
  CHECK(recorded() == 1);
  CHECK(std::chrono::steady_clock::now() - held < 500ms);  // not after the 1 s window

  REQUIRE(s.post(test_uuid(2), "1.00") == 202);
  REQUIRE(wait_held(test_uuid(2)));
  std::this_thread::sleep_for(100ms);
  CHECK(recorded() == 1);  // inside the window opened by the first record: gathered, not yet written
  CHECK(s.wait_processed(2));
  CHECK(recorded() == 2);
}
