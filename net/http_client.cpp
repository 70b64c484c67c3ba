#include "net/http_client.h"

#include "net/ascii.h"
#include "net/http_parse.h"

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <stdexcept>

namespace net {

namespace {

constexpr size_t kScratch = 64 * 1024;
constexpr size_t kMaxFreeReqs = 4096;
constexpr uint32_t kReadEvents = EPOLLIN | EPOLLRDHUP;

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

bool has_header(std::string_view headers, std::string_view name) {
  while (!headers.empty()) {
    size_t eol = headers.find("\r\n");
    std::string_view line = headers.substr(0, eol);
    size_t colon = line.find(':');
    if (colon != std::string_view::npos && iequals(trim(line.substr(0, colon)), name)) return true;
    if (eol == std::string_view::npos) break;
    headers.remove_prefix(eol + 2);
  }
  return false;
}

}  // namespace

const char* to_string(ClientError e) {
  switch (e) {
    case ClientError::none: return "none";
    case ClientError::connect_failed: return "connect_failed";
    case ClientError::timeout: return "timeout";
    case ClientError::disconnected: return "disconnected";
    case ClientError::bad_response: return "bad_response";
    case ClientError::expired: return "expired";
  }
  return "?";
}

// ---------------------------------------------------------------------------------------------
// Endpoint

Endpoint Endpoint::parse(std::string_view url) {
  constexpr std::string_view scheme = "http://";
  if (url.size() < scheme.size() || !iequals(url.substr(0, scheme.size()), scheme))
    throw std::invalid_argument("endpoint: only http:// URLs are supported: " + std::string(url));
  std::string_view rest = url.substr(scheme.size());
  size_t slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  std::string_view path = slash == std::string_view::npos ? std::string_view{} : rest.substr(slash);
  while (!path.empty() && path.back() == '/') path.remove_suffix(1);

  std::string_view host, port = "80";
  if (!authority.empty() && authority.front() == '[') {
    size_t close = authority.find(']');
    if (close == std::string_view::npos) throw std::invalid_argument("endpoint: bad IPv6 host in " + std::string(url));
    host = authority.substr(1, close - 1);
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') throw std::invalid_argument("endpoint: bad authority in " + std::string(url));
      port = after.substr(1);
    }
  } else {
    size_t colon = authority.rfind(':');
    host = authority.substr(0, colon);
    if (colon != std::string_view::npos) port = authority.substr(colon + 1);
  }
  unsigned port_num = 0;
  auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), port_num);
  if (host.empty() || ec != std::errc{} || ptr != port.data() + port.size() || port_num == 0 || port_num > 65535)
    throw std::invalid_argument("endpoint: bad host or port in " + std::string(url));

  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* res = nullptr;
  std::string host_s(host), port_s(port);
  if (int rc = getaddrinfo(host_s.c_str(), port_s.c_str(), &hints, &res); rc != 0 || res == nullptr)
    throw std::invalid_argument("endpoint: cannot resolve " + host_s + ": " + gai_strerror(rc));
  // IPv4 first: "localhost" often lists ::1 first while our servers listen on 127.0.0.1.
  const addrinfo* pick = res;
  for (const addrinfo* a = res; a != nullptr; a = a->ai_next)
    if (a->ai_family == AF_INET) {
      pick = a;
      break;
    }
  Endpoint ep;
  std::memcpy(&ep.addr, pick->ai_addr, pick->ai_addrlen);
  ep.addr_len = pick->ai_addrlen;
  freeaddrinfo(res);
  ep.host_header = std::string(authority);
  ep.base_path = std::string(path);
  ep.pool_key = ep.host_header + '|' + std::string(reinterpret_cast<const char*>(&ep.addr), ep.addr_len);
  return ep;
}

// ---------------------------------------------------------------------------------------------
// Internal state

struct HttpClient::Req {
  Req* prev = nullptr;  // links in the pool's wait queue
  Req* next = nullptr;
  bool queued = false;
  bool head = false;
  Pool* pool = nullptr;
  Conn* conn = nullptr;
  std::string wire;  // the whole request, headers and body, sent with one send()
  ResponseCallback cb;
  EventLoop::TimerId timer = 0;
  Clock::time_point write_started{};
  Clock::time_point start_by = Clock::time_point::max();
};

struct HttpClient::Pool {
  Endpoint ep;
  std::vector<Conn*> idle;  // LIFO: the most recently used connection is the warmest
  Req* q_head = nullptr;
  Req* q_tail = nullptr;
  size_t q_len = 0;
  size_t open = 0;        // connecting + busy + idle
  size_t connecting = 0;  // connects in progress, each will serve the queue head

  void push(Req* r) {
    r->queued = true;
    r->prev = q_tail;
    r->next = nullptr;
    (q_tail ? q_tail->next : q_head) = r;
    q_tail = r;
    ++q_len;
  }
  void unlink(Req* r) {
    (r->prev ? r->prev->next : q_head) = r->next;
    (r->next ? r->next->prev : q_tail) = r->prev;
    r->prev = r->next = nullptr;
    r->queued = false;
    --q_len;
  }
  Req* pop() {
    Req* r = q_head;
    if (r) unlink(r);
    return r;
  }
};

struct HttpClient::Conn final : IoHandler {
  enum class State { connecting, idle, busy, dead };
  HttpClient* client = nullptr;
  Pool* pool = nullptr;
  int fd = -1;
  State state = State::connecting;
  Req* req = nullptr;
  size_t written = 0;  // bytes of req->wire accepted by the kernel
  bool want_out = false;
  uint32_t served = 0;  // completed requests: a reused connection may have been closed by the server
  EventLoop::TimerId connect_timer = 0;
  Conn* prev = nullptr;  // links in the client's list of connections
  Conn* next = nullptr;
  ResponseParser parser;
  std::string in;  // received bytes not yet consumed by the parser

  void on_io(uint32_t events) override { client->on_io(this, events); }
};

// ---------------------------------------------------------------------------------------------

HttpClient::HttpClient(EventLoop& loop) : HttpClient(loop, Options{}) {}

HttpClient::HttpClient(EventLoop& loop, Options opt)
    : loop_(loop), opt_(opt), scratch_(new char[kScratch]), alive_(std::make_shared<char>(0)) {
  if (opt_.max_connections == 0) opt_.max_connections = 1;
}

HttpClient::~HttpClient() {
  alive_.reset();  // posted reaps and deferred completions become no-ops
  std::vector<Req*> reqs;
  while (conns_) {
    Conn* c = conns_;
    conns_ = c->next;
    if (c->connect_timer) loop_.cancel_timer(c->connect_timer);
    if (c->fd >= 0) {
      loop_.del_fd(c->fd);
      ::close(c->fd);
    }
    if (c->req) reqs.push_back(c->req);
    delete c;
  }
  for (auto& [key, p] : pools_)
    while (Req* r = p->pop()) reqs.push_back(r);
  for (auto& [r, res] : deferred_) reqs.push_back(r);
  for (Req* r : reqs) {
    if (r->timer) loop_.cancel_timer(r->timer);
    delete r;
  }
  for (Req* r : free_reqs_) delete r;
}

HttpClient::Req* HttpClient::new_req() {
  if (free_reqs_.empty()) return new Req();
  Req* r = free_reqs_.back();
  free_reqs_.pop_back();
  return r;
}

void HttpClient::free_req(Req* r) {
  r->cb = nullptr;
  r->conn = nullptr;
  r->pool = nullptr;
  r->timer = 0;
  r->start_by = Clock::time_point::max();
  r->wire.clear();
  if (free_reqs_.size() < kMaxFreeReqs && r->wire.capacity() <= 16 * 1024) {
    free_reqs_.push_back(r);
  } else {
    delete r;
  }
}

HttpClient::Pool& HttpClient::pool_for(const Endpoint& ep) {
  std::string fallback_key;
  std::string_view key = ep.pool_key;
  if (key.empty()) {  // an Endpoint built by hand
    fallback_key = ep.host_header + '|' + std::string(reinterpret_cast<const char*>(&ep.addr), ep.addr_len);
    key = fallback_key;
  }
  auto it = pools_.find(key);
  if (it == pools_.end()) {
    auto p = std::make_unique<Pool>();
    p->ep = ep;
    it = pools_.emplace(std::string(key), std::move(p)).first;
  }
  return *it->second;
}

void HttpClient::request(const Endpoint& ep, std::string_view method, std::string_view path, std::string_view body,
                         std::string_view extra_headers, std::chrono::milliseconds timeout, ResponseCallback cb) {
  request(ep, method, path, body, extra_headers, timeout, Clock::time_point::max(), std::move(cb));
}

void HttpClient::request(const Endpoint& ep, std::string_view method, std::string_view path, std::string_view body,
                         std::string_view extra_headers, std::chrono::milliseconds timeout, Clock::time_point start_by,
                         ResponseCallback cb) {
  ++request_depth_;
  Pool& p = pool_for(ep);
  Req* r = new_req();
  r->pool = &p;
  r->cb = std::move(cb);
  r->start_by = start_by;
  r->head = method == "HEAD";

  std::string& w = r->wire;
  w.reserve(64 + method.size() + p.ep.base_path.size() + path.size() + p.ep.host_header.size() +
            extra_headers.size() + body.size() + 64);
  w.append(method).append(" ").append(p.ep.base_path);
  if (path.empty() || path.front() != '/') w.push_back('/');
  w.append(path).append(" HTTP/1.1\r\nHost: ").append(p.ep.host_header).append("\r\n");
  if (!body.empty() || method == "POST" || method == "PUT" || method == "PATCH") {
    char num[24];
    auto [end, ec] = std::to_chars(num, num + sizeof num, body.size());
    w.append("Content-Length: ").append(num, end).append("\r\n");
  }
  if (!body.empty() && !has_header(extra_headers, "content-type")) w.append("Content-Type: application/json\r\n");
  w.append(extra_headers).append("\r\n").append(body);

  ++in_flight_;
  r->timer = loop_.add_timer(timeout, [this, r] { on_timeout(r); });
  dispatch(p, r);
  --request_depth_;
}

void HttpClient::dispatch(Pool& p, Req* r) {
  if (expire_if_late(r)) return;
  while (!p.idle.empty()) {
    Conn* c = p.idle.back();
    p.idle.pop_back();
    // A server may have closed this idle connection since the last epoll_wait. Writing to it
    // would turn a request it never saw into "outcome unknown"; one peek rules that out.
    char b;
    ssize_t k = ::recv(c->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
    if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      start_on(c, r);
      return;
    }
    drop(c);
  }
  p.push(r);
  if (p.open < opt_.max_connections && p.connecting < p.q_len) open_connection(p);
}

void HttpClient::open_connection(Pool& p) {
  const auto family = p.ep.addr.ss_family;
  int fd = ::socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {  // out of descriptors: nothing was sent, and nothing else may ever serve the queue
    if (p.open == 0) {
      while (Req* r = p.pop()) {
        ClientResult res;
        res.error = ClientError::connect_failed;
        res.write_started = res.completed = Clock::now();
        complete(r, std::move(res));
      }
    }
    return;
  }
  if (family == AF_INET || family == AF_INET6) {
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  Conn* c = new Conn();
  c->parser.limits.max_body = opt_.max_response_body;
  c->client = this;
  c->pool = &p;
  c->fd = fd;
  c->next = conns_;
  if (conns_) conns_->prev = c;
  conns_ = c;
  ++p.open;
  ++p.connecting;
  ++open_conns_;

  int rc = ::connect(fd, reinterpret_cast<const sockaddr*>(&p.ep.addr), p.ep.addr_len);
  if (rc == 0) {
    loop_.add_fd(fd, kReadEvents, c);
    on_connected(c);
  } else if (errno == EINPROGRESS) {
    loop_.add_fd(fd, EPOLLOUT | kReadEvents, c);
    c->connect_timer = loop_.add_timer(opt_.connect_timeout, [this, c] {
      c->connect_timer = 0;
      if (c->state == Conn::State::connecting) on_connect_failed(c);
    });
  } else {
    on_connect_failed(c);
  }
}

void HttpClient::on_connected(Conn* c) {
  --c->pool->connecting;
  if (c->connect_timer) {
    loop_.cancel_timer(c->connect_timer);
    c->connect_timer = 0;
  }
  loop_.mod_fd(c->fd, kReadEvents, c);
  release_conn(c);
}

void HttpClient::on_connect_failed(Conn* c) {
  Pool& p = *c->pool;
  drop(c);
  // Queued requests wait for any connection of the pool; when none is left (all connects
  // failed) nothing would ever serve them: they fail now rather than at their timeout.
  if (p.open == 0) {
    while (Req* r = p.pop()) {
      ClientResult res;
      res.error = ClientError::connect_failed;
      res.write_started = res.completed = Clock::now();
      complete(r, std::move(res));
    }
  }
}

bool HttpClient::expire_if_late(Req* r) {
  if (r->start_by == Clock::time_point::max()) return false;
  // The loop's cached time may be stale after a long callback or a stopped process: read the clock.
  auto now = Clock::now();
  if (now < r->start_by) return false;
  ClientResult res;
  res.error = ClientError::expired;
  res.write_started = res.completed = now;
  complete(r, std::move(res));
  return true;
}

void HttpClient::release_conn(Conn* c) {
  Pool& p = *c->pool;
  while (Req* r = p.pop()) {
    if (expire_if_late(r)) continue;
    start_on(c, r);
    return;
  }
  c->state = Conn::State::idle;
  p.idle.push_back(c);
}

void HttpClient::start_on(Conn* c, Req* r) {
  c->state = Conn::State::busy;
  c->req = r;
  c->written = 0;
  c->in.clear();
  c->parser.reset();
  r->conn = c;
  r->write_started = Clock::now();
  continue_write(c);
}

void HttpClient::continue_write(Conn* c) {
  Req* r = c->req;
  while (c->written < r->wire.size()) {
    ssize_t k = ::send(c->fd, r->wire.data() + c->written, r->wire.size() - c->written, MSG_NOSIGNAL);
    if (k > 0) {
      c->written += static_cast<size_t>(k);
    } else if (k < 0 && errno == EINTR) {
      continue;
    } else if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      if (!c->want_out) {
        c->want_out = true;
        loop_.mod_fd(c->fd, kReadEvents | EPOLLOUT, c);
      }
      return;
    } else {
      fail_on_conn(c, ClientError::disconnected);
      return;
    }
  }
  if (c->want_out) {
    c->want_out = false;
    loop_.mod_fd(c->fd, kReadEvents, c);
  }
}

void HttpClient::on_io(Conn* c, uint32_t events) {
  switch (c->state) {
    case Conn::State::dead:
      return;
    case Conn::State::connecting: {
      int err = 0;
      socklen_t len = sizeof err;
      if (::getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
      if (err != 0 || (events & (EPOLLERR | EPOLLHUP))) {
        on_connect_failed(c);
      } else if (events & EPOLLOUT) {
        on_connected(c);
      }
      return;
    }
    case Conn::State::idle:
      // Readable, EOF or error while no request is out: the server closed it (keep-alive
      // timeout) or misbehaves. Either way it must never be handed a request.
      drop(c);
      return;
    case Conn::State::busy: {
      Req* r = c->req;
      if ((events & EPOLLOUT) && c->written < r->wire.size()) {
        continue_write(c);
        if (c->req != r) return;  // failed and detached
      }
      if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) read_response(c);
      return;
    }
  }
}

void HttpClient::read_response(Conn* c) {
  char* buf = scratch_.get();
  for (;;) {
    ssize_t k = ::recv(c->fd, buf, kScratch, 0);
    if (k > 0) {
      const char* p = buf;
      size_t n = static_cast<size_t>(k);
      if (!c->in.empty()) {
        c->in.append(buf, n);
        p = c->in.data();
        n = c->in.size();
      }
      size_t used = c->parser.feed(p, n, c->req->head);
      if (c->parser.phase == ResponseParser::Phase::error) {
        fail_on_conn(c, ClientError::bad_response);
        return;
      }
      if (c->parser.phase == ResponseParser::Phase::done) {
        // Bytes beyond the answer belong to no request of ours: the connection is not trustworthy.
        if (used != n) c->parser.keep_alive = false;
        finish_ok(c);
        return;
      }
      if (c->in.empty()) {
        c->in.assign(p + used, n - used);
      } else {
        c->in.erase(0, used);
      }
      continue;
    }
    if (k == 0) {  // EOF
      if (c->parser.finish_at_eof()) {
        finish_ok(c);
      } else {
        fail_on_conn(c, ClientError::disconnected);
      }
      return;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return;
    fail_on_conn(c, ClientError::disconnected);  // ECONNRESET and friends
    return;
  }
}

void HttpClient::finish_ok(Conn* c) {
  Req* r = c->req;
  ClientResult res;
  res.completed = Clock::now();
  res.write_started = r->write_started;
  res.status = c->parser.status;
  res.body = std::move(c->parser.body);
  // A request not fully written when the answer came (an early 4xx) leaves the stream unusable.
  bool reusable = c->parser.keep_alive && c->written == r->wire.size();
  c->parser.reset();
  c->req = nullptr;
  r->conn = nullptr;
  ++c->served;
  if (reusable) {
    release_conn(c);
  } else {
    drop(c);
  }
  complete(r, std::move(res));
}

void HttpClient::fail_on_conn(Conn* c, ClientError e) {
  Req* r = c->req;
  Pool& p = *c->pool;
  bool reused = c->served > 0;
  size_t written = c->written;
  c->req = nullptr;
  r->conn = nullptr;
  drop(c);
  if (written == 0) {
    if (reused) {  // a stale keep-alive connection refused the very first byte: try another
      dispatch(p, r);
      return;
    }
    e = ClientError::connect_failed;
  }
  ClientResult res;
  res.error = e;
  res.write_started = written ? r->write_started : Clock::now();
  res.completed = Clock::now();
  complete(r, std::move(res));
}

void HttpClient::on_timeout(Req* r) {
  r->timer = 0;
  ClientResult res;
  res.completed = Clock::now();
  if (r->queued) {
    r->pool->unlink(r);
    res.error = ClientError::connect_failed;  // never got a connection: nothing was sent
    res.write_started = res.completed;
  } else if (Conn* c = r->conn) {
    // The connection cannot be reused: its late answer would be read as the next request's.
    res.error = c->written > 0 ? ClientError::timeout : ClientError::connect_failed;
    res.write_started = c->written > 0 ? r->write_started : res.completed;
    c->req = nullptr;
    r->conn = nullptr;
    drop(c);
  } else {
    return;  // already completing (deferred)
  }
  complete(r, std::move(res));
}

void HttpClient::drop(Conn* c) {
  if (c->state == Conn::State::dead) return;
  Pool& p = *c->pool;
  if (c->state == Conn::State::idle) {
    auto it = std::find(p.idle.begin(), p.idle.end(), c);
    if (it != p.idle.end()) p.idle.erase(it);
  } else if (c->state == Conn::State::connecting) {
    --p.connecting;
  }
  if (c->connect_timer) {
    loop_.cancel_timer(c->connect_timer);
    c->connect_timer = 0;
  }
  loop_.del_fd(c->fd);
  ::close(c->fd);
  c->fd = -1;
  c->state = Conn::State::dead;
  --p.open;
  --open_conns_;
  (c->prev ? c->prev->next : conns_) = c->next;
  if (c->next) c->next->prev = c->prev;
  c->prev = c->next = nullptr;
  // Deleted after this epoll batch: an event for it may still be pending in the batch.
  graveyard_.emplace_back(c);
  if (!reap_posted_) {
    reap_posted_ = true;
    loop_.post([this, alive = std::weak_ptr<char>(alive_)] {
      if (alive.expired()) return;
      reap();
    });
  }
}

void HttpClient::reap() {
  reap_posted_ = false;
  graveyard_.clear();
}

void HttpClient::complete(Req* r, ClientResult&& res) {
  if (r->timer) {
    loop_.cancel_timer(r->timer);
    r->timer = 0;
  }
  if (request_depth_ > 0) {  // the caller of request() must never see its callback run inside it
    deferred_.emplace_back(r, std::move(res));
    if (!deferred_posted_) {
      deferred_posted_ = true;
      loop_.post([this, alive = std::weak_ptr<char>(alive_)] {
        if (alive.expired()) return;
        flush_deferred();
      });
    }
    return;
  }
  ResponseCallback cb = std::move(r->cb);
  free_req(r);
  --in_flight_;
  cb(std::move(res));
}

void HttpClient::flush_deferred() {
  deferred_posted_ = false;
  auto batch = std::move(deferred_);
  deferred_.clear();
  for (auto& [r, res] : batch) complete(r, std::move(res));
}

void HttpClient::fail_all() {
  std::vector<std::pair<Req*, ClientResult>> failed;
  const auto now = Clock::now();
  while (conns_) {
    Conn* c = conns_;
    if (Req* r = c->req) {
      ClientResult res;
      res.error = c->written > 0 ? ClientError::disconnected : ClientError::connect_failed;
      res.write_started = c->written > 0 ? r->write_started : now;
      res.completed = now;
      c->req = nullptr;
      r->conn = nullptr;
      failed.emplace_back(r, std::move(res));
    }
    drop(c);
  }
  for (auto& [key, p] : pools_)
    while (Req* r = p->pop()) {
      ClientResult res;
      res.error = ClientError::connect_failed;
      res.write_started = res.completed = now;
      failed.emplace_back(r, std::move(res));
    }
  for (auto& [r, res] : failed) complete(r, std::move(res));
}

}  // namespace net
