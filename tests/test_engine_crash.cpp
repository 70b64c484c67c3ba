// Crashes, black-box: kill -9 of an engine mid-load and a restart; SIGTERM; a second instance
// adopting a dead one's payments. Every accepted payment must end up processed exactly once.
#include "tests/support/stack_fixture.h"

#include <mutex>
#include <set>

using testsupport::EngineProcess;
using testsupport::Stack;
using testsupport::test_uuid;

namespace {

// Posts payments test_uuid(first..) at ~`rate`/s against `port` until stop; returns accepted ids.
struct Poster {
  std::atomic<bool> stop{false};
  std::mutex mu;
  std::vector<std::string> accepted;
  std::atomic<int> next;
  std::vector<std::thread> threads;
  explicit Poster(int first) : next(first) {}
  void run(std::function<uint16_t()> port, int threads_n) {
    for (int t = 0; t < threads_n; ++t)
      threads.emplace_back([this, port] {
        while (!stop) {
          int i = next++;
          httplib::Client c("127.0.0.1", port());
          c.set_connection_timeout(std::chrono::milliseconds(200));
          c.set_read_timeout(std::chrono::seconds(2));
          auto r = c.Post("/payments", fmt::format(R"({{"correlationId":"{}","amount":20.05}})", test_uuid(i)),
                          "application/json");
          if (r && r->status / 100 == 2) {
            std::lock_guard lk(mu);
            accepted.push_back(test_uuid(i));
          }
          std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
      });
  }
  void finish() {
    stop = true;
    for (auto& t : threads) t.join();
  }
};

void check_all_exactly_once(const Stack& s, const std::vector<std::string>& accepted) {
  REQUIRE(s.wait_processed(static_cast<int64_t>(accepted.size()), std::chrono::seconds(40)));
  int both = 0, none = 0;
  for (const auto& id : accepted) {
    bool d = Stack::lookup(s.def, id) == 200, f = Stack::lookup(s.fb, id) == 200;
    both += d && f;
    none += !d && !f;
  }
  CHECK(both == 0);
  CHECK(none == 0);
  // Nothing beyond what was accepted reached the processors (a crash between commit and answer
  // may have stored a payment whose 2XX never left: it is in payments and processed once too).
  auto d = Stack::admin_totals(s.def), f = Stack::admin_totals(s.fb);
  CHECK(d.requests + f.requests == s.db_count("SELECT count(*) FROM payments"));
  CHECK(s.db_count("SELECT count(*) FROM pgq_q_payments") == 0);
}

}  // namespace

TEST_CASE("kill -9 mid-load then restart processes every accepted payment exactly once") {
  Stack s(Stack::Env{{"LEASE_MS", "2000"}});
  s.def.set_delay_ms(80);  // payments are in flight when the engine dies
  Poster poster(0);
  std::atomic<uint16_t> port{s.engine->port()};
  poster.run([&] { return port.load(); }, 4);
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  s.engine->kill9();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  s.start_engine();
  port = s.engine->port();
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  poster.finish();
  INFO("accepted: " << poster.accepted.size());
  REQUIRE(poster.accepted.size() > 50);
  check_all_exactly_once(s, poster.accepted);
}

TEST_CASE("a second instance adopts the payments of an instance killed for good") {
  Stack s(Stack::Env{{"LEASE_MS", "2000"}});
  auto second = std::make_unique<EngineProcess>(s.env);
  second->start();
  s.def.set_delay_ms(80);
  Poster poster(0);
  poster.run([&] { return s.engine->port(); }, 4);
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  poster.finish();
  s.engine->kill9();  // never restarted: only the second instance is left
  s.engine = std::move(second);
  REQUIRE(poster.accepted.size() > 50);
  check_all_exactly_once(s, poster.accepted);
  auto m = httplib::Client(s.engine->url()).Get("/metrics");
  REQUIRE(m);
  CHECK(m->body.find("payments_adopted_total 0\n") == std::string::npos);
}

TEST_CASE("SIGTERM finishes in-flight work and exits cleanly") {
  Stack s(Stack::Env{{"LEASE_MS", "2000"}});
  s.def.set_delay_ms(50);
  Poster poster(0);
  poster.run([&] { return s.engine->port(); }, 4);
  std::this_thread::sleep_for(std::chrono::milliseconds(1000));
  poster.finish();
  CHECK(s.engine->terminate() == 0);
  s.start_engine();
  check_all_exactly_once(s, poster.accepted);
}
