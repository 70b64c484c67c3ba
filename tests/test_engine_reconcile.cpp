// Reconciliation with the processors' own books, black-box: a payment a processor holds that the
// engine never recorded, and the reverse, show up on demand (GET /admin/reconciliation) and in
// the periodic job's gauges and log.
#include <fstream>
#include <sstream>

#include "engine/timefmt.h"
#include "tests/support/audit.h"

using namespace testsupport;
using namespace std::chrono_literals;

namespace {

std::string reconcile(const Stack& s, const std::string& query, int* code = nullptr, const char* token = "secret") {
  httplib::Client c("127.0.0.1", s.engine->port());
  c.set_read_timeout(5s);
  auto r = c.Get(("/admin/reconciliation" + query).c_str(), {{"X-Rinha-Token", token}});
  REQUIRE(r);
  if (code) *code = r->status;
  return r->body;
}

// A payment stored straight at a processor, behind the engine's back.
void post_to_processor(const sim::ProcessorSim& p, const std::string& cid, int64_t requested_at_ms) {
  httplib::Client c("127.0.0.1", p.port());
  auto r = c.Post("/payments",
                  fmt::format(R"({{"correlationId":"{}","amount":7.00,"requestedAt":"{}"}})", cid,
                              timefmt::format_iso8601_ms(requested_at_ms)),
                  "application/json");
  REQUIRE(r);
  REQUIRE(r->status == 200);
}

}  // namespace

TEST_CASE("on demand a payment the processor holds and the engine never recorded shows as a difference") {
  Stack s;
  for (int i = 0; i < 5; ++i) REQUIRE(s.post(test_uuid(i), "20.05") == 202);
  REQUIRE(s.wait_processed(5));
  post_to_processor(s.def, test_uuid(100), now_epoch_ms());
  int code = 0;
  auto body = reconcile(s, "", &code);
  CHECK(code == 200);
  CHECK(body.find(R"("default":{"ours":{"totalRequests":5,"totalAmount":100.25},"processor":{"totalRequests":6,"totalAmount":107.25},"difference":{"totalRequests":-1,"totalAmount":-7.00}})") !=
        std::string::npos);
  CHECK(body.find(R"("fallback":{"ours":{"totalRequests":0,"totalAmount":0.00},"processor":{"totalRequests":0,"totalAmount":0.00},"difference":{"totalRequests":0,"totalAmount":0.00}})") !=
        std::string::npos);
  // A window that ends before it sees no difference; bad input and a missing token are refused.
  auto past = timefmt::format_iso8601_ms(now_epoch_ms() - 3600000);
  CHECK(reconcile(s, "?to=" + past).find(R"("difference":{"totalRequests":0,"totalAmount":0.00}})") != std::string::npos);
  reconcile(s, "?from=yesterday", &code);
  CHECK(code == 400);
  reconcile(s, "", &code, "wrong");
  CHECK(code == 401);
}

TEST_CASE("a payment the engine recorded and the processor does not hold shows in the periodic gauges and log") {
  // The periodic job compares 3 s windows ending 2.5 s ago (horizon 2 s), one instance at a time.
  Stack s(Stack::Options{{{"RECONCILE_INTERVAL_MS", "3000"},
                          {"RECONCILE_DELAY_MS", "2500"},
                          {"UNKNOWN_HORIZON_MS", "2000"},
                          {"PROCESSOR_TIMEOUT_MS", "500"},
                          {"PROCESSOR_MAX_DELAY_MS", "1000"}},
                         2});
  REQUIRE(s.post(test_uuid(1), "20.05") == 202);
  REQUIRE(s.wait_processed(1));
  // The processor loses its books (an operator purged them): ours say one payment more.
  httplib::Client c("127.0.0.1", s.def.port());
  REQUIRE(c.Post("/admin/purge-payments", httplib::Headers{{"X-Rinha-Token", "123"}}, "", "application/json")->status == 200);
  bool seen = false;
  auto deadline = std::chrono::steady_clock::now() + 15s;
  while (!seen && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(200ms);
    // Either instance may have run the job; both expose it.
    for (auto port : s.ports())
      seen = seen || metric(port, "payments_reconciliation_difference_requests{processor=\"default\"}") == 1;
  }
  CHECK(seen);
  std::string logs;
  for (const auto* e : {s.engine.get(), s.engine2.get()}) {
    std::ifstream f(e->log_path());
    std::stringstream all;
    all << f.rdbuf();
    logs += all.str();
  }
  CHECK(logs.find(R"("event":"reconciliation difference")") != std::string::npos);
}
