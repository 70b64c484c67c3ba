// The engine binary attacked as a client would attack it, with raw bytes on real sockets: request
// smuggling variants, pipelining, connection floods, slowloris, oversized and malformed bodies.
// Every case must end in a clear 4xx or a clean close: never a crash, a hang, or a stored payment.
#include <sys/resource.h>

#include <algorithm>
#include <thread>
#include <vector>

#include "tests/support/raw_client.h"
#include "tests/support/stack_fixture.h"

using namespace std::chrono_literals;
using testsupport::closed_within;
using testsupport::RawClient;
using testsupport::RawResponse;
using testsupport::Stack;
using testsupport::test_uuid;

namespace {

std::string payment_json(int n) {
  return R"({"correlationId":")" + test_uuid(n) + R"(","amount":19.90})";
}

const std::string kPostHead = "POST /payments HTTP/1.1\r\nHost: engine\r\nContent-Type: application/json\r\n";

std::string hex(size_t n) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%zx", n);
  return buf;
}

// Nothing was stored, by the engine or at either processor (which may only have been reached
// asynchronously, hence the pause).
void check_nothing_stored(const Stack& s) {
  std::this_thread::sleep_for(300ms);
  CHECK(s.db_count("SELECT count(*) FROM payments") == 0);
  CHECK(Stack::admin_totals(s.def).requests == 0);
  CHECK(Stack::admin_totals(s.fb).requests == 0);
}

void check_healthy(const Stack& s) {
  auto r = s.client().Get("/health");
  REQUIRE(r);
  CHECK(r->status == 200);
}

// Reads every answer until the engine closes the connection; all must be errors, the first one
// of the expected statuses.
void expect_refused(uint16_t port, const std::string& name, const std::string& wire, std::vector<int> statuses) {
  CAPTURE(name);
  RawClient c(port);
  c.try_send(wire);
  auto r = c.read_response();
  REQUIRE(r.ok);
  CHECK(std::find(statuses.begin(), statuses.end(), r.status) != statuses.end());
  CHECK(r.has_header("Connection: close\r\n"));
  CHECK(r.body.find("\"error\"") != std::string::npos);
  CHECK(c.closed_by_peer());
}

}  // namespace

TEST_CASE("request smuggling variants are refused with 400 or 411 and nothing is stored") {
  Stack s;
  const uint16_t port = s.engine->port();
  const std::string b = payment_json(1);
  const std::string len = std::to_string(b.size());
  const std::string chunked = hex(b.size()) + "\r\n" + b + "\r\n0\r\n\r\n";
  const std::string chunked_len = std::to_string(chunked.size());
  // A second request hidden behind the first, for the variants where framing could be misread.
  const std::string hidden = kPostHead + "Content-Length: " + len + "\r\n\r\n" + payment_json(2);
  struct Case {
    std::string name, wire;
    std::vector<int> statuses;
  };
  const std::vector<Case> cases = {
      {"CL then TE", kPostHead + "Content-Length: " + chunked_len + "\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked, {411}},
      {"TE then CL", kPostHead + "Transfer-Encoding: chunked\r\nContent-Length: " + chunked_len + "\r\n\r\n" + chunked, {411}},
      {"TE alone", kPostHead + "Transfer-Encoding: chunked\r\n\r\n" + chunked + hidden, {411}},
      {"TE chunked, identity", kPostHead + "Transfer-Encoding: chunked, identity\r\n\r\n" + chunked, {411}},
      {"TE with a tab", kPostHead + "Transfer-Encoding:\tchunked\r\nContent-Length: " + len + "\r\n\r\n" + b, {411}},
      {"TE in HTTP/1.0", "POST /payments HTTP/1.0\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked, {411}},
      {"space before the colon", kPostHead + "Transfer-Encoding : chunked\r\nContent-Length: " + len + "\r\n\r\n" + b, {400}},
      {"conflicting CL", kPostHead + "Content-Length: 0\r\nContent-Length: " + len + "\r\n\r\n" + b, {400}},
      {"repeated CL", kPostHead + "Content-Length: " + len + "\r\nContent-Length: " + len + "\r\n\r\n" + b, {400}},
      {"CL list", kPostHead + "Content-Length: " + len + ", " + len + "\r\n\r\n" + b, {400}},
      {"CL with a sign", kPostHead + "Content-Length: +" + len + "\r\n\r\n" + b, {400}},
      {"CL overflowing", kPostHead + "Content-Length: 18446744073709551617\r\n\r\n" + b, {400}},
      {"obs-fold hiding TE", kPostHead + "Content-Length: " + len + "\r\nX-Pad: a\r\n Transfer-Encoding: chunked\r\n\r\n" + b, {400}},
      {"obs-fold of TE's value", kPostHead + "Transfer-Encoding:\r\n chunked\r\n\r\n" + chunked, {400}},
      {"bare LF hiding TE", kPostHead + "X: a\nTransfer-Encoding: chunked\r\nContent-Length: " + len + "\r\n\r\n" + b, {400}},
      {"bare LF line endings", "POST /payments HTTP/1.1\nHost: engine\nContent-Type: application/json\nContent-Length: " + len + "\n\n" + b, {400}},
      {"bare CR in a value", kPostHead + "X: a\rTransfer-Encoding: chunked\r\nContent-Length: " + len + "\r\n\r\n" + b, {400}},
      {"NUL in a name", kPostHead + std::string("Content-Length\0: ", 17) + len + "\r\n\r\n" + b, {400}},
      {"NUL in a value", kPostHead + "Content-Length: " + len + "\r\n" + std::string("X: a\0b", 6) + "\r\n\r\n" + b, {400}},
      {"no Host", "POST /payments HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: " + len + "\r\n\r\n" + b, {400}},
      {"two Hosts", kPostHead + "Host: other\r\nContent-Length: " + len + "\r\n\r\n" + b, {400}},
  };
  for (const auto& c : cases) expect_refused(port, c.name, c.wire, c.statuses);
  check_healthy(s);
  check_nothing_stored(s);
}

TEST_CASE("100 pipelined requests in one write are answered in order and HEAD keeps the framing") {
  Stack s;
  std::string wire;
  std::vector<int> want;
  for (int i = 0; i < 100; ++i) {
    switch (i % 4) {
      case 0: wire += "GET /health HTTP/1.1\r\nHost: e\r\n\r\n"; want.push_back(200); break;
      case 1: wire += "HEAD /health HTTP/1.1\r\nHost: e\r\n\r\n"; want.push_back(200); break;
      case 2: {  // well framed, refused by validation: amount 0
        std::string b = R"({"correlationId":")" + test_uuid(i) + R"(","amount":0})";
        wire += kPostHead + "Content-Length: " + std::to_string(b.size()) + "\r\n\r\n" + b;
        want.push_back(422);
        break;
      }
      default: wire += "GET /nope HTTP/1.1\r\nHost: e\r\n\r\n"; want.push_back(404); break;
    }
  }
  RawClient c(s.engine->port());
  c.send(wire);
  for (int i = 0; i < 100; ++i) {
    CAPTURE(i);
    auto r = c.read_response(/*head=*/i % 4 == 1);
    REQUIRE(r.ok);
    CHECK(r.status == want[static_cast<size_t>(i)]);
    if (i % 4 == 0) CHECK(r.body == R"({"status":"ok"})");
  }
  CHECK_FALSE(c.more_within(200));  // no stray body bytes after the last HEAD answer
  check_nothing_stored(s);
}

TEST_CASE("thousands of idle connections meet the cap and the gauge shows the count") {
  constexpr int kCap = 300, kOpen = 2000;
  rlimit rl{};
  ::getrlimit(RLIMIT_NOFILE, &rl);
  if (rl.rlim_cur < kOpen + 200) {  // the engine, started below, inherits it as well
    rl.rlim_cur = std::min<rlim_t>(rl.rlim_max, kOpen + 1000);
    REQUIRE(::setrlimit(RLIMIT_NOFILE, &rl) == 0);
  }
  Stack s({{"HTTP_MAX_CONNECTIONS", std::to_string(kCap)}});
  const uint16_t port = s.engine->port();
  std::vector<std::unique_ptr<RawClient>> clients;
  for (int i = 0; i < kOpen; ++i) clients.push_back(std::make_unique<RawClient>(port));
  std::vector<bool> refused(clients.size());
  auto count_refused = [&] {
    for (size_t i = 0; i < clients.size(); ++i)
      if (!refused[i] && closed_within(clients[i]->fd(), 0)) refused[i] = true;
    return std::count(refused.begin(), refused.end(), true);
  };
  for (int i = 0; i < 500 && count_refused() < kOpen - kCap; ++i) std::this_thread::sleep_for(10ms);
  std::this_thread::sleep_for(200ms);
  CHECK(count_refused() == kOpen - kCap);  // closed at once, cleanly; the rest are held
  std::vector<std::unique_ptr<RawClient>> kept;
  for (size_t i = 0; i < clients.size(); ++i)
    if (!refused[i]) kept.push_back(std::move(clients[i]));
  clients.clear();
  REQUIRE(kept.size() == static_cast<size_t>(kCap));
  for (size_t i = 0; i < kept.size(); i += 30) {  // the ones held are served
    kept[i]->send("GET /health HTTP/1.1\r\nHost: e\r\n\r\n");
    CHECK(kept[i]->read_response().status == 200);
  }
  // Make room for the scrape: the gauge then counts our held connections plus the scrape's own.
  kept.pop_back();
  std::string metrics;
  for (int i = 0; i < 100 && metrics.empty(); ++i) {
    if (auto r = s.client().Get("/metrics"); r && r->status == 200) metrics = r->body;
    else std::this_thread::sleep_for(20ms);
  }
  auto at = metrics.find("\nhttp_open_connections ");
  REQUIRE(at != std::string::npos);
  CHECK(std::stoi(metrics.substr(at + 23)) == kCap);
  kept.clear();
  check_healthy(s);
}

TEST_CASE("slowloris in the head or the body is cut by the deadlines and stores nothing") {
  Stack s;  // the engine's defaults: 5 s for a head, 5 s for a body, 60 s idle
  const uint16_t port = s.engine->port();
  // One byte every 200 ms: each resets the idle timer, none extends a deadline.
  auto slowloris = [&](const std::string& fast, const std::string& slow, RawResponse& got,
                       std::chrono::milliseconds& took) {
    RawClient c(port);
    timeval tv{12, 0};
    ::setsockopt(c.fd(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    auto t0 = std::chrono::steady_clock::now();
    c.send(fast);
    std::atomic<bool> done{false};
    std::thread writer([&] {
      for (char ch : slow) {
        if (done || ::send(c.fd(), &ch, 1, MSG_NOSIGNAL) != 1) return;
        std::this_thread::sleep_for(200ms);
      }
    });
    got = c.read_response();
    took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0);
    done = true;
    writer.join();
    CHECK(c.closed_by_peer());
  };
  const std::string b = payment_json(1);
  RawResponse head_r, body_r;
  std::chrono::milliseconds head_t{}, body_t{};
  std::thread head_attack([&] {
    slowloris("", kPostHead + "X-Slow: " + std::string(100, 's') + "\r\nContent-Length: " + std::to_string(b.size()) +
                      "\r\n\r\n" + b,
              head_r, head_t);
  });
  std::thread body_attack([&] {
    slowloris(kPostHead + "Content-Length: " + std::to_string(b.size()) + "\r\n\r\n", b, body_r, body_t);
  });
  // Meanwhile a well-behaved keep-alive connection idles past both deadlines and is still served.
  RawClient idle(port);
  idle.send("GET /health HTTP/1.1\r\nHost: e\r\n\r\n");
  CHECK(idle.read_response().status == 200);
  head_attack.join();
  body_attack.join();
  idle.send("GET /health HTTP/1.1\r\nHost: e\r\n\r\n");
  CHECK(idle.read_response().status == 200);
  for (auto [r, t] : {std::pair{&head_r, head_t}, std::pair{&body_r, body_t}}) {
    CHECK(r->ok);
    CHECK(r->status == 408);
    CHECK(t >= 4500ms);
    CHECK(t < 9000ms);  // the deadline plus the sweep's period, with room for a loaded machine
  }
  check_nothing_stored(s);
}

TEST_CASE("a 1 MB body invalid UTF-8 deep JSON NUL bytes and overflowing amounts get 4xx and store nothing") {
  Stack s;
  const uint16_t port = s.engine->port();
  {
    // Announced: refused from the head alone, before a body byte is sent.
    RawClient c(port);
    c.send(kPostHead + "Content-Length: 1048576\r\n\r\n");
    auto r = c.read_response();
    REQUIRE(r.ok);
    CHECK(r.status == 413);
    c.try_send(std::string(1 << 20, '{'));  // and sending it anyway changes nothing
    CHECK(c.closed_by_peer());
  }
  {
    // All in one write: a 413 or a reset (the engine closed with our bytes unread), never a hang.
    RawClient c(port);
    c.try_send(kPostHead + "Content-Length: 1048576\r\n\r\n" + std::string(1 << 20, ' '));
    auto r = c.read_response();
    if (r.ok) CHECK(r.status == 413);
    CHECK((!r.ok || c.closed_by_peer()));
  }
  struct Case {
    std::string name, body;
    int status;
  };
  const std::string id = test_uuid(1);
  using namespace std::string_literals;
  const std::vector<Case> cases = {
      {"invalid UTF-8 in a value", R"({"correlationId":")" + id.substr(0, 35) + "\xc3\x28" + R"(","amount":1})", 400},
      {"invalid UTF-8 outside strings", R"({"correlationId":")" + id + R"(","amount":1} )" + "\xff", 400},
      {"overlong UTF-8", R"({"correlationId":")" + id + R"(","amount":1,")" + "\xc0\xaf" + R"(":1})", 400},
      {"deep arrays", std::string(10000, '['), 400},
      {"deep amount", R"({"correlationId":")" + id + R"(","amount":)" + std::string(2000, '[') + std::string(2000, ']') + "}", 422},
      {"NUL in a string", R"({"correlationId":")" + id + "\0\",\"amount\":1}"s, 400},
      // simdjson reads numbers lazily: the NUL is caught as a malformed amount.
      {"NUL after a number", R"({"correlationId":")" + id + "\",\"amount\":1\0}"s, 422},
      {"amount 1e-41", R"({"correlationId":")" + id + R"(","amount":1e-41})", 422},
      {"amount 1e-42", R"({"correlationId":")" + id + R"(","amount":1e-42})", 422},
      {"amount 0.0...01", R"({"correlationId":")" + id + R"(","amount":0.)" + std::string(3000, '0') + "1}", 422},
      {"amount 1e99999", R"({"correlationId":")" + id + R"(","amount":1e99999})", 422},
  };
  auto cli = s.client();
  for (const auto& c : cases) {
    CAPTURE(c.name);
    auto r = cli.Post("/payments", c.body, "application/json");
    REQUIRE(r);
    CHECK(r->status == c.status);
    CHECK(r->body.find("\"error\"") != std::string::npos);
  }
  check_healthy(s);
  check_nothing_stored(s);
}
