// net::Balancer and HttpServer's Options::handoff over real sockets: clients connect to the
// balancer's TCP port and are answered by the servers it handed their sockets to.
#include <doctest/doctest.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "net/balancer.h"
#include "net/event_loop.h"
#include "net/http_server.h"
#include "tests/support/raw_client.h"

using namespace std::chrono_literals;
using testsupport::closed_within;
using testsupport::RawClient;

namespace {

std::string sock_path(const char* name) {
  return "/tmp/balancer_test_" + std::to_string(::getpid()) + "_" + name + ".sock";
}

const std::string kGet = "GET /who HTTP/1.1\r\nHost: x\r\n\r\n";

// A server that answers with its name (and, with several loops, which loop answered).
std::unique_ptr<net::HttpServer> named_server(const std::string& name, const std::string& handoff, int threads = 1,
                                              size_t max_connections = 4096) {
  net::HttpServer::Options o;
  o.handoff = handoff;
  o.threads = threads;
  o.max_connections = max_connections;
  auto s = std::make_unique<net::HttpServer>(o, [name](const net::Request&, net::Responder r) {
    std::hash<std::thread::id> h;
    r.send(200, name + " " + std::to_string(h(std::this_thread::get_id())), "text/plain");
  });
  s->start();
  return s;
}

// The balancer on its own loop thread, as conn_balancer runs it.
struct RunningBalancer {
  net::EventLoop loop;
  std::unique_ptr<net::Balancer> b;
  std::thread t;
  explicit RunningBalancer(std::vector<std::string> backends) {
    net::Balancer::Options o;
    o.frontends.push_back({"127.0.0.1:0", std::move(backends)});
    o.retry = 20ms;
    b = std::make_unique<net::Balancer>(loop, o);
    t = std::thread([this] { loop.run(); });
  }
  ~RunningBalancer() { stop(); }
  void stop() {
    if (!t.joinable()) return;
    loop.stop();
    t.join();
    b.reset();
  }
  uint16_t port() const { return b->port(0); }
  uint64_t refused() {
    uint64_t n = 0;
    loop.run_and_wait([&] { n = b->refused(); });
    return n;
  }
};

// One request on c: the answer's body ("A 1234": the server's name and its loop), "" if closed.
std::string ask(RawClient& c) {
  c.send(kGet);
  auto r = c.read_response();
  return r.ok ? r.body : "";
}

// A new connection through the balancer, kept in `clients`, and what its first request got.
std::string ask_new(std::vector<std::unique_ptr<RawClient>>& clients, uint16_t port) {
  clients.push_back(std::make_unique<RawClient>(port));
  return ask(*clients.back());
}

// Which server answered one request on a new connection through the balancer ("" if closed).
std::string who(uint16_t port) {
  RawClient c(port);
  std::string body = ask(c);
  return body.substr(0, body.find(' '));
}

// Repeats `probe` until it returns true or 3 s pass.
bool eventually(const std::function<bool()>& probe) {
  for (int i = 0; i < 300; ++i) {
    if (probe()) return true;
    std::this_thread::sleep_for(10ms);
  }
  return false;
}

}  // namespace

TEST_CASE("the balancer hands connections round robin and leaves the data path") {
  const std::string pa = sock_path("a"), pb = sock_path("b");
  auto a = named_server("A", pa);
  auto b = named_server("B", pb);
  RunningBalancer lb({pa, pb});
  std::vector<std::unique_ptr<RawClient>> clients;
  std::vector<std::string> first;
  for (int i = 0; i < 6; ++i) {
    std::string body = ask_new(clients, lb.port());
    REQUIRE(!body.empty());
    first.push_back(body.substr(0, 1));
  }
  CHECK(first == std::vector<std::string>{"A", "B", "A", "B", "A", "B"});
  CHECK(a->open_connections() == 3);
  CHECK(b->open_connections() == 3);
  // The balancer holds no client's bytes: stopped, every connection it handed over still works,
  // each with the server it was given to.
  lb.stop();
  for (int round = 0; round < 3; ++round)
    for (size_t i = 0; i < clients.size(); ++i) {
      std::string body = ask(*clients[i]);
      REQUIRE(!body.empty());
      CHECK(body.substr(0, 1) == first[i]);
    }
}

TEST_CASE("a backend that goes away is skipped at once and taken back when it returns") {
  const std::string pa = sock_path("a"), pb = sock_path("b");
  auto a = named_server("A", pa);
  auto b = named_server("B", pb);
  RunningBalancer lb({pa, pb});
  RawClient kept(lb.port());  // handed to A before B stops
  REQUIRE(ask(kept).substr(0, 1) == "A");

  b->stop();  // closes its hand-over socket: the balancer sees it go
  CHECK(eventually([&] {
    for (int i = 0; i < 4; ++i)
      if (who(lb.port()) != "A") return false;
    return true;
  }));
  for (int i = 0; i < 10; ++i) CHECK(who(lb.port()) == "A");  // not one client lost to B's absence
  CHECK(lb.refused() == 0);

  b = named_server("B", pb);  // back at the same path: the balancer reconnects within its retry
  CHECK(eventually([&] { return who(lb.port()) == "B"; }));
  std::set<std::string> seen;
  for (int i = 0; i < 4; ++i) seen.insert(who(lb.port()));
  CHECK(seen == std::set<std::string>{"A", "B"});
  CHECK(ask(kept).substr(0, 1) == "A");  // A's connection was never disturbed
}

TEST_CASE("a draining server serves what it was handed and the balancer moves on") {
  const std::string pa = sock_path("a"), pb = sock_path("b");
  auto a = named_server("A", pa);
  auto b = named_server("B", pb);
  RunningBalancer lb({pa, pb});
  RawClient ona(lb.port());
  REQUIRE(ask(ona).substr(0, 1) == "A");
  RawClient onb(lb.port());
  REQUIRE(ask(onb).substr(0, 1) == "B");
  std::thread drainer([&] { b->drain(2s); });
  CHECK(eventually([&] {
    for (int i = 0; i < 4; ++i)
      if (who(lb.port()) != "A") return false;
    return true;
  }));
  CHECK(closed_within(onb.fd(), 2000));  // B's idle client is let go, as a drain does
  drainer.join();
  CHECK(lb.refused() == 0);
}

TEST_CASE("with no backend up a client is closed without a byte") {
  RunningBalancer lb({sock_path("nobody")});
  RawClient c(lb.port());
  CHECK(closed_within(c.fd(), 2000));
  CHECK(c.pending().empty());
  CHECK(lb.refused() == 1);
}

TEST_CASE("handed connections spread over a server's loops and count against its cap") {
  const std::string pa = sock_path("a");
  auto a = named_server("A", pa, 2, 4);
  RunningBalancer lb({pa});
  std::vector<std::unique_ptr<RawClient>> clients;
  std::set<std::string> loops;
  for (int i = 0; i < 4; ++i) {
    std::string body = ask_new(clients, lb.port());
    REQUIRE(!body.empty());
    loops.insert(body);
  }
  CHECK(loops.size() == 2);  // both loop threads answered
  CHECK(a->open_connections() == 4);
  RawClient fifth(lb.port());  // over max_connections: closed by the server, as an accepted one
  CHECK(closed_within(fifth.fd(), 2000));
  CHECK(a->open_connections() == 4);
}

TEST_CASE("a bad frontend throws and a server's hand-over socket replaces a stale one") {
  net::EventLoop loop;
  CHECK_THROWS(net::Balancer(loop, {.frontends = {{"nonsense", {"/tmp/x.sock"}}}}));
  CHECK_THROWS(net::Balancer(loop, {.frontends = {{"127.0.0.1:0", {}}}}));
  const std::string pa = sock_path("a");
  for (int round = 0; round < 2; ++round) {  // the second round finds the first one's file
    auto a = named_server("A", pa);
    RunningBalancer lb({pa});
    CHECK(eventually([&] { return who(lb.port()) == "A"; }));
    if (round == 0) {
      lb.stop();
      a.reset();
      testsupport::leave_stale_unix_socket(pa);  // as a crashed server does
    }
  }
}
