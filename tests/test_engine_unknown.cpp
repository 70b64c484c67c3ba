// Unknown outcomes (timeouts) are resolved on the SAME processor, black-box. These are the
// failures that made 27 published entries process payments twice.
#include "tests/support/stack_fixture.h"

using testsupport::Stack;
using testsupport::test_uuid;

TEST_CASE("a timed-out payment is resolved on the processor that may hold it") {
  // Every send to default times out (600 ms delay > 200 ms timeout), yet default stores each one
  // after its delay. Only the lookup after the unknown horizon can settle them, and it must find
  // them there: nothing may go to fallback.
  Stack s(Stack::Env{{"PROCESSOR_TIMEOUT_MS", "200"}, {"PROCESSOR_MAX_DELAY_MS", "1000"}, {"MAX_LATENCY_MS", "60000"},
                     {"UNKNOWN_HORIZON_MS", "1500"}});
  s.def.set_delay_ms(600);
  for (int i = 0; i < 10; ++i) CHECK(s.post(test_uuid(i), "20.05") == 202);
  REQUIRE(s.wait_processed(10, std::chrono::seconds(30)));
  CHECK(Stack::admin_totals(s.def).requests == 10);
  CHECK(Stack::admin_totals(s.fb).requests == 0);
  // The requestedAt we recorded is the one the processor holds, to the millisecond.
  CHECK(s.db_count("SELECT count(*) FROM processed_payments WHERE processor = 0") == 10);
  for (int i = 0; i < 10; ++i) {
    auto r = httplib::Client("127.0.0.1", s.def.port()).Get(("/payments/" + test_uuid(i)).c_str());
    REQUIRE(r);
    REQUIRE(r->status == 200);
    auto at = r->body.find("\"requestedAt\":\"");
    REQUIRE(at != std::string::npos);
    std::string ts = r->body.substr(at + 15, 24);
    CHECK(s.db_count("SELECT count(*) FROM processed_payments WHERE correlation_id = '" + test_uuid(i) +
                     "' AND requested_at = '" + ts + "'::timestamptz") == 1);
  }
}

TEST_CASE("a timed-out payment that the processor proves it never stored may go elsewhere") {
  // Default times out AND fails: it stores nothing. After the horizon its lookup answers 404,
  // which is proof; only then is the payment routed again, and lands on fallback exactly once.
  Stack s(Stack::Env{{"PROCESSOR_TIMEOUT_MS", "200"}, {"PROCESSOR_MAX_DELAY_MS", "1000"}, {"MAX_LATENCY_MS", "60000"},
                     {"UNKNOWN_HORIZON_MS", "1500"}});
  s.def.set_delay_ms(600);
  s.def.set_failure(true);
  for (int i = 0; i < 5; ++i) CHECK(s.post(test_uuid(i), "20.05") == 202);
  REQUIRE(s.wait_processed(5, std::chrono::seconds(30)));
  CHECK(Stack::admin_totals(s.def).requests == 0);
  CHECK(Stack::admin_totals(s.fb).requests == 5);
}
