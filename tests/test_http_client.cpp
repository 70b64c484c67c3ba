// net::HttpClient against real servers on loopback: cpp-httplib (an independent HTTP
// implementation) and a small scripted epoll server for what httplib cannot do (hold 1,000
// requests, hang up on purpose, send malformed or hand-made answers).
#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "net/event_loop.h"
#include "net/http_client.h"
#include "tests/support/run_loop.h"

using namespace std::chrono_literals;
using net::ClientError;
using net::ClientResult;
using testsupport::run_loop;

namespace {

std::string url_of(int port) { return "http://127.0.0.1:" + std::to_string(port); }

// cpp-httplib on a background thread, keep-alive long enough for the tests.
struct HttplibServer {
  httplib::Server svr;
  std::thread th;
  int port = 0;
  std::mutex mu;
  std::set<int> client_ports;  // distinct client ports = distinct connections

  void start() {
    svr.set_keep_alive_max_count(1000);
    svr.set_tcp_nodelay(true);
    port = svr.bind_to_any_port("127.0.0.1");
    REQUIRE(port > 0);
    th = std::thread([this] { svr.listen_after_bind(); });
    while (!svr.is_running()) std::this_thread::sleep_for(1ms);
  }
  void note(const httplib::Request& req) {
    std::lock_guard lk(mu);
    client_ports.insert(req.remote_port);
  }
  size_t connections() {
    std::lock_guard lk(mu);
    return client_ports.size();
  }
  ~HttplibServer() {
    svr.stop();
    if (th.joinable()) th.join();
  }
};

// A scripted HTTP server on its own epoll loop. `respond` maps a request path to the raw
// bytes to answer (empty = hang up without answering); answers go out after `delay`.
class ScriptServer {
 public:
  using Respond = std::function<std::string(const std::string& path)>;
  ScriptServer(Respond respond, std::chrono::milliseconds delay = 0ms, bool close_after_answer = false)
      : respond_(std::move(respond)), delay_(delay), close_after_(close_after_answer) {
    lfd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int one = 1;
    ::setsockopt(lfd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(lfd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    REQUIRE(::listen(lfd_, 4096) == 0);
    socklen_t len = sizeof a;
    ::getsockname(lfd_, reinterpret_cast<sockaddr*>(&a), &len);
    port = ntohs(a.sin_port);
    std::atomic<bool> ready{false};
    th_ = std::thread([this, &ready] {
      loop_ = std::make_unique<net::EventLoop>();
      loop_->add_fd(lfd_, EPOLLIN, &listener_);
      ready = true;
      loop_->run();
      for (auto& [fd, c] : conns_) ::close(fd);
      conns_.clear();
    });
    while (!ready) std::this_thread::sleep_for(1ms);
  }
  ~ScriptServer() {
    loop_->stop();
    th_.join();
    ::close(lfd_);
  }

  int port = 0;
  std::atomic<int> accepted{0}, requests{0}, max_open{0};
  std::mutex mu;
  std::vector<std::string> arrivals;  // request paths in arrival order

 private:
  struct Conn : net::IoHandler {
    ScriptServer* s;
    int fd;
    std::string buf;
    Conn(ScriptServer* srv, int f) : s(srv), fd(f) {}
    void on_io(uint32_t) override { s->on_readable(fd); }
  };
  struct Listener : net::IoHandler {
    ScriptServer* s;
    explicit Listener(ScriptServer* srv) : s(srv) {}
    void on_io(uint32_t) override { s->on_accept(); }
  };

  void on_accept() {
    for (;;) {
      int fd = ::accept4(lfd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) return;
      ++accepted;
      auto c = std::make_unique<Conn>(this, fd);
      loop_->add_fd(fd, EPOLLIN, c.get());
      conns_[fd] = std::move(c);
      int open = static_cast<int>(conns_.size());
      if (open > max_open) max_open = open;
    }
  }

  void close_conn(int fd) {
    auto it = conns_.find(fd);
    if (it == conns_.end()) return;
    loop_->del_fd(fd);
    ::close(fd);
    // Deleted after this epoll batch (see EventLoop::post).
    std::shared_ptr<Conn> dead(it->second.release());
    conns_.erase(it);
    loop_->post([dead] {});
  }

  void on_readable(int fd) {
    Conn* c = conns_.at(fd).get();
    char tmp[16384];
    for (;;) {
      ssize_t k = ::recv(fd, tmp, sizeof tmp, 0);
      if (k > 0) {
        c->buf.append(tmp, static_cast<size_t>(k));
        continue;
      }
      if (k == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
        close_conn(fd);
        return;
      }
      break;
    }
    for (;;) {  // every complete request in the buffer
      size_t end = c->buf.find("\r\n\r\n");
      if (end == std::string::npos) return;
      size_t body_len = 0;
      size_t cl = c->buf.find("Content-Length: ");
      if (cl != std::string::npos && cl < end) body_len = std::stoul(c->buf.substr(cl + 16));
      if (c->buf.size() < end + 4 + body_len) return;
      size_t sp1 = c->buf.find(' '), sp2 = c->buf.find(' ', sp1 + 1);
      std::string path = c->buf.substr(sp1 + 1, sp2 - sp1 - 1);
      c->buf.erase(0, end + 4 + body_len);
      ++requests;
      {
        std::lock_guard lk(mu);
        arrivals.push_back(path);
      }
      std::string answer = respond_(path);
      auto send_it = [this, fd, answer] {
        if (!conns_.count(fd)) return;
        if (answer.empty() || ::send(fd, answer.data(), answer.size(), MSG_NOSIGNAL) < 0 || close_after_)
          close_conn(fd);
      };
      if (delay_ == 0ms) {
        send_it();
        if (!conns_.count(fd)) return;
      } else {
        loop_->add_timer(delay_, send_it);
      }
    }
  }

  Respond respond_;
  std::chrono::milliseconds delay_;
  bool close_after_;
  int lfd_ = -1;
  std::thread th_;
  std::unique_ptr<net::EventLoop> loop_;
  Listener listener_{this};
  std::unordered_map<int, std::unique_ptr<Conn>> conns_;
};

std::string ok_echo(const std::string& path) {
  return "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: " + std::to_string(path.size()) +
         "\r\n\r\n" + path;
}

int closed_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);  // bound, never listened: connects are refused
  return ntohs(a.sin_port);
}

}  // namespace

TEST_CASE("endpoint parsing") {
  auto ep = net::Endpoint::parse("http://127.0.0.1:8001");
  CHECK(ep.host_header == "127.0.0.1:8001");
  CHECK(ep.base_path.empty());
  CHECK(ep.addr.ss_family == AF_INET);
  auto ep2 = net::Endpoint::parse("http://localhost:9/api/v1/");
  CHECK(ep2.base_path == "/api/v1");
  CHECK(ep2.addr.ss_family == AF_INET);
  CHECK(net::Endpoint::parse("http://127.0.0.1").host_header == "127.0.0.1");
  CHECK_THROWS_AS(net::Endpoint::parse("https://127.0.0.1:1"), std::invalid_argument);
  CHECK_THROWS_AS(net::Endpoint::parse("127.0.0.1:80"), std::invalid_argument);
  CHECK_THROWS_AS(net::Endpoint::parse("http://127.0.0.1:99999"), std::invalid_argument);
  CHECK_THROWS_AS(net::Endpoint::parse("http://:80"), std::invalid_argument);
}

TEST_CASE("sequential requests reuse one keep-alive connection") {
  HttplibServer srv;
  srv.svr.Post("/echo", [&](const httplib::Request& req, httplib::Response& res) {
    srv.note(req);
    res.set_content(req.body + "|" + req.get_header_value("Content-Type") + "|" + req.get_header_value("X-Test"),
                    "text/plain");
  });
  srv.start();
  net::EventLoop loop;
  net::HttpClient client(loop);
  auto ep = net::Endpoint::parse(url_of(srv.port));
  int done = 0;
  std::function<void()> next = [&] {
    client.request(ep, "POST", "/echo", "{\"n\":" + std::to_string(done) + "}", "X-Test: yes\r\n", 2000ms,
                   [&](ClientResult&& r) {
                     CHECK(r.error == ClientError::none);
                     CHECK(r.status == 200);
                     CHECK(r.body == "{\"n\":" + std::to_string(done) + "}|application/json|yes");
                     CHECK(r.completed >= r.write_started);
                     if (++done == 10) {
                       loop.stop();
                     } else {
                       next();
                     }
                   });
  };
  next();
  run_loop(loop);
  CHECK(done == 10);
  CHECK(srv.connections() == 1);
  CHECK(client.open_connections() == 1);
  CHECK(client.in_flight() == 0);
}

TEST_CASE("pool limit holds and waiting requests are served FIFO") {
  ScriptServer srv(ok_echo, 50ms);
  net::EventLoop loop;
  net::HttpClient client(loop, {.max_connections = 2, .connect_timeout = 1000ms});
  auto ep = net::Endpoint::parse(url_of(srv.port));
  std::vector<std::string> completed;
  size_t max_open = 0;
  for (int i = 0; i < 6; ++i) {
    client.request(ep, "GET", "/r/" + std::to_string(i), "", "", 3000ms, [&, i](ClientResult&& r) {
      CHECK(r.error == ClientError::none);
      CHECK(r.body == "/r/" + std::to_string(i));
      completed.push_back(r.body);
      max_open = std::max(max_open, client.open_connections());
      if (completed.size() == 6) loop.stop();
    });
  }
  CHECK(client.in_flight() == 6);
  CHECK(client.open_connections() <= 2);
  run_loop(loop);
  CHECK(srv.accepted == 2);
  CHECK(max_open <= 2);
  std::lock_guard lk(srv.mu);
  REQUIRE(srv.arrivals.size() == 6);
  // Two at a time, in the order they were issued.
  for (size_t i = 0; i < 6; ++i) {
    int n = std::stoi(srv.arrivals[i].substr(3));
    CHECK(n / 2 == static_cast<int>(i) / 2);
  }
}

TEST_CASE("time spent waiting for a connection counts in the timeout") {
  ScriptServer srv(ok_echo, 300ms);
  net::EventLoop loop;
  net::HttpClient client(loop, {.max_connections = 1, .connect_timeout = 1000ms});
  auto ep = net::Endpoint::parse(url_of(srv.port));
  std::vector<ClientResult> res(3);
  int done = 0;
  auto cb = [&](int i) {
    return [&, i](ClientResult&& r) {
      res[i] = std::move(r);
      if (++done == 3) loop.stop();
    };
  };
  client.request(ep, "GET", "/a", "", "", 2000ms, cb(0));  // served first, 300 ms
  client.request(ep, "GET", "/b", "", "", 100ms, cb(1));   // still queued at its deadline
  client.request(ep, "GET", "/c", "", "", 450ms, cb(2));   // sent at ~300 ms, no answer by 450
  run_loop(loop);
  CHECK(res[0].error == ClientError::none);
  CHECK(res[1].error == ClientError::connect_failed);  // never written: safe to retry
  CHECK_FALSE(res[1].outcome_unknown());
  CHECK(res[2].error == ClientError::timeout);
  CHECK(res[2].outcome_unknown());
  std::lock_guard lk(srv.mu);
  CHECK(srv.arrivals == std::vector<std::string>{"/a", "/c"});
}

TEST_CASE("a request past its start_by is never written and says expired") {
  // The engine's right to send a payment is a lease: a request still waiting for a connection
  // when the lease ends must not go out later. The clock is read right before the write.
  ScriptServer srv(ok_echo, 300ms);
  net::EventLoop loop;
  net::HttpClient client(loop, {.max_connections = 1, .connect_timeout = 1000ms});
  auto ep = net::Endpoint::parse(url_of(srv.port));
  std::vector<ClientResult> res(4);
  int done = 0;
  auto cb = [&](int i) {
    return [&, i](ClientResult&& r) {
      res[i] = std::move(r);
      if (++done == 4) loop.stop();
    };
  };
  auto now = net::Clock::now();
  client.request(ep, "GET", "/a", "", "", 2000ms, now + 1000ms, cb(0));  // starts at once
  client.request(ep, "GET", "/b", "", "", 2000ms, now + 100ms, cb(1));   // queued behind /a past its start_by
  client.request(ep, "GET", "/c", "", "", 2000ms, now + 1000ms, cb(2));  // queued, starts at ~300 ms
  client.request(ep, "GET", "/d", "", "", 2000ms, now - 1ms, cb(3));     // already late
  run_loop(loop);
  CHECK(res[0].error == ClientError::none);
  CHECK(res[1].error == ClientError::expired);
  CHECK_FALSE(res[1].outcome_unknown());
  CHECK(res[2].error == ClientError::none);
  CHECK(res[3].error == ClientError::expired);
  std::lock_guard lk(srv.mu);
  CHECK(srv.arrivals == std::vector<std::string>{"/a", "/c"});
}

TEST_CASE("a slow server yields timeout and the connection is closed") {
  HttplibServer srv;
  srv.svr.Get("/slow", [&](const httplib::Request&, httplib::Response& res) {
    std::this_thread::sleep_for(400ms);
    res.set_content("late", "text/plain");
  });
  srv.start();
  net::EventLoop loop;
  net::HttpClient client(loop);
  auto ep = net::Endpoint::parse(url_of(srv.port));
  ClientResult got;
  client.request(ep, "GET", "/slow", "", "", 100ms, [&](ClientResult&& r) {
    got = std::move(r);
    loop.stop();
  });
  run_loop(loop);
  CHECK(got.error == ClientError::timeout);
  CHECK(got.outcome_unknown());
  CHECK(got.latency() >= 90ms);
  CHECK(client.open_connections() == 0);
  CHECK(client.in_flight() == 0);
}

TEST_CASE("a refused connection yields connect_failed and never a synchronous callback") {
  net::EventLoop loop;
  net::HttpClient client(loop);
  auto ep = net::Endpoint::parse(url_of(closed_port()));
  bool returned = false, called = false;
  ClientResult got;
  client.request(ep, "POST", "/payments", "{}", "", 1000ms, [&](ClientResult&& r) {
    CHECK(returned);
    called = true;
    got = std::move(r);
    loop.stop();
  });
  returned = true;
  CHECK_FALSE(called);
  run_loop(loop);
  CHECK(got.error == ClientError::connect_failed);
  CHECK_FALSE(got.outcome_unknown());
  CHECK(client.open_connections() == 0);
}

TEST_CASE("a server hanging up after reading the request yields disconnected") {
  ScriptServer srv([](const std::string&) { return std::string(); });
  net::EventLoop loop;
  net::HttpClient client(loop);
  auto ep = net::Endpoint::parse(url_of(srv.port));
  ClientResult got;
  client.request(ep, "POST", "/payments", "{\"a\":1}", "", 1000ms, [&](ClientResult&& r) {
    got = std::move(r);
    loop.stop();
  });
  run_loop(loop);
  CHECK(got.error == ClientError::disconnected);
  CHECK(got.outcome_unknown());
  CHECK(srv.requests == 1);
}

TEST_CASE("Connection close from the server is honoured") {
  HttplibServer srv;
  srv.svr.Get("/bye", [&](const httplib::Request& req, httplib::Response& res) {
    srv.note(req);
    res.set_header("Connection", "close");
    res.set_content("bye", "text/plain");
  });
  srv.start();
  net::EventLoop loop;
  net::HttpClient client(loop);
  auto ep = net::Endpoint::parse(url_of(srv.port));
  int done = 0;
  std::function<void()> next = [&] {
    client.request(ep, "GET", "/bye", "", "", 2000ms, [&](ClientResult&& r) {
      CHECK(r.error == ClientError::none);
      CHECK(r.body == "bye");
      CHECK(client.open_connections() == 0);  // dropped, not pooled
      if (++done == 3) {
        loop.stop();
      } else {
        next();
      }
    });
  };
  next();
  run_loop(loop);
  CHECK(done == 3);
  CHECK(srv.connections() == 3);
}

TEST_CASE("chunked bodies are decoded") {
  HttplibServer srv;
  srv.svr.Get("/chunks", [&](const httplib::Request&, httplib::Response& res) {
    res.set_chunked_content_provider("text/plain", [](size_t, httplib::DataSink& sink) {
      sink.write("hello ", 6);
      sink.write("chunked ", 8);
      std::string big(20000, 'x');
      sink.write(big.data(), big.size());
      sink.done();
      return true;
    });
  });
  srv.start();
  // Hand-made: extensions, upper-case hex, a trailer, split over one keep-alive connection.
  ScriptServer raw([](const std::string&) {
    return std::string(
        "HTTP/1.1 200 OK\r\ntransfer-encoding: Chunked\r\n\r\n"
        "5;ext=1\r\nhello\r\nA\r\n0123456789\r\n0\r\nX-Trailer: t\r\n\r\n");
  });
  net::EventLoop loop;
  net::HttpClient client(loop);
  int done = 0;
  client.request(net::Endpoint::parse(url_of(srv.port)), "GET", "/chunks", "", "", 2000ms, [&](ClientResult&& r) {
    CHECK(r.error == ClientError::none);
    CHECK(r.body == "hello chunked " + std::string(20000, 'x'));
    if (++done == 3) loop.stop();
  });
  auto rep = net::Endpoint::parse(url_of(raw.port));
  for (int i = 0; i < 2; ++i)
    client.request(rep, "GET", "/", "", "", 2000ms, [&](ClientResult&& r) {
      CHECK(r.error == ClientError::none);
      CHECK(r.body == "hello0123456789");
      if (++done == 3) loop.stop();
    });
  run_loop(loop);
  CHECK(done == 3);
}

TEST_CASE("a thousand concurrent requests against a delaying server") {
  ScriptServer srv(ok_echo, 200ms);
  net::EventLoop loop;
  net::HttpClient client(loop);
  auto ep = net::Endpoint::parse(url_of(srv.port));
  constexpr int N = 1000;
  int ok = 0, done = 0;
  for (int i = 0; i < N; ++i) {
    client.request(ep, "POST", "/p/" + std::to_string(i), "{\"amount\":20.05}", "", 8000ms,
                   [&, i](ClientResult&& r) {
                     if (r.error == ClientError::none && r.status == 200 && r.body == "/p/" + std::to_string(i)) ++ok;
                     if (++done == N) loop.stop();
                   });
  }
  CHECK(client.in_flight() == N);
  run_loop(loop, 20s);
  CHECK(ok == N);
  CHECK(srv.accepted <= 256);
  CHECK(client.open_connections() <= 256);
  CHECK(client.in_flight() == 0);
}

TEST_CASE("idle connections closed by the server are never handed a request") {
  // The server closes every connection right after answering, without saying so.
  ScriptServer srv(ok_echo, 0ms, /*close_after_answer=*/true);
  net::EventLoop loop;
  net::HttpClient client(loop);
  auto ep = net::Endpoint::parse(url_of(srv.port));
  int done = 0, ok = 0;
  std::function<void()> next = [&] {
    client.request(ep, "GET", "/x", "", "", 2000ms, [&](ClientResult&& r) {
      if (r.error == ClientError::none) ++ok;
      if (++done == 10) {
        loop.stop();
      } else {
        loop.add_timer(20ms, next);  // lets the server's FIN arrive while the connection idles
      }
    });
  };
  next();
  run_loop(loop);
  CHECK(ok == 10);
  CHECK(srv.accepted == 10);
}

TEST_CASE("a malformed answer yields bad_response") {
  ScriptServer srv([](const std::string&) { return std::string("SMTP ready\r\n\r\n"); });
  net::EventLoop loop;
  net::HttpClient client(loop);
  ClientResult got;
  client.request(net::Endpoint::parse(url_of(srv.port)), "GET", "/", "", "", 1000ms, [&](ClientResult&& r) {
    got = std::move(r);
    loop.stop();
  });
  run_loop(loop);
  CHECK(got.error == ClientError::bad_response);
  CHECK(got.outcome_unknown());
  CHECK(client.open_connections() == 0);
}

TEST_CASE("fail_all completes pending requests and destruction drops the rest") {
  ScriptServer srv(ok_echo, 2000ms);
  net::EventLoop loop;
  auto ep = net::Endpoint::parse(url_of(srv.port));
  std::vector<ClientError> errors;
  {
    net::HttpClient client(loop, {.max_connections = 1, .connect_timeout = 1000ms});
    for (int i = 0; i < 3; ++i)
      client.request(ep, "GET", "/w", "", "", 5000ms, [&](ClientResult&& r) { errors.push_back(r.error); });
    loop.add_timer(100ms, [&] {
      client.fail_all();
      loop.stop();
    });
    run_loop(loop);
    REQUIRE(errors.size() == 3);
    CHECK(errors[0] == ClientError::disconnected);  // on the wire
    CHECK(errors[1] == ClientError::connect_failed);  // queued
    CHECK(errors[2] == ClientError::connect_failed);
    CHECK(client.in_flight() == 0);
    CHECK(client.open_connections() == 0);
  }
  int called = 0;
  {
    net::HttpClient client(loop);
    for (int i = 0; i < 5; ++i) client.request(ep, "GET", "/w", "", "", 5000ms, [&](ClientResult&&) { ++called; });
    loop.add_timer(100ms, [&] { loop.stop(); });
    run_loop(loop);
  }  // destroyed with 5 requests on the wire: their callbacks are dropped
  CHECK(called == 0);
}

TEST_CASE("an answer beyond max_response_body or with a repeated Content-Length is a bad_response") {
  const std::string big_head = "HTTP/1.1 200 OK\r\nContent-Length: 2000000000\r\n\r\n" + std::string(60000, 'x');
  std::string chunked = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (int i = 0; i < 100; ++i) chunked += "3e8\r\n" + std::string(1000, 'c') + "\r\n";  // 100 x 1000 bytes
  chunked += "0\r\n\r\n";
  ScriptServer srv([&](const std::string& path) -> std::string {
    if (path == "/announce-2gb") return big_head;  // and then nothing: waiting for it would time out
    if (path == "/chunked-100k") return chunked;
    if (path == "/two-lengths") return "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 5\r\n\r\nabcde";
    if (path == "/same-twice") return "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nab";
    return ok_echo(path);
  });
  net::EventLoop loop;
  net::HttpClient client(loop, {.max_connections = 8, .connect_timeout = 1000ms, .max_response_body = 50'000});
  auto ep = net::Endpoint::parse(url_of(srv.port));
  std::map<std::string, ClientResult> got;
  const std::vector<std::string> paths = {"/announce-2gb", "/chunked-100k", "/two-lengths", "/same-twice", "/fine"};
  for (const auto& p : paths)
    client.request(ep, "GET", p, "", "", 3000ms, [&, p](ClientResult&& r) {
      got[p] = std::move(r);
      if (got.size() == paths.size()) loop.stop();
    });
  run_loop(loop);
  for (const char* p : {"/announce-2gb", "/chunked-100k", "/two-lengths", "/same-twice"}) {
    CAPTURE(p);
    CHECK(got[p].error == ClientError::bad_response);
    CHECK(got[p].latency() < 1000ms);  // refused as it arrived, not at the timeout
  }
  CHECK(got["/fine"].error == ClientError::none);
  CHECK(got["/fine"].body == "/fine");
  CHECK(client.open_connections() <= 1);  // every connection that carried a bad answer is closed
  // The default limit is the parser's, one constant.
  CHECK(net::HttpClient::Options{}.max_response_body == net::ResponseLimits{}.max_body);
}
