#include "net/http_server.h"

#include "net/ascii.h"
#include "net/handoff.h"
#include "net/listen.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <thread>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <memory>
#include <stdexcept>
#include <system_error>
#include <unordered_map>
#include <utility>

namespace net {

namespace {

constexpr size_t kReadChunk = 4096;
constexpr int kAcceptBatch = 64;

std::string_view reason(int status) {
  switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 411: return "Length Required";
    case 413: return "Payload Too Large";
    case 415: return "Unsupported Media Type";
    case 417: return "Expectation Failed";
    case 422: return "Unprocessable Entity";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "Status";
  }
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Per-loop state

struct Conn;
struct ServerWorker;

// Options::handoff: the listening socket, and each balancer connection accepted on it.
struct HandoffPort : IoHandler {
  ServerWorker* w = nullptr;
  int fd = -1;
  bool is_listener = false;
  bool paused = false;  // the listener, out of descriptors: off epoll for a while
  void on_io(uint32_t events) override;
};

struct ServerWorker : IoHandler {
  EventLoop loop;
  std::thread thread;
  int listen_fd = -1;
  bool owns_listen_fd = true;  // false when the fd is shared by every loop (unix socket)
  bool exclusive = false;      // EPOLLEXCLUSIVE: wake one loop per connection on a shared fd
  bool tcp = true;
  bool accept_paused = false;
  const HttpServer::Options* opts = nullptr;
  std::atomic<size_t>* open = nullptr;  // the server's count of open connections, shared by all loops
  const Handler* handler = nullptr;
  std::weak_ptr<ServerWorker> self;
  std::unordered_map<uint64_t, Conn*> conns;  // what Responders resolve through: never a raw pointer
  uint64_t next_conn_id = 1;
  size_t read_cap = 0;  // unparsed bytes a connection may hold before reading pauses
  int sweep_ms = 1000;
  bool draining = false;  // no new connections; each one closes after its next answer, or when idle
  bool stopped = false;   // shutdown(): every connection closed, none taken any more
  // The first loop only, with Options::handoff: the balancer's sockets, and the loops that the
  // connections handed over on them are spread across (round robin, as accepts spread).
  std::vector<std::unique_ptr<HandoffPort>> handoff;
  std::vector<ServerWorker*> peers;
  size_t next_peer = 0;

  void on_io(uint32_t events) override;  // the listening socket
  // A connected client socket, accepted or handed over. Taken even while draining: one handed
  // over before the balancer saw us close is served (with Connection: close); refused once stopped.
  void adopt(int fd);
  void take_handed(HandoffPort& p);      // reads every socket a balancer handed over on p
  void close_handoff();
  Responder responder(uint64_t conn_id, uint64_t req_no) const { return Responder(self, conn_id, req_no); }
  void deliver(uint64_t conn_id, uint64_t req_no, int status, std::string&& body, std::string_view ctype);
  void sweep();
  void shutdown();
  void start_draining();
  void drain_sweep();
  void arm_listen();
  uint32_t listen_events() const { return EPOLLIN | (exclusive ? EPOLLEXCLUSIVE : 0u); }
};

struct Conn : IoHandler {
  ServerWorker* w;
  int fd;
  uint64_t id;
  std::vector<char> buf;  // received bytes; [rpos, len) not yet consumed
  size_t rpos = 0, len = 0;
  std::string out;        // unsent response bytes (only after a partial write)
  size_t opos = 0;
  std::string head;       // reused response-header scratch
  RequestParser parser;
  uint64_t req_no = 0;
  bool in_flight = false;     // a request was handed to the handler and awaits its response
  bool close_after = false;   // the in-flight request asked for Connection: close
  bool closing = false;       // close once `out` drains
  bool dispatching = false;   // inside the handler call: send() must not re-enter the parser
  bool read_paused = false;   // stopped reading with data possibly left in the socket (buffer full)
  bool peer_shut = false;     // epoll reported the peer's FIN: read until recv() says 0
  bool peer_eof = false;      // recv() said 0: nothing more will come
  bool continue_sent = false;
  bool confirm_keep_alive = false;
  bool head_request = false;  // the request in flight is a HEAD: its answer has headers only
  bool closed = false;
  Clock::time_point last_active;
  enum class Wait : uint8_t { none, head, body };
  Wait waiting = Wait::none;  // part of a request is here and the rest is awaited, since wait_since
  Clock::time_point wait_since;
  // With Options::receive_times: the kernel's receive time of the read that brought the first
  // unconsumed byte in buf, on the steady clock (Request::received).
  Clock::time_point received{};

  Conn(ServerWorker* w_, int fd_, uint64_t id_)
      : w(w_), fd(fd_), id(id_), parser({.max_header = w_->opts->max_header, .max_body = w_->opts->max_body}) {
    buf.resize(kReadChunk);
  }

  void on_io(uint32_t events) override;
  bool read_socket();  // false if the connection was closed
  void close_if_done_at_eof();
  void await(Wait what);
  void time_out(std::string_view what);
  void drive();
  void process_input();
  void complete(int status, std::string_view body, std::string_view ctype, bool force_close);
  void fail(int status, std::string_view msg);
  bool write_out(const char* a, size_t alen, const char* b, size_t blen);
  void flush();
  void close_conn();
  bool out_pending() const { return opos < out.size(); }
};

void Conn::close_conn() {
  if (closed) return;
  closed = true;
  w->loop.del_fd(fd);
  ::close(fd);
  w->conns.erase(id);
  w->open->fetch_sub(1, std::memory_order_relaxed);
  // Deleted after this iteration: an event for this handler may still be in the current batch.
  Conn* self = this;
  w->loop.post([self] { delete self; });
}

void Conn::on_io(uint32_t events) {
  if (closed) return;
  if (events & EPOLLERR) {
    close_conn();
    return;
  }
  if ((events & EPOLLOUT) && out_pending()) {
    flush();
    if (closed) return;
  }
  if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP)) {
    if (events & (EPOLLRDHUP | EPOLLHUP)) peer_shut = true;
    if (!read_socket()) return;
    drive();
  }
  close_if_done_at_eof();
}

// The client finished sending: every complete request it sent is answered (if the socket still
// takes the answers), then the connection closes; an incomplete one can never complete.
void Conn::close_if_done_at_eof() {
  if (!closed && peer_eof && !in_flight && !out_pending()) close_conn();
}

namespace {
// The kernel stamps an arriving packet only while some socket asks for stamps (SO_TIMESTAMPNS).
void ask_receive_times(int fd) {
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof one);
}

// The kernel stamps a packet with the real-time clock when it arrives; this is that moment on the
// steady clock (the one every deadline here uses), or the epoch when the read carried no stamp.
Clock::time_point receive_time(msghdr& mh) {
  for (cmsghdr* c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_TIMESTAMPNS) continue;
    timespec at, now;
    std::memcpy(&at, CMSG_DATA(c), sizeof at);
    clock_gettime(CLOCK_REALTIME, &now);
    auto ago = std::chrono::seconds(now.tv_sec - at.tv_sec) + std::chrono::nanoseconds(now.tv_nsec - at.tv_nsec);
    return Clock::now() - std::chrono::duration_cast<Clock::duration>(ago);
  }
  return {};
}
}  // namespace

bool Conn::read_socket() {
  for (;;) {
    if (len - rpos >= w->read_cap) {
      read_paused = true;
      return true;
    }
    if (rpos > 0 && rpos == len) rpos = len = 0;
    if (buf.size() - len < kReadChunk) {
      if (rpos > 0) {  // compact before growing
        std::memmove(buf.data(), buf.data() + rpos, len - rpos);
        len -= rpos;
        rpos = 0;
      }
      if (buf.size() - len < kReadChunk) buf.resize(std::max(buf.size() * 2, len + kReadChunk));
    }
    size_t want = buf.size() - len;
    ssize_t n;
    if (w->opts->receive_times) {
      iovec iov{buf.data() + len, want};
      alignas(cmsghdr) char ctrl[CMSG_SPACE(sizeof(timespec))];
      msghdr mh{};
      mh.msg_iov = &iov;
      mh.msg_iovlen = 1;
      mh.msg_control = ctrl;
      mh.msg_controllen = sizeof ctrl;
      n = ::recvmsg(fd, &mh, 0);
      // Only the read that starts a request sets it. Later ones bring the rest of that request, or
      // further requests of a pipeline, which are given the same time: for those it overstates.
      if (n > 0 && rpos == len) received = receive_time(mh);
    } else {
      n = ::recv(fd, buf.data() + len, want, 0);
    }
    if (n > 0) {
      len += static_cast<size_t>(n);
      last_active = w->loop.now();
      // A short read means the socket is drained and any later data raises a new edge (EPOLLET),
      // unless the FIN came with this data: its edge is spent, so read on until recv() says 0.
      if (static_cast<size_t>(n) < want && !peer_shut) return true;
      continue;
    }
    if (n == 0) {
      peer_eof = true;
      return true;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return true;
    close_conn();
    return false;
  }
}

void Conn::drive() {
  for (;;) {
    process_input();
    if (closed || in_flight || out_pending() || closing || !read_paused) return;
    read_paused = false;
    if (!read_socket()) return;
  }
}

void Conn::fail(int status, std::string_view msg) {
  in_flight = true;
  head_request = false;
  ++req_no;
  std::string body = "{\"error\":\"";
  body += msg;
  body += "\"}";
  complete(status, body, "application/json", true);
}

void Conn::await(Wait what) {
  if (waiting == what) return;
  waiting = what;
  wait_since = w->loop.now();
}

// Best effort: a client too slow to send its request may be too slow to read the 408 as well.
void Conn::time_out(std::string_view what) {
  fail(408, what);
  close_conn();
}

void Conn::process_input() {
  while (!closed && !in_flight && !closing && !out_pending()) {
    size_t avail = len - rpos;
    if (avail == 0) {
      await(Wait::none);
      return;
    }
    std::string_view data(buf.data() + rpos, avail);
    switch (parser.parse(data)) {
      case RequestParser::State::error:
        await(Wait::none);
        fail(parser.error_status(), parser.error_message());
        return;
      case RequestParser::State::need_head:
        await(Wait::head);
        return;
      case RequestParser::State::need_body: {
        await(Wait::body);
        // Body still arriving: make room for all of it, and unblock clients that wait for 100.
        size_t wanted = parser.wanted();
        if (buf.size() < rpos + wanted) {
          // The parser keeps offsets, not pointers: moving the buffer is safe.
          std::memmove(buf.data(), buf.data() + rpos, len - rpos);
          len -= rpos;
          rpos = 0;
          if (buf.size() < wanted + kReadChunk) buf.resize(wanted + kReadChunk);
        }
        if (w->tcp) {
          // A client without TCP_NODELAY holds the body back (Nagle) until our ACK of the header
          // segment, which delayed-ACK would postpone by ~40 ms: acknowledge right away.
          int one = 1;
          ::setsockopt(fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof one);
        }
        if (parser.expect_continue() && !continue_sent) {
          continue_sent = true;
          static constexpr char kContinue[] = "HTTP/1.1 100 Continue\r\n\r\n";
          write_out(kContinue, sizeof kContinue - 1, nullptr, 0);
        }
        return;
      }
      case RequestParser::State::complete:
        break;
    }
    await(Wait::none);
    Request req = parser.request();  // views and a span: a cheap copy, to carry the receive time
    req.received = received;
    in_flight = true;
    head_request = req.method == "HEAD";
    continue_sent = false;
    close_after = !req.keep_alive;
    confirm_keep_alive = req.http10 && req.keep_alive;  // HTTP/1.0 closes unless the response says otherwise
    uint64_t no = ++req_no;
    dispatching = true;
    try {
      (*w->handler)(req, w->responder(id, no));
    } catch (const std::exception&) {
      // A throwing handler must not take the loop down; the client gets a 500 instead.
      if (!closed && in_flight && req_no == no) complete(500, "{\"error\":\"internal error\"}", "application/json", false);
    }
    dispatching = false;
    rpos += parser.consumed();
    parser.reset();
    if (rpos == len) rpos = len = 0;
  }
}

bool Conn::write_out(const char* a, size_t alen, const char* b, size_t blen) {
  if (out_pending()) {  // keep order behind what is already queued
    out.append(a, alen);
    if (blen) out.append(b, blen);
    return true;
  }
  iovec iov[2] = {{const_cast<char*>(a), alen}, {const_cast<char*>(b), blen}};
  msghdr msg{};
  msg.msg_iov = iov;
  msg.msg_iovlen = blen ? 2 : 1;
  size_t total = alen + blen;
  ssize_t n;
  do {
    n = ::sendmsg(fd, &msg, MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    if (errno != EAGAIN && errno != EWOULDBLOCK) {
      close_conn();
      return false;
    }
    n = 0;
  }
  size_t sent = static_cast<size_t>(n);
  if (sent < total) {
    out.clear();
    opos = 0;
    if (sent < alen) {
      out.append(a + sent, alen - sent);
      if (blen) out.append(b, blen);
    } else {
      out.append(b + (sent - alen), blen - (sent - alen));
    }
  }
  return true;
}

void Conn::flush() {
  while (out_pending()) {
    ssize_t n = ::send(fd, out.data() + opos, out.size() - opos, MSG_NOSIGNAL);
    if (n > 0) {
      opos += static_cast<size_t>(n);
      last_active = w->loop.now();
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    close_conn();
    return;
  }
  out.clear();
  opos = 0;
  if (closing) {
    if (!in_flight) close_conn();
    return;
  }
  drive();
}

void Conn::complete(int status, std::string_view body, std::string_view ctype, bool force_close) {
  if (closed || !in_flight) return;
  in_flight = false;
  bool close_now = force_close || close_after || closing || w->draining;
  bool no_body = status == 204 || status == 304 || (status >= 100 && status < 200);

  char num[24];
  head.clear();
  head.append("HTTP/1.1 ");
  auto r = std::to_chars(num, num + sizeof num, status);
  head.append(num, r.ptr);
  head.push_back(' ');
  head.append(reason(status));
  head.append("\r\n");
  if (!no_body) {
    head.append("Content-Type: ");
    head.append(ctype);
    head.append("\r\nContent-Length: ");
    r = std::to_chars(num, num + sizeof num, body.size());
    head.append(num, r.ptr);
    head.append("\r\n");
  }
  if (close_now) head.append("Connection: close\r\n");
  else if (confirm_keep_alive) head.append("Connection: keep-alive\r\n");
  head.append("\r\n");
  // A HEAD answer announces the length a GET would get, but sends no body: bytes sent anyway
  // would be read by the client as the start of the next answer on the connection.
  if (no_body || head_request) body = {};

  if (!write_out(head.data(), head.size(), body.data(), body.size())) return;
  last_active = w->loop.now();
  if (close_now) {
    closing = true;
    if (!out_pending()) close_conn();
    return;
  }
  if (!dispatching) {
    drive();
    close_if_done_at_eof();
  }
}

// ---------------------------------------------------------------------------------------------
// Worker: accepting, delivering, sweeping

void ServerWorker::on_io(uint32_t) {
  for (int i = 0; i < kAcceptBatch; ++i) {
    int fd = ::accept4(listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
        pause_accepting(loop, listen_fd, listen_events(), this, accept_paused, "http_server");
      }
      return;  // EAGAIN: another loop took it, or the queue is empty
    }
    if (tcp) {
      int one = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    adopt(fd);
  }
}

void ServerWorker::adopt(int fd) {
  if (stopped) {
    ::close(fd);
    return;
  }
  // Counted before the check, so that loops accepting at the same moment cannot overshoot.
  if (open->fetch_add(1, std::memory_order_relaxed) >= opts->max_connections) {
    open->fetch_sub(1, std::memory_order_relaxed);
    ::close(fd);
    return;
  }
  if (opts->receive_times) ask_receive_times(fd);  // accepted: from the listener already; handed over: not
  uint64_t id = next_conn_id++;
  auto* c = new Conn(this, fd, id);
  c->last_active = loop.now();
  conns.emplace(id, c);
  loop.add_fd(fd, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, c);
}

void HandoffPort::on_io(uint32_t) {
  if (fd < 0) return;  // closed earlier in this iteration
  if (!is_listener) {
    w->take_handed(*this);
    return;
  }
  for (;;) {
    int c = ::accept4(fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (c < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK)  // out of descriptors: wait, do not spin on it
        pause_accepting(w->loop, fd, EPOLLIN, this, paused, "http_server (hand-over socket)");
      return;
    }
    auto p = std::make_unique<HandoffPort>();
    p->w = w;
    p->fd = c;
    w->loop.add_fd(c, EPOLLIN | EPOLLRDHUP, p.get());
    w->handoff.push_back(std::move(p));
  }
}

void ServerWorker::take_handed(HandoffPort& p) {
  std::vector<int> fds;
  bool gone = false;
  for (;;) {
    ssize_t n = recv_fds(p.fd, fds);
    if (n > 0) continue;
    gone = n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK);
    break;
  }
  for (int fd : fds) {
    ServerWorker* to = peers.empty() ? this : peers[next_peer++ % peers.size()];
    if (to == this) adopt(fd);
    else to->loop.post([to, fd] { to->adopt(fd); });
  }
  if (gone) {  // the balancer closed its end: it reconnects when it comes back
    loop.del_fd(p.fd);
    ::close(p.fd);
    p.fd = -1;
    HandoffPort* raw = &p;
    loop.post([this, raw] {  // freed after this iteration's events, as connections are
      std::erase_if(handoff, [raw](const auto& q) { return q.get() == raw; });
    });
  }
}

// Draining or stopping: the balancer sees its sockets close and sends the next clients to the
// other backends. What it handed over before that is read first and served (with Connection:
// close when draining), so that no client it already chose us for is dropped unanswered.
void ServerWorker::close_handoff() {
  for (auto& p : handoff) {
    if (p->fd < 0) continue;
    if (!p->is_listener) {
      std::vector<int> fds;
      while (recv_fds(p->fd, fds) > 0) {}
      for (int fd : fds) adopt(fd);
    }
    if (!p->paused) loop.del_fd(p->fd);
    ::close(p->fd);
    p->fd = -1;
  }
}

void ServerWorker::arm_listen() { loop.add_fd(listen_fd, listen_events(), this); }

void ServerWorker::deliver(uint64_t conn_id, uint64_t req_no, int status, std::string&& body,
                           std::string_view ctype) {
  auto it = conns.find(conn_id);
  if (it == conns.end()) return;  // the client went away meanwhile
  Conn* c = it->second;
  if (c->req_no != req_no) return;  // a second send() for an already answered request
  c->complete(status, body, ctype, false);
}

void ServerWorker::sweep() {
  auto now = loop.now();
  const auto idle_limit = std::chrono::milliseconds(opts->idle_timeout_ms);
  const auto head_limit = std::chrono::milliseconds(opts->header_timeout_ms);
  const auto body_limit = std::chrono::milliseconds(opts->body_timeout_ms);
  std::vector<Conn*> idle, slow_head, slow_body;
  for (auto& [id, c] : conns) {
    if (c->in_flight) continue;
    if (c->waiting == Conn::Wait::head && now - c->wait_since > head_limit) slow_head.push_back(c);
    else if (c->waiting == Conn::Wait::body && now - c->wait_since > body_limit) slow_body.push_back(c);
    else if (now - c->last_active > idle_limit) idle.push_back(c);
  }
  for (Conn* c : slow_head) c->time_out("request header not received in time");
  for (Conn* c : slow_body) c->time_out("request body not received in time");
  for (Conn* c : idle) c->close_conn();
  loop.add_timer(std::chrono::milliseconds(sweep_ms), [this] { sweep(); });
}

void ServerWorker::start_draining() {
  draining = true;
  if (listen_fd >= 0) {
    if (!accept_paused) loop.del_fd(listen_fd);
    if (owns_listen_fd) ::close(listen_fd);
    listen_fd = -1;
  }
  close_handoff();
  drain_sweep();
}

void ServerWorker::drain_sweep() {
  // A connection idle a little while gets closed; one that receives a request meanwhile has it
  // answered with Connection: close. Closing an idle keep-alive connection always races with a
  // request the client may be writing at that moment; waiting a little makes that rarer.
  constexpr auto kIdleBeforeClose = std::chrono::milliseconds(100);
  auto now = loop.now();
  std::vector<Conn*> idle;
  for (auto& [id, c] : conns)
    if (!c->in_flight && !c->out_pending() && c->rpos == c->len && now - c->last_active > kIdleBeforeClose)
      idle.push_back(c);
  for (Conn* c : idle) c->close_conn();
  loop.add_timer(std::chrono::milliseconds(20), [this] { drain_sweep(); });
}

void ServerWorker::shutdown() {
  stopped = true;  // a connection posted over from the first loop's hand-over now is refused
  if (listen_fd >= 0) {
    if (!accept_paused) loop.del_fd(listen_fd);
    if (owns_listen_fd) ::close(listen_fd);
    listen_fd = -1;
  }
  close_handoff();
  std::vector<Conn*> all;
  all.reserve(conns.size());
  for (auto& [id, c] : conns) all.push_back(c);
  for (Conn* c : all) c->close_conn();
}

// ---------------------------------------------------------------------------------------------
// Responder

EventLoop* Responder::loop() const {
  auto w = worker_.lock();
  return w ? &w->loop : nullptr;
}

void Responder::send(int status, std::string body, std::string_view content_type) const {
  auto w = worker_.lock();
  if (!w) return;
  if (w->loop.in_loop_thread()) {
    w->deliver(conn_id_, req_no_, status, std::move(body), content_type);
    return;
  }
  // Raw pointer on purpose: the function only ever runs on that loop, which the worker owns.
  ServerWorker* raw = w.get();
  w->loop.post([raw, id = conn_id_, no = req_no_, status, body = std::move(body),
                ct = std::string(content_type)]() mutable { raw->deliver(id, no, status, std::move(body), ct); });
}

// ---------------------------------------------------------------------------------------------
// HttpServer

HttpServer::HttpServer(Options opts, Handler handler) : opts_(std::move(opts)), handler_(std::move(handler)) {
  if (opts_.threads < 1) opts_.threads = 1;
}

HttpServer::~HttpServer() { stop(); }

EventLoop& HttpServer::loop(int i) { return workers_.at(static_cast<size_t>(i))->loop; }

void HttpServer::start() {
  if (running_) return;
  const bool is_unix = opts_.listen.rfind("unix:", 0) == 0;
  std::vector<int> fds;
  int handoff_fd = -1;  // owned by the first loop from here on
  try {
    if (is_unix) {
      shared_listen_fd_ = unix_listener(opts_.listen.substr(5));
    } else {
      auto [host, port] = split_host_port(opts_.listen);
      bool reuseport = opts_.threads > 1;
      fds.push_back(tcp_listener(host, port, reuseport));
      port_ = bound_port(fds[0]);
      // Port 0 picked a free port: the other per-thread listeners must join that same one.
      for (int i = 1; i < opts_.threads; ++i) fds.push_back(tcp_listener(host, std::to_string(port_), true));
    }
    if (!opts_.handoff.empty()) handoff_fd = unix_listener(opts_.handoff);
    if (opts_.receive_times) {
      // A request often arrives before its connection is accepted: asked at the accept alone, the
      // first connection's request had no stamp. Asked by the listener, stamping stays on while it
      // listens, and the accepted sockets inherit the option.
      for (int fd : fds) ask_receive_times(fd);
      if (shared_listen_fd_ >= 0) ask_receive_times(shared_listen_fd_);
    }
  } catch (...) {
    for (int fd : fds) ::close(fd);
    if (shared_listen_fd_ >= 0) ::close(std::exchange(shared_listen_fd_, -1));
    throw;
  }

  for (int i = 0; i < opts_.threads; ++i) {
    auto w = std::make_shared<ServerWorker>();
    w->self = w;
    w->opts = &opts_;
    w->open = &open_;
    w->handler = &handler_;
    w->tcp = !is_unix;
    w->listen_fd = is_unix ? shared_listen_fd_ : fds[static_cast<size_t>(i)];
    w->owns_listen_fd = !is_unix;
    w->exclusive = is_unix && opts_.threads > 1;
    w->read_cap = opts_.max_header + opts_.max_body + 2 * kReadChunk;
    w->sweep_ms = std::clamp(std::min({opts_.idle_timeout_ms, opts_.header_timeout_ms, opts_.body_timeout_ms}) / 4, 10, 1000);
    workers_.push_back(w);
  }
  if (handoff_fd >= 0) {
    ServerWorker* first = workers_[0].get();
    auto p = std::make_unique<HandoffPort>();
    p->w = first;
    p->fd = handoff_fd;
    p->is_listener = true;
    first->loop.add_fd(handoff_fd, EPOLLIN, p.get());  // before run(), as arm_listen()
    first->handoff.push_back(std::move(p));
    if (workers_.size() > 1)
      for (auto& w : workers_) first->peers.push_back(w.get());
  }
  for (auto& w : workers_) {
    ServerWorker* raw = w.get();
    raw->arm_listen();  // before run(): epoll_ctl is thread-safe and thread creation orders it
    raw->loop.post([raw] { raw->loop.add_timer(std::chrono::milliseconds(raw->sweep_ms), [raw] { raw->sweep(); }); });
    raw->thread = std::thread([raw] { raw->loop.run(); });
  }
  running_ = true;
}

bool HttpServer::drain(std::chrono::milliseconds limit) {
  if (!running_) return true;
  for (auto& w : workers_) {
    ServerWorker* raw = w.get();
    raw->loop.post([raw] { raw->start_draining(); });
  }
  auto deadline = Clock::now() + limit;
  for (;;) {
    std::atomic<size_t> open{0};
    std::atomic<int> answered{0};
    for (auto& w : workers_) {
      ServerWorker* raw = w.get();
      raw->loop.post([raw, &open, &answered] {
        open += raw->conns.size();
        ++answered;
      });
    }
    while (answered < static_cast<int>(workers_.size())) std::this_thread::sleep_for(std::chrono::milliseconds(2));
    if (open == 0) return true;
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

void HttpServer::stop() {
  if (!running_) return;
  running_ = false;
  for (auto& w : workers_) {
    ServerWorker* raw = w.get();
    raw->loop.post([raw] { raw->shutdown(); });
    raw->loop.stop();
  }
  for (auto& w : workers_)
    if (w->thread.joinable()) w->thread.join();
  if (shared_listen_fd_ >= 0) {
    ::close(shared_listen_fd_);
    shared_listen_fd_ = -1;
    ::unlink(opts_.listen.substr(5).c_str());
  }
  if (!opts_.handoff.empty()) ::unlink(opts_.handoff.c_str());
}

}  // namespace net
