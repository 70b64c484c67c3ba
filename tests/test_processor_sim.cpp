// The processor simulator, driven over real HTTP exactly as the engine will drive it (SPEC section 2).
#include <doctest/doctest.h>
#include <httplib.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "bench/processor/processor_sim.h"

using namespace std::chrono_literals;

namespace {

const httplib::Headers kAdmin = {{"X-Rinha-Token", "123"}};

sim::ProcessorSim::Options quiet_opts() {
  sim::ProcessorSim::Options o;
  o.quiet = true;
  return o;
}

std::string uuid(int n) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "00000000-0000-4000-8000-%012d", n);
  return buf;
}

std::string payment(const std::string& id, std::string_view amount, std::string_view at = "2025-07-15T12:34:56.000Z") {
  return "{\"correlationId\":\"" + id + "\",\"amount\":" + std::string(amount) + ",\"requestedAt\":\"" +
         std::string(at) + "\"}";
}

struct Sim {
  sim::ProcessorSim ps;
  uint16_t port;  // initialised between ps and cli: the client needs the running simulator's port
  httplib::Client cli;
  explicit Sim(sim::ProcessorSim::Options o = quiet_opts()) : ps(std::move(o)), port(started(ps)), cli("127.0.0.1", port) {
    cli.set_keep_alive(true);
    cli.set_read_timeout(10, 0);
  }
  static uint16_t started(sim::ProcessorSim& p) {
    p.start();
    return p.port();
  }
  httplib::Result pay(const std::string& id, std::string_view amount, std::string_view at = "2025-07-15T12:34:56.000Z") {
    return cli.Post("/payments", payment(id, amount, at), "application/json");
  }
  std::string summary(const std::string& query = "") {
    auto r = cli.Get(("/admin/payments-summary" + query).c_str(), kAdmin);
    REQUIRE(r);
    CHECK(r->status == 200);
    return r->body;
  }
  int put(const std::string& what, const std::string& body, std::string* out = nullptr) {
    auto r = cli.Put(("/admin/configurations/" + what).c_str(), kAdmin, body, "application/json");
    REQUIRE(r);
    if (out) *out = r->body;
    return r->status;
  }
};

}  // namespace

TEST_CASE("a payment is stored once with its amount rounded to cents") {
  Sim s;
  auto id = uuid(1);
  auto r = s.pay(id, "19.905");
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(r->body == R"({"message":"payment processed successfully"})");
  r = s.pay(id, "19.90");
  REQUIRE(r);
  CHECK(r->status == 422);
  r = s.cli.Get(("/payments/" + id).c_str());
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(r->body == R"({"correlationId":")" + id + R"(","amount":19.91,"requestedAt":"2025-07-15T12:34:56.000Z"})");
  // Upper-case hex is the same Guid.
  std::string upper = id;
  for (auto& c : upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  r = s.pay(upper, "1");
  REQUIRE(r);
  CHECK(r->status == 422);
  r = s.cli.Get(("/payments/" + uuid(2)).c_str());
  REQUIRE(r);
  CHECK(r->status == 404);
  CHECK(s.ps.payment_count() == 1);
}

TEST_CASE("malformed payments get 400") {
  Sim s;
  auto expect400 = [&](const std::string& body) {
    CAPTURE(body);
    auto r = s.cli.Post("/payments", body, "application/json");
    REQUIRE(r);
    CHECK(r->status == 400);
    CHECK(r->body.find("\"error\"") != std::string::npos);
  };
  expect400("");
  expect400("not json");
  expect400("[1]");
  expect400(payment(uuid(1), "1") + "x");
  expect400(R"({"correlationId":")" + uuid(1) + R"(","amount":1})");
  expect400(R"({"amount":1,"requestedAt":"2025-07-15T12:34:56.000Z"})");
  expect400(R"({"correlationId":")" + uuid(1) + R"(","requestedAt":"2025-07-15T12:34:56.000Z"})");
  expect400(payment("not-a-uuid", "1"));
  expect400(payment(uuid(1), "\"1.00\""));
  expect400(payment(uuid(1), "-1"));
  expect400(payment(uuid(1), "1", "yesterday"));
  expect400(R"({"correlationId":")" + uuid(1) + R"(","amount":1,"requestedAt":"2025-07-15T12:34:56.000Z",})");
  CHECK(s.ps.payment_count() == 0);
  // Extra fields and field order do not matter.
  auto r = s.cli.Post("/payments",
                      R"({"requestedAt":"2025-07-15T12:34:56Z","extra":[1,{"a":2}],"amount":2e1,"correlationId":")" +
                          uuid(1) + "\"}",
                      "application/json");
  REQUIRE(r);
  CHECK(r->status == 200);
}

TEST_CASE("delay then failure answers 500 and stores nothing") {
  Sim s;
  std::string out;
  CHECK(s.put("delay", R"({"delay": 200})", &out) == 200);
  CHECK(out == R"({"config":"delay","was":0,"is":200})");
  CHECK(s.put("failure", R"({"failure": true})", &out) == 200);
  CHECK(out == R"({"config":"failure","was":false,"is":true})");
  auto t0 = std::chrono::steady_clock::now();
  auto r = s.pay(uuid(7), "10");
  REQUIRE(r);
  CHECK(r->status == 500);
  CHECK(std::chrono::steady_clock::now() - t0 >= 190ms);  // it slept first
  r = s.cli.Get(("/payments/" + uuid(7)).c_str());
  REQUIRE(r);
  CHECK(r->status == 404);
  CHECK(s.summary() == R"({"totalRequests":0,"totalAmount":0.00,"totalFee":0.00,"feePerTransaction":0.05})");
  // Recovery: failure off, then the same id is processed.
  CHECK(s.put("failure", R"({"failure": false})", &out) == 200);
  CHECK(out == R"({"config":"failure","was":true,"is":false})");
  r = s.pay(uuid(7), "10");
  REQUIRE(r);
  CHECK(r->status == 200);
}

TEST_CASE("failure mode is decided after the sleep") {
  Sim s;
  CHECK(s.put("delay", R"({"delay": 400})") == 200);
  std::atomic<int> status{0};
  std::thread t([&] {
    httplib::Client c("127.0.0.1", s.ps.port());
    auto r = c.Post("/payments", payment(uuid(3), "1"), "application/json");
    status = r ? r->status : -1;
  });
  std::this_thread::sleep_for(100ms);
  s.ps.set_failure(true);
  t.join();
  CHECK(status == 500);
  CHECK(s.ps.payment_count() == 0);
}

TEST_CASE("health is rate limited to one call per window plus two queued") {
  auto o = quiet_opts();
  o.health_window_ms = 400;
  Sim s(o);  // the first window starts now; everything below happens well inside it
  s.ps.set_delay_ms(42);
  auto r = s.cli.Get("/payments/service-health");
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(r->body == R"({"failing":false,"minResponseTime":42})");
  std::atomic<int> ok{0};
  std::vector<std::thread> queued;
  for (int i = 0; i < 2; ++i)
    queued.emplace_back([&] {
      httplib::Client c("127.0.0.1", s.ps.port());
      auto q = c.Get("/payments/service-health");
      if (q && q->status == 200) ++ok;
    });
  std::this_thread::sleep_for(50ms);
  r = s.cli.Get("/payments/service-health");
  REQUIRE(r);
  CHECK(r->status == 429);
  for (auto& t : queued) t.join();
  CHECK(ok == 2);
}

TEST_CASE("beyond in-progress plus waiting slots the answer is 429") {
  auto o = quiet_opts();
  o.max_in_progress = 2;
  o.max_waiting = 1;
  o.delay_ms = 500;
  Sim s(o);
  std::atomic<int> ok{0}, limited{0}, other{0};
  std::vector<std::thread> ts;
  for (int i = 0; i < 4; ++i)
    ts.emplace_back([&, i] {
      httplib::Client c("127.0.0.1", s.ps.port());
      c.set_read_timeout(10, 0);
      auto r = c.Post("/payments", payment(uuid(100 + i), "1"), "application/json");
      int st = r ? r->status : -1;
      if (st == 200) ++ok;
      else if (st == 429) ++limited;
      else ++other;
    });
  for (auto& t : ts) t.join();
  CHECK(ok == 3);
  CHECK(limited == 1);
  CHECK(other == 0);
  CHECK(s.ps.payment_count() == 3);
}

TEST_CASE("summary bounds are inclusive and amounts exact") {
  auto o = quiet_opts();
  o.fee = "0.15";
  Sim s(o);
  REQUIRE(s.pay(uuid(1), "0.01", "2025-07-15T12:00:00.000Z")->status == 200);
  REQUIRE(s.pay(uuid(2), "19.90", "2025-07-15T12:00:00.001Z")->status == 200);
  REQUIRE(s.pay(uuid(3), "20.05", "2025-07-15T12:00:00.002Z")->status == 200);
  REQUIRE(s.pay(uuid(4), "0.1", "2025-07-15T12:00:00.003Z")->status == 200);
  CHECK(s.summary("?from=2025-07-15T12:00:00.001Z&to=2025-07-15T12:00:00.002Z") ==
        R"({"totalRequests":2,"totalAmount":39.95,"totalFee":5.99,"feePerTransaction":0.15})");
  // Percent-encoded timestamps mean the same.
  CHECK(s.summary("?from=2025-07-15T12%3A00%3A00.001Z&to=2025-07-15T12%3A00%3A00.001Z") ==
        R"({"totalRequests":1,"totalAmount":19.90,"totalFee":2.99,"feePerTransaction":0.15})");
  CHECK(s.summary("?from=2025-07-15T12:00:00.004Z&to=2025-07-15T13:00:00.000Z") ==
        R"({"totalRequests":0,"totalAmount":0.00,"totalFee":0.00,"feePerTransaction":0.15})");
  // Either bound missing: every row.
  CHECK(s.summary("?from=2025-07-15T12:00:00.002Z") ==
        R"({"totalRequests":4,"totalAmount":40.06,"totalFee":6.01,"feePerTransaction":0.15})");
  CHECK(s.summary() == R"({"totalRequests":4,"totalAmount":40.06,"totalFee":6.01,"feePerTransaction":0.15})");
  auto r = s.cli.Get("/admin/payments-summary?from=garbage&to=2025-07-15T12:00:00.000Z", kAdmin);
  REQUIRE(r);
  CHECK(r->status == 400);
}

TEST_CASE("admin endpoints require the token and the token can change") {
  Sim s;
  const httplib::Headers wrong = {{"X-Rinha-Token", "nope"}};
  auto r = s.cli.Get("/admin/payments-summary");
  REQUIRE(r);
  CHECK(r->status == 401);
  CHECK(s.cli.Get("/admin/payments-summary", wrong)->status == 401);
  CHECK(s.cli.Put("/admin/configurations/delay", wrong, R"({"delay":1})", "application/json")->status == 401);
  CHECK(s.cli.Put("/admin/configurations/failure", R"({"failure":true})", "application/json")->status == 401);
  CHECK(s.cli.Put("/admin/configurations/token", R"({"token":"x"})", "application/json")->status == 401);
  CHECK(s.cli.Post("/admin/purge-payments", wrong, "", "application/json")->status == 401);

  CHECK(s.put("token", R"({"token":"s3cret"})") == 204);
  CHECK(s.cli.Get("/admin/payments-summary", kAdmin)->status == 401);
  const httplib::Headers fresh = {{"X-Rinha-Token", "s3cret"}};
  CHECK(s.cli.Get("/admin/payments-summary", fresh)->status == 200);
  // Bad configuration bodies are 400, not silently ignored.
  CHECK(s.cli.Put("/admin/configurations/delay", fresh, R"({"delay":"slow"})", "application/json")->status == 400);
  CHECK(s.cli.Put("/admin/configurations/failure", fresh, R"({"failure":1})", "application/json")->status == 400);
  CHECK(s.cli.Put("/admin/configurations/delay", fresh, R"({})", "application/json")->status == 400);
}

TEST_CASE("purge empties the store") {
  Sim s;
  REQUIRE(s.pay(uuid(1), "5")->status == 200);
  REQUIRE(s.pay(uuid(2), "5")->status == 200);
  auto r = s.cli.Post("/admin/purge-payments", kAdmin, "", "application/json");
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(r->body == R"({"message":"All payments purged."})");
  CHECK(s.summary() == R"({"totalRequests":0,"totalAmount":0.00,"totalFee":0.00,"feePerTransaction":0.05})");
  CHECK(s.cli.Get(("/payments/" + uuid(1)).c_str())->status == 404);
  CHECK(s.pay(uuid(1), "5")->status == 200);  // the id is free again
}

TEST_CASE("unknown routes and methods") {
  Sim s;
  CHECK(s.cli.Get("/nope")->status == 404);
  CHECK(s.cli.Get("/payments")->status == 405);
  CHECK(s.cli.Delete("/payments/service-health")->status == 405);
}

TEST_CASE("many delayed payments wait concurrently on one thread") {
  auto o = quiet_opts();
  o.delay_ms = 300;
  Sim s(o);
  constexpr int kClients = 40, kEach = 2;
  std::atomic<int> ok{0};
  std::vector<std::thread> ts;
  auto t0 = std::chrono::steady_clock::now();
  for (int c = 0; c < kClients; ++c)
    ts.emplace_back([&, c] {
      httplib::Client cli("127.0.0.1", s.ps.port());
      cli.set_keep_alive(true);
      for (int i = 0; i < kEach; ++i) {
        auto r = cli.Post("/payments", payment(uuid(1000 + c * kEach + i), "1"), "application/json");
        if (r && r->status == 200) ++ok;
      }
    });
  for (auto& t : ts) t.join();
  CHECK(ok == kClients * kEach);
  // Sequential sleeping would take 24 s; this bound only proves the sleeps overlap.
  CHECK(std::chrono::steady_clock::now() - t0 < 10s);
}
