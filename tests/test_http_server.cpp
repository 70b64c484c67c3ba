// net::HttpServer over real sockets: a hand-rolled client for byte-exact cases (pipelining,
// malformed input, disconnects) and cpp-httplib as an independent HTTP implementation.
#include <doctest/doctest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "net/http_server.h"
#include "tests/support/raw_client.h"

using namespace std::chrono_literals;

using testsupport::closed_within;
using testsupport::RawClient;

namespace {

std::string get(std::string_view path, std::string_view extra = "") {
  return "GET " + std::string(path) + " HTTP/1.1\r\nHost: x\r\n" + std::string(extra) + "\r\n";
}

std::string post(std::string_view path, std::string_view body) {
  return "POST " + std::string(path) + " HTTP/1.1\r\nHost: x\r\nContent-Length: " + std::to_string(body.size()) +
         "\r\n\r\n" + std::string(body);
}

// Echoes method, path, query and body: enough to tell requests apart.
net::Handler echo_handler() {
  return [](const net::Request& req, net::Responder res) {
    res.send(200, std::string(req.method) + " " + std::string(req.path) + " q=" + std::string(req.query) +
                      " b=" + std::string(req.body),
             "text/plain");
  };
}

net::HttpServer::Options opts_default() { return {}; }

std::string fmt_path(int i) {
  std::string p(1, '/');  // not "/" + to_string(): GCC 12 raises a false -Wrestrict on that
  p += std::to_string(i);
  return p;
}

}  // namespace

TEST_CASE("keep-alive connections serve many requests") {
  net::HttpServer srv(opts_default(), echo_handler());
  srv.start();
  RawClient c(srv.port());
  for (int i = 0; i < 20; ++i) {
    c.send(post("/p" + std::to_string(i), "body" + std::to_string(i)));
    auto r = c.read_response();
    REQUIRE(r.ok);
    CHECK(r.status == 200);
    CHECK(r.body == "POST /p" + std::to_string(i) + " q= b=body" + std::to_string(i));
    CHECK(r.has_header("Content-Type: text/plain\r\n"));
    CHECK_FALSE(r.has_header("Connection: close"));
  }
  srv.stop();
}

TEST_CASE("request parts and headers are exposed") {
  std::string seen;
  net::HttpServer srv(opts_default(), [&](const net::Request& req, net::Responder res) {
    seen = std::string(req.header("x-token")) + "|" + std::string(req.header("X-MISSING")) + "|" +
           std::string(req.query_param("from")) + "|" + std::string(req.query_param("to")) + "|" +
           net::url_decode(req.query_param("from")) + "|" + std::string(req.target);
    res.send(200, "{}");
  });
  srv.start();
  RawClient c(srv.port());
  c.send(get("/s?from=2025-07-10T12%3A00%3A00Z&to=b&x=", "X-Token:  abc \r\n"));
  auto r = c.read_response();
  REQUIRE(r.ok);
  CHECK(r.has_header("Content-Type: application/json"));
  CHECK(seen == "abc||2025-07-10T12%3A00%3A00Z|b|2025-07-10T12:00:00Z|/s?from=2025-07-10T12%3A00%3A00Z&to=b&x=");
}

TEST_CASE("pipelined requests are answered in order") {
  // The first request is answered last in wall time if the server did not serialise them.
  std::mutex mu;
  std::vector<std::thread> threads;
  net::HttpServer srv(opts_default(), [&](const net::Request& req, net::Responder res) {
    int n = std::stoi(std::string(req.path.substr(1)));
    std::lock_guard lk(mu);
    threads.emplace_back([res, n] {
      std::this_thread::sleep_for(std::chrono::milliseconds(n == 0 ? 100 : 1));
      res.send(200, std::to_string(n));
    });
  });
  srv.start();
  RawClient c(srv.port());
  std::string batch;
  for (int i = 0; i < 5; ++i) batch += get(fmt_path(i));
  c.send(batch);
  for (int i = 0; i < 5; ++i) {
    auto r = c.read_response();
    REQUIRE(r.ok);
    CHECK(r.body == std::to_string(i));
  }
  srv.stop();
  for (auto& t : threads) t.join();
}

TEST_CASE("Connection close and HTTP 1.0 close after the response") {
  net::HttpServer srv(opts_default(), echo_handler());
  srv.start();
  {
    RawClient c(srv.port());
    c.send(get("/a", "Connection: close\r\n"));
    auto r = c.read_response();
    REQUIRE(r.ok);
    CHECK(r.has_header("Connection: close\r\n"));
    CHECK(c.closed_by_peer());
  }
  {
    RawClient c(srv.port());
    c.send("GET /b HTTP/1.0\r\n\r\n");
    auto r = c.read_response();
    REQUIRE(r.ok);
    CHECK(r.body == "GET /b q= b=");
    CHECK(c.closed_by_peer());
  }
  {
    RawClient c(srv.port());
    c.send("GET /c HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    auto r = c.read_response();
    REQUIRE(r.ok);
    CHECK(r.has_header("Connection: keep-alive\r\n"));
    c.send("GET /d HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    CHECK(c.read_response().body == "GET /d q= b=");
  }
}

TEST_CASE("malformed and oversized requests get 400 413 431 411") {
  net::HttpServer::Options o;
  o.max_body = 100;
  o.max_header = 512;
  net::HttpServer srv(o, echo_handler());
  srv.start();
  auto expect = [&](const std::string& raw, int status) {
    CAPTURE(raw.substr(0, 60));
    RawClient c(srv.port());
    c.send(raw);
    auto r = c.read_response();
    REQUIRE(r.ok);
    CHECK(r.status == status);
    CHECK(r.has_header("Connection: close\r\n"));
    CHECK(r.body.find("\"error\"") != std::string::npos);
    CHECK(c.closed_by_peer());
  };
  expect("GARBAGE\r\n\r\n", 400);
  expect("GET /x HTTP/2.0\r\n\r\n", 400);
  expect("GET  HTTP/1.1\r\n\r\n", 400);
  expect("GET /x HTTP/1.1\r\nNo colon here\r\n\r\n", 400);
  expect("GET /x HTTP/1.1\r\nBad Name: v\r\n\r\n", 400);
  expect("POST /x HTTP/1.1\r\nContent-Length: abc\r\n\r\n", 400);
  expect("POST /x HTTP/1.1\r\nContent-Length: 101\r\n\r\n", 413);
  expect("POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 411);
  expect("GET /x HTTP/1.1\r\nX-Big: " + std::string(600, 'a') + "\r\n\r\n", 431);
  expect("GET /x HTTP/1.1\r\nX-Big: " + std::string(600, 'a'), 431);  // no end of header in sight
  // The limits are inclusive: exactly max_body is fine.
  RawClient c(srv.port());
  c.send(post("/ok", std::string(100, 'b')));
  auto r = c.read_response();
  CHECK(r.status == 200);
}

TEST_CASE("requests split into tiny reads are reassembled") {
  net::HttpServer srv(opts_default(), echo_handler());
  srv.start();
  RawClient c(srv.port());
  int one = 1;
  ::setsockopt(c.fd(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  std::string req = post("/slow", "0123456789");
  for (char ch : req) {
    c.send(std::string_view(&ch, 1));
    std::this_thread::sleep_for(200us);
  }
  auto r = c.read_response();
  REQUIRE(r.ok);
  CHECK(r.body == "POST /slow q= b=0123456789");
}

TEST_CASE("large responses survive partial writes to a slow reader") {
  const std::string big(4 << 20, 'z');
  net::HttpServer srv(opts_default(), [&](const net::Request&, net::Responder res) { res.send(200, big, "text/plain"); });
  srv.start();
  RawClient c(srv.port());
  c.send(get("/big") + get("/big"));
  std::this_thread::sleep_for(50ms);  // let the server hit EAGAIN before we start draining
  for (int i = 0; i < 2; ++i) {
    auto r = c.read_response();
    REQUIRE(r.ok);
    CHECK(r.body.size() == big.size());
    CHECK(r.body == big);
  }
}

TEST_CASE("a responder may answer later from another thread") {
  std::vector<std::thread> threads;
  std::mutex mu;
  net::HttpServer srv(opts_default(), [&](const net::Request& req, net::Responder res) {
    std::string body(req.body);  // the request's views die when the handler returns
    std::lock_guard lk(mu);
    threads.emplace_back([res, body] {
      std::this_thread::sleep_for(30ms);
      res.send(201, "{\"echo\":\"" + body + "\"}");
      res.send(500, "a second send is ignored");
    });
  });
  srv.start();
  httplib::Client cli("127.0.0.1", srv.port());
  cli.set_keep_alive(true);
  for (int i = 0; i < 3; ++i) {
    auto r = cli.Post("/x", "hello" + std::to_string(i), "text/plain");
    REQUIRE(r);
    CHECK(r->status == 201);
    CHECK(r->body == "{\"echo\":\"hello" + std::to_string(i) + "\"}");
    CHECK(r->get_header_value("Content-Type") == "application/json");
  }
  srv.stop();
  for (auto& t : threads) t.join();
}

TEST_CASE("a client that disconnects before its async response does not hurt the server") {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<net::Responder> parked;
  net::HttpServer srv(opts_default(), [&](const net::Request& req, net::Responder res) {
    if (req.path == "/park") {
      std::lock_guard lk(mu);
      parked.push_back(res);
      cv.notify_all();
    } else {
      res.send(200, "ok");
    }
  });
  srv.start();
  {
    RawClient c(srv.port());
    c.send(get("/park"));
    std::unique_lock lk(mu);
    REQUIRE(cv.wait_for(lk, 5s, [&] { return parked.size() == 1; }));
  }  // client gone with its request pending
  std::this_thread::sleep_for(50ms);  // let the server notice the hang-up and free the connection
  parked[0].send(200, "too late");    // from this (foreign) thread: must be a no-op
  RawClient c2(srv.port());
  c2.send(get("/other"));
  auto r = c2.read_response();
  REQUIRE(r.ok);
  CHECK(r.body == "ok");
  // A responder outliving the whole server is a no-op as well.
  {
    RawClient c3(srv.port());
    c3.send(get("/park"));
    std::unique_lock lk(mu);
    REQUIRE(cv.wait_for(lk, 5s, [&] { return parked.size() == 2; }));
  }
  srv.stop();
  parked[1].send(200, "after stop");
}

TEST_CASE("one loop thread serves 500 concurrent connections") {
  constexpr int kConns = 500;
  std::vector<net::Responder> held;
  // Every request is held until all 500 are in: only possible if they are truly concurrent.
  net::HttpServer srv(opts_default(), [&](const net::Request& req, net::Responder res) {
    held.push_back(res);
    (void)req;
    if (static_cast<int>(held.size()) == kConns) {
      for (size_t i = 0; i < held.size(); ++i) held[i].send(200, "r");
      held.clear();
    }
  });
  srv.start();
  REQUIRE(srv.thread_count() == 1);
  std::vector<std::unique_ptr<RawClient>> clients;
  for (int i = 0; i < kConns; ++i) {
    clients.push_back(std::make_unique<RawClient>(srv.port()));
    clients.back()->send(get("/c"));
  }
  int ok = 0;
  for (auto& c : clients) ok += c->read_response().status == 200;
  CHECK(ok == kConns);
  // And they are still usable afterwards (keep-alive), held again until all are in.
  for (auto& c : clients) c->send(get("/again"));
  ok = 0;
  for (auto& c : clients) ok += c->read_response().status == 200;
  CHECK(ok == kConns);
}

TEST_CASE("several loop threads share one port") {
  std::atomic<int> calls{0};
  net::HttpServer::Options o;
  o.threads = 3;
  net::HttpServer srv(o, [&](const net::Request&, net::Responder res) {
    ++calls;
    res.send(200, "t");
  });
  srv.start();
  CHECK(srv.thread_count() == 3);
  std::vector<std::thread> ts;
  std::atomic<int> ok{0};
  for (int t = 0; t < 8; ++t)
    ts.emplace_back([&] {
      httplib::Client cli("127.0.0.1", srv.port());
      cli.set_keep_alive(true);
      for (int i = 0; i < 50; ++i) {
        auto r = cli.Get("/");
        if (r && r->status == 200) ++ok;
      }
    });
  for (auto& t : ts) t.join();
  CHECK(ok == 400);
  CHECK(calls == 400);
  srv.stop();
}

TEST_CASE("listening on a unix socket replaces a stale one") {
  std::string path = "/tmp/http_server_test_" + std::to_string(::getpid()) + ".sock";
  for (int round = 0; round < 2; ++round) {  // the second round finds the first one's path
    net::HttpServer::Options o;
    o.listen = "unix:" + path;
    o.threads = 2;
    net::HttpServer srv(o, echo_handler());
    srv.start();
    CHECK(srv.port() == 0);
    RawClient c(path);
    c.send(post("/u", "via unix"));
    auto r = c.read_response();
    REQUIRE(r.ok);
    CHECK(r.body == "POST /u q= b=via unix");
    if (round == 0) {
      // Leave a stale socket file behind, as a crash would.
      srv.stop();
      testsupport::leave_stale_unix_socket(path);
    }
  }
  ::unlink(path.c_str());
}

TEST_CASE("idle connections are closed after the idle timeout") {
  net::HttpServer::Options o;
  o.idle_timeout_ms = 100;
  net::HttpServer srv(o, echo_handler());
  srv.start();
  RawClient c(srv.port());
  c.send(get("/"));
  REQUIRE(c.read_response().ok);
  auto t0 = std::chrono::steady_clock::now();
  CHECK(c.closed_by_peer());
  CHECK(std::chrono::steady_clock::now() - t0 < 4s);
}

TEST_CASE("bad listen addresses throw") {
  CHECK_THROWS(net::HttpServer({.listen = "nonsense"}, echo_handler()).start());
  CHECK_THROWS(net::HttpServer({.listen = "256.1.1.1:80"}, echo_handler()).start());
  net::HttpServer a(opts_default(), echo_handler());
  a.start();
  // Same port without SO_REUSEPORT on both sides: refused.
  CHECK_THROWS(net::HttpServer({.listen = "127.0.0.1:" + std::to_string(a.port())}, echo_handler()).start());
}

TEST_CASE("requests with bare LF NUL or control characters get 400 at once and missing Host 400 and Expect 417") {
  using namespace std::string_literals;
  net::HttpServer srv(opts_default(), echo_handler());  // idle timeout 60 s: an answer now is the parser's
  srv.start();
  auto expect = [&](const std::string& raw, int status) {
    CAPTURE(raw);
    RawClient c(srv.port());
    auto t0 = std::chrono::steady_clock::now();
    c.send(raw);
    auto r = c.read_response();
    REQUIRE(r.ok);
    CHECK(r.status == status);
    CHECK(r.has_header("Connection: close\r\n"));
    CHECK(c.closed_by_peer());
    CHECK(std::chrono::steady_clock::now() - t0 < 2s);
  };
  expect("GET /x HTTP/1.1\nHost: x\n\n", 400);
  expect("GET /x HTTP/1.1\n", 400);
  expect("GET /x HTTP/1.1\r\nHost: x\r\nX: a\nTransfer-Encoding: chunked\r\n\r\n", 400);
  expect("GET /x HTTP/1.1\r\nHost: x\r\nX\0A: b\r\n\r\n"s, 400);
  expect("GET /x HTTP/1.1\r\nHost: x\r\nX: a\0b\r\n\r\n"s, 400);
  expect("GET /x HTTP/1.1\r\nHost: x\r\nX: a\rb\r\n\r\n", 400);
  expect("GET /x HTTP/1.1\r\nHost: x\r\nX: \x1b[31m\r\n\r\n", 400);
  expect("GET /x HTTP/1.1\r\n\r\n", 400);
  expect("GET /x HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n", 400);
  expect("POST /x HTTP/1.1\r\nHost: x\r\nExpect: 200-ok\r\nContent-Length: 2\r\n\r\nab", 417);
  // And the connection still serves well-formed requests before any of that.
  RawClient c(srv.port());
  c.send(get("/fine") + "GET /x HTTP/1.1\r\nHost: x\r\nX: a\nb\r\n\r\n");
  CHECK(c.read_response().body == "GET /fine q= b=");
  CHECK(c.read_response().status == 400);
}

TEST_CASE("HEAD answers carry the length but no body and keep-alive framing holds") {
  net::HttpServer srv(opts_default(), echo_handler());
  srv.start();
  RawClient c(srv.port());
  c.send("HEAD /h HTTP/1.1\r\nHost: x\r\n\r\n");
  auto h = c.read_response(/*head=*/true);
  REQUIRE(h.ok);
  CHECK(h.status == 200);
  CHECK(h.has_header("Content-Length: 13\r\n"));  // the length of "HEAD /h q= b=", as a GET would get
  CHECK_FALSE(c.more_within(100));                 // and not one body byte follows
  CHECK(c.pending().empty());
  c.send(get("/g"));
  auto g = c.read_response();
  REQUIRE(g.ok);
  CHECK(g.body == "GET /g q= b=");
  // Pipelined: HEAD, GET, HEAD, GET in one write.
  c.send("HEAD /1 HTTP/1.1\r\nHost: x\r\n\r\n" + get("/2") + "HEAD /3 HTTP/1.1\r\nHost: x\r\n\r\n" + get("/4"));
  CHECK(c.read_response(true).status == 200);
  CHECK(c.read_response().body == "GET /2 q= b=");
  CHECK(c.read_response(true).status == 200);
  CHECK(c.read_response().body == "GET /4 q= b=");
  // cpp-httplib, an independent client, agrees on one keep-alive connection.
  httplib::Client cli("127.0.0.1", srv.port());
  cli.set_keep_alive(true);
  cli.set_read_timeout(2s);
  for (int i = 0; i < 3; ++i) {
    auto hr = cli.Head("/a");
    REQUIRE(hr);
    CHECK(hr->status == 200);
    CHECK(hr->body.empty());
    auto gr = cli.Get("/b");
    REQUIRE(gr);
    CHECK(gr->body == "GET /b q= b=");
  }
}

TEST_CASE("a FIN arriving with the last request is seen: every request read is answered then the connection closes") {
  // The loop is kept busy (a blocking handler) while the next request and the FIN arrive, so
  // both are reported by one edge-triggered event: a read loop that takes a short read for
  // "drained" misses the FIN and the connection lingers until the idle timeout (60 s here).
  std::mutex mu;
  std::vector<std::thread> threads;
  net::HttpServer srv(opts_default(), [&](const net::Request& req, net::Responder res) {
    if (req.path == "/block") std::this_thread::sleep_for(300ms);
    if (req.path == "/async") {  // answered later, from another thread
      std::lock_guard lk(mu);
      threads.emplace_back([res] {
        std::this_thread::sleep_for(50ms);
        res.send(200, "async");
      });
      return;
    }
    res.send(200, std::string(req.path));
  });
  srv.start();
  {
    RawClient c(srv.port());
    c.send(get("/block"));
    std::this_thread::sleep_for(100ms);  // the handler is blocking the loop now
    c.send(get("/last"));
    ::shutdown(c.fd(), SHUT_WR);
    CHECK(c.read_response().body == "/block");
    CHECK(c.read_response().body == "/last");
    auto t0 = std::chrono::steady_clock::now();
    CHECK(c.closed_by_peer());
    CHECK(std::chrono::steady_clock::now() - t0 < 2s);
  }
  {
    // Pipelined behind a request answered asynchronously, then FIN: all three are answered.
    RawClient c(srv.port());
    c.send(get("/async") + get("/two") + get("/three"));
    ::shutdown(c.fd(), SHUT_WR);
    CHECK(c.read_response().body == "async");
    CHECK(c.read_response().body == "/two");
    CHECK(c.read_response().body == "/three");
    CHECK(c.closed_by_peer());
  }
  {
    // A half request then FIN: it can never complete, so the connection closes at once.
    RawClient c(srv.port());
    c.send("GET /half HTTP/1.1\r\nHo");
    ::shutdown(c.fd(), SHUT_WR);
    auto t0 = std::chrono::steady_clock::now();
    CHECK(c.closed_by_peer());
    CHECK(std::chrono::steady_clock::now() - t0 < 2s);
  }
  srv.stop();
  for (auto& t : threads) t.join();
}

TEST_CASE("slow requests hit the header and body deadlines although every byte resets the idle timer") {
  net::HttpServer::Options o;
  o.header_timeout_ms = 400;
  o.body_timeout_ms = 400;
  o.idle_timeout_ms = 60000;
  net::HttpServer srv(o, echo_handler());
  srv.start();
  // One byte every 50 ms: far inside the idle timeout, far beyond the deadline in total.
  auto trickle = [&](const std::string& prefix, const std::string& slow_part) {
    RawClient c(srv.port());
    int one = 1;
    ::setsockopt(c.fd(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c.send(prefix);
    auto t0 = std::chrono::steady_clock::now();
    std::atomic<bool> stop{false};
    std::thread writer([&] {
      for (char ch : slow_part) {
        if (stop) return;
        if (::send(c.fd(), &ch, 1, MSG_NOSIGNAL) != 1) return;
        std::this_thread::sleep_for(50ms);
      }
    });
    auto r = c.read_response();
    auto took = std::chrono::steady_clock::now() - t0;
    stop = true;
    writer.join();
    CHECK(r.ok);
    CHECK(r.status == 408);
    CHECK(took >= 350ms);
    CHECK(took < 3s);
    CHECK(c.closed_by_peer());
  };
  trickle("", get("/slow-head", "X-Pad: " + std::string(200, 'p') + "\r\n"));
  trickle("POST /slow-body HTTP/1.1\r\nHost: x\r\nContent-Length: 200\r\n\r\n", std::string(200, 'b'));

  // Within the deadlines all is well, and an idle keep-alive connection is not a slow request.
  RawClient c(srv.port());
  c.send(get("/a"));
  CHECK(c.read_response().status == 200);
  std::this_thread::sleep_for(700ms);
  std::string req = post("/b", "0123456789");
  c.send(req.substr(0, 20));
  std::this_thread::sleep_for(200ms);
  c.send(req.substr(20, req.size() - 25));
  std::this_thread::sleep_for(200ms);  // the head took ~200 ms, the body ~200 ms: each within 400
  c.send(req.substr(req.size() - 5));
  auto r = c.read_response();
  CHECK(r.status == 200);
  CHECK(r.body == "POST /b q= b=0123456789");
}


TEST_CASE("connections beyond max_connections are closed at once and the count is exact") {
  net::HttpServer::Options o;
  o.threads = 2;  // the cap holds over all loops
  o.max_connections = 50;
  net::HttpServer srv(o, echo_handler());
  srv.start();
  std::vector<std::unique_ptr<RawClient>> clients;
  for (int i = 0; i < 200; ++i) clients.push_back(std::make_unique<RawClient>(srv.port()));
  std::vector<bool> refused(clients.size());
  auto count_refused = [&] {
    for (size_t i = 0; i < clients.size(); ++i)
      if (!refused[i] && closed_within(clients[i]->fd(), 0)) refused[i] = true;
    return std::count(refused.begin(), refused.end(), true);
  };
  for (int i = 0; i < 200 && count_refused() < 150; ++i) std::this_thread::sleep_for(10ms);
  std::this_thread::sleep_for(100ms);  // and not one more
  CHECK(count_refused() == 150);
  std::vector<std::unique_ptr<RawClient>> kept;
  for (size_t i = 0; i < clients.size(); ++i)
    if (!refused[i]) kept.push_back(std::move(clients[i]));
  REQUIRE(kept.size() == 50);
  CHECK(srv.open_connections() == 50);
  for (auto& c : kept) {  // the ones kept are served normally
    c->send(get("/k"));
    CHECK(c->read_response().status == 200);
  }
  kept.resize(40);  // ten clients leave: room for ten more
  for (int i = 0; i < 100 && srv.open_connections() != 40; ++i) std::this_thread::sleep_for(10ms);
  CHECK(srv.open_connections() == 40);
  for (int i = 0; i < 10; ++i) {
    kept.push_back(std::make_unique<RawClient>(srv.port()));
    kept.back()->send(get("/new"));
    CHECK(kept.back()->read_response().body == "GET /new q= b=");
  }
  RawClient extra(srv.port());
  CHECK(closed_within(extra.fd(), 2000));
  CHECK(srv.open_connections() == 50);
  kept.clear();
  for (int i = 0; i < 100 && srv.open_connections() != 0; ++i) std::this_thread::sleep_for(10ms);
  CHECK(srv.open_connections() == 0);
}

namespace {
// The most a TCP socket's send buffer can grow to here (tcp_wmem's maximum).
size_t max_tcp_send_buffer() {
  FILE* f = std::fopen("/proc/sys/net/ipv4/tcp_wmem", "r");
  unsigned long lo = 0, def = 0, hi = 4 << 20;
  if (f) {
    if (std::fscanf(f, "%lu %lu %lu", &lo, &def, &hi) != 3) hi = 4 << 20;
    std::fclose(f);
  }
  return hi;
}

// Every byte depends on its position: a lost, repeated or reordered piece cannot go unnoticed.
std::string patterned(size_t n, char salt) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>('a' + (i / 7 + static_cast<size_t>(salt)) % 26);
  return s;
}
}  // namespace

TEST_CASE("an answer larger than every socket buffer goes out through the partial-write path intact") {
  // Larger than the server's send buffer can ever grow plus the client's receive buffer, so the
  // first write is partial by construction and the rest can only leave through Conn::flush.
  const std::string big = patterned(max_tcp_send_buffer() + (2 << 20), 'b');
  net::HttpServer srv(opts_default(), [&](const net::Request& req, net::Responder res) {
    if (req.path == "/big") res.send(200, big, "text/plain");
    else res.send(200, std::string(req.path), "text/plain");
  });
  srv.start();
  RawClient c(srv.port());
  c.send(get("/big") + get("/after"));
  std::this_thread::sleep_for(200ms);  // the server fills every buffer and must park the rest
  // The loop is not stuck behind the slow reader: another client is served meanwhile.
  RawClient other(srv.port());
  other.send(get("/other"));
  CHECK(other.read_response().body == "/other");
  // Drain slowly in small reads: flush meets EAGAIN again and again.
  std::string got;
  char tmp[256 * 1024];
  size_t want_head = 0;
  for (;;) {
    ssize_t n = ::recv(c.fd(), tmp, sizeof tmp, 0);
    REQUIRE(n > 0);
    got.append(tmp, static_cast<size_t>(n));
    if (want_head == 0) want_head = got.find("\r\n\r\n");
    if (want_head != std::string::npos && got.size() >= want_head + 4 + big.size()) break;
    if (got.size() % 5 == 0) std::this_thread::sleep_for(1ms);
  }
  REQUIRE(want_head != std::string::npos);
  CHECK(got.substr(0, want_head).find("Content-Length: " + std::to_string(big.size())) != std::string::npos);
  std::string body = got.substr(want_head + 4, big.size());
  CHECK(body.size() == big.size());
  CHECK(body == big);
  // The request pipelined behind it is served once the big answer has drained.
  std::string rest = got.substr(want_head + 4 + big.size());
  while (rest.find("/after") == std::string::npos) {
    ssize_t n = ::recv(c.fd(), tmp, sizeof tmp, 0);
    REQUIRE(n > 0);
    rest.append(tmp, static_cast<size_t>(n));
  }
  CHECK(rest.rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
}

TEST_CASE("a client leaving in the middle of a parked answer is closed and forgotten") {
  const std::string big = patterned(max_tcp_send_buffer() + (2 << 20), 'c');
  net::HttpServer srv(opts_default(), [&](const net::Request&, net::Responder res) { res.send(200, big, "text/plain"); });
  srv.start();
  {
    RawClient c(srv.port());
    c.send(get("/big"));
    std::this_thread::sleep_for(200ms);
    char tmp[4096];
    CHECK(::recv(c.fd(), tmp, sizeof tmp, 0) > 0);  // a little, so flush has something to do next
    linger lg{1, 0};  // leave with a reset: the server's next send fails
    ::setsockopt(c.fd(), SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
  }
  for (int i = 0; i < 200 && srv.open_connections() != 0; ++i) std::this_thread::sleep_for(10ms);
  CHECK(srv.open_connections() == 0);
  RawClient again(srv.port());
  again.send(get("/x"));
  CHECK(again.read_response().body.size() == big.size());
}

TEST_CASE("3000 pipelined requests into a 2 KB receive buffer are answered in order") {
  // 3000 answers of 2 KB: more than the server's send buffer can ever hold, so it parks answers,
  // stops parsing, stops reading, and resumes from flush as we drain.
  const std::string pad(2000, '.');
  net::HttpServer srv(opts_default(), [&](const net::Request& req, net::Responder res) {
    res.send(200, "GET " + std::string(req.path) + " q= b=" + pad, "text/plain");
  });
  srv.start();
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  int small = 2048;  // before connect, so the advertised window is small from the start
  ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
  timeval tv{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(srv.port());
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  constexpr int kRequests = 3000;
  std::string all;
  for (int i = 0; i < kRequests; ++i) all += get(fmt_path(i));
  // One writer, blocked whenever the server stops reading because our window is full.
  std::thread writer([&] {
    std::string_view s = all;
    while (!s.empty()) {
      ssize_t n = ::send(fd, s.data(), s.size(), MSG_NOSIGNAL);
      if (n <= 0) return;
      s.remove_prefix(static_cast<size_t>(n));
    }
  });
  std::string in;
  char tmp[2048];
  int answered = 0;
  bool in_order = true;
  while (answered < kRequests) {
    size_t end = in.find("\r\n\r\n");
    size_t cl = in.find("Content-Length: ");
    if (end != std::string::npos && cl < end) {
      size_t len = std::stoul(in.substr(cl + 16));
      if (in.size() >= end + 4 + len) {
        in_order &= in.substr(end + 4, len) == "GET " + fmt_path(answered) + " q= b=" + pad;
        in.erase(0, end + 4 + len);
        ++answered;
        continue;
      }
    }
    ssize_t n = ::recv(fd, tmp, sizeof tmp, 0);
    if (n <= 0) break;
    in.append(tmp, static_cast<size_t>(n));
  }
  writer.join();
  ::close(fd);
  CHECK(answered == kRequests);
  CHECK(in_order);
}

TEST_CASE("100-continue is sent when the body is awaited and not when it came along") {
  net::HttpServer srv(opts_default(), echo_handler());
  srv.start();
  RawClient c(srv.port());
  c.send("POST /e HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n");
  auto interim = c.read_response();
  REQUIRE(interim.ok);
  CHECK(interim.status == 100);
  c.send("body");
  auto r = c.read_response();
  CHECK(r.status == 200);
  CHECK(r.body == "POST /e q= b=body");
  c.send("POST /f HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nok");
  auto direct = c.read_response();
  CHECK(direct.status == 200);  // no interim answer in front of it
  CHECK(direct.body == "POST /f q= b=ok");
}

TEST_CASE("with receive_times a request sent before its connection is accepted carries when it arrived") {
  // The kernel stamps a packet only while some socket asks for stamps. Here the only loop is
  // held, so the client's request arrives before the server has accepted the connection; no
  // other socket of this test asks for stamps then, so only the listener can. (Another process
  // that asks keeps stamping on for everyone: then this passes either way, it cannot fail wrongly.)
  auto o = opts_default();
  o.receive_times = true;
  std::atomic<int64_t> waited_us{-1};
  std::atomic<bool> stamped{false};
  net::HttpServer srv(o, [&](const net::Request& req, net::Responder res) {
    stamped = req.received != std::chrono::steady_clock::time_point{};
    if (stamped)
      waited_us =
          std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - req.received).count();
    res.send(200, "ok", "text/plain");
  });
  srv.start();
  std::atomic<bool> held{false};
  srv.loop(0).post([&] {
    held = true;
    std::this_thread::sleep_for(150ms);
  });
  while (!held) std::this_thread::sleep_for(1ms);
  RawClient c(srv.port());
  c.send(get("/early"));
  REQUIRE(c.read_response().ok);
  CHECK(stamped);
  CHECK(waited_us >= 80'000);  // sent ~150 ms before the loop was free to accept and read it
  CHECK(waited_us < 5'000'000);
  srv.stop();
}

TEST_CASE("with receive_times a request carries when its bytes arrived, not when its busy loop read them") {
  // One loop thread: the handler of /block holds it for 150 ms, and a second client's request
  // arrives during that time. Its receive time must predate its parsing by about that much.
  for (bool on : {true, false}) {
    CAPTURE(on);
    auto o = opts_default();
    o.receive_times = on;
    std::atomic<int64_t> waited_us{-1};
    std::atomic<bool> stamped{false};
    net::HttpServer srv(o, [&](const net::Request& req, net::Responder res) {
      if (req.path == "/block") {
        std::this_thread::sleep_for(150ms);
      } else {
        stamped = req.received != std::chrono::steady_clock::time_point{};
        if (stamped)
          waited_us = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() -
                                                                           req.received).count();
      }
      res.send(200, "ok", "text/plain");
    });
    srv.start();
    RawClient a(srv.port()), b(srv.port());
    a.send(get("/block"));
    std::this_thread::sleep_for(30ms);  // the loop is now inside /block's handler
    b.send(get("/late"));
    REQUIRE(a.read_response().ok);
    REQUIRE(b.read_response().ok);
    CHECK(stamped == on);
    if (on) {
      CHECK(waited_us >= 80'000);     // arrived ~120 ms before the loop was free to read it
      CHECK(waited_us < 5'000'000);
    }
    srv.stop();
  }
}
