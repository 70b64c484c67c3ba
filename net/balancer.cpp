#include "net/balancer.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <system_error>

#include "net/handoff.h"
#include "net/listen.h"

namespace net {

namespace {

constexpr int kAcceptBatch = 64;

}  // namespace

struct Balancer::Backend : IoHandler {
  Balancer* owner = nullptr;
  std::string path;
  int fd = -1;  // connected: up
  EventLoop::TimerId retry_timer = 0;
  // The backend never writes: readable means it closed its end (or the socket failed).
  void on_io(uint32_t) override { owner->down(*this); }
};

struct Balancer::Listener : IoHandler {
  Balancer* owner = nullptr;
  int fd = -1;
  uint16_t port = 0;
  bool paused = false;
  EventLoop::TimerId pause_timer = 0;
  std::vector<std::unique_ptr<Backend>> backends;
  size_t next = 0;  // round robin
  void on_io(uint32_t) override { owner->accept_from(*this); }
};

Balancer::Balancer(EventLoop& loop, Options opts) : loop_(loop), opts_(std::move(opts)) {
  for (const auto& f : opts_.frontends) {
    if (f.backends.empty()) throw std::runtime_error("balancer: frontend " + f.listen + " has no backend");
    auto l = std::make_unique<Listener>();
    l->owner = this;
    try {
      auto [host, port] = split_host_port(f.listen);
      l->fd = tcp_listener(host, port, false);
    } catch (...) {
      for (auto& done : listeners_) ::close(done->fd);
      throw;
    }
    l->port = bound_port(l->fd);
    for (const auto& p : f.backends) {
      auto b = std::make_unique<Backend>();
      b->owner = this;
      b->path = p;
      l->backends.push_back(std::move(b));
    }
    listeners_.push_back(std::move(l));
  }
  for (auto& l : listeners_) {
    loop_.add_fd(l->fd, EPOLLIN, l.get());
    for (auto& b : l->backends) connect(*b);
  }
}

Balancer::~Balancer() {
  for (auto& l : listeners_) {
    if (l->pause_timer) loop_.cancel_timer(l->pause_timer);
    if (!l->paused) loop_.del_fd(l->fd);
    ::close(l->fd);
    for (auto& b : l->backends) {
      if (b->retry_timer) loop_.cancel_timer(b->retry_timer);
      if (b->fd >= 0) {
        loop_.del_fd(b->fd);
        ::close(b->fd);
      }
    }
  }
}

uint16_t Balancer::port(size_t frontend) const { return listeners_.at(frontend)->port; }

void Balancer::connect(Backend& b) {
  b.retry_timer = 0;
  sockaddr_un addr{};
  int fd = -1;
  if (b.path.size() < sizeof addr.sun_path) {
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, b.path.data(), b.path.size());
    fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  }
  // A unix stream connect completes at once, or fails at once (no listener: ENOENT or
  // ECONNREFUSED; its backlog full: EAGAIN). Either way the next try is `retry` away.
  if (fd >= 0 && ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
    b.fd = fd;
    loop_.add_fd(fd, EPOLLIN | EPOLLRDHUP, &b);
    std::fprintf(stderr, "balancer: backend %s up\n", b.path.c_str());
    return;
  }
  if (fd >= 0) ::close(fd);
  retry_later(b);
}

void Balancer::retry_later(Backend& b) {
  Backend* bp = &b;
  b.retry_timer = loop_.add_timer(opts_.retry, [this, bp] { connect(*bp); });
}

void Balancer::down(Backend& b) {
  if (b.fd < 0) return;
  loop_.del_fd(b.fd);
  ::close(b.fd);
  b.fd = -1;
  std::fprintf(stderr, "balancer: backend %s down\n", b.path.c_str());
  retry_later(b);
}

void Balancer::accept_from(Listener& l) {
  for (int i = 0; i < kAcceptBatch; ++i) {
    int fd = ::accept4(l.fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) {
      hand(l, fd);
      continue;
    }
    if (errno == EINTR || errno == ECONNABORTED) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK)  // out of descriptors or memory: wait, do not spin
      l.pause_timer = pause_accepting(loop_, l.fd, EPOLLIN, &l, l.paused, "balancer");
    return;
  }
}

void Balancer::hand(Listener& l, int client_fd) {
  // Socket options travel with the socket: the backend gets it ready for small answers.
  int one = 1;
  ::setsockopt(client_fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  const size_t n = l.backends.size();
  for (size_t i = 0; i < n; ++i) {
    size_t k = (l.next + i) % n;
    Backend& b = *l.backends[k];
    if (b.fd < 0) continue;
    int e = send_fd(b.fd, client_fd);
    if (e == 0) {
      l.next = k + 1;
      ++handed_;
      ::close(client_fd);
      return;
    }
    // EAGAIN: this backend has not read its socket for a while (hundreds of connections
    // pending); the next one takes the client. Anything else: it is gone.
    if (e != EAGAIN) down(b);
  }
  ++refused_;
  ::close(client_fd);
}

}  // namespace net
