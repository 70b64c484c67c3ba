#include "tests/support/pg_proxy.h"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <list>
#include <stdexcept>
#include <vector>

namespace testpg {
namespace {

// One direction of the PostgreSQL stream, split into messages (type byte + int32 length).
// The client's first message is the startup packet, which has no type byte.
struct Framer {
  bool startup = false;  // true for the client side until the startup packet has passed
  std::string buf;
  // Appends data; calls on_msg(type, body) for each complete message (type 0 for startup).
  template <class F>
  void feed(const char* p, size_t n, F&& on_msg) {
    buf.append(p, n);
    size_t off = 0;
    for (;;) {
      size_t head = startup ? 4 : 5;
      if (buf.size() - off < head) break;
      uint32_t len;
      std::memcpy(&len, buf.data() + off + (startup ? 0 : 1), 4);
      len = ntohl(len);
      size_t total = (startup ? 0 : 1) + len;
      if (len < 4 || buf.size() - off < total) break;
      char type = startup ? 0 : buf[off];
      on_msg(type, std::string_view(buf.data() + off + head, total - head));
      off += total;
      startup = false;
    }
    buf.erase(0, off);
  }
};

struct Pipe {
  int client = -1, server = -1;
  Framer from_client{true, {}}, from_server{false, {}};
  bool cut_armed = false;  // drop the server's answer and reset at its ReadyForQuery
  bool dead = false;
};

void reset_close(int fd) {
  if (fd < 0) return;
  linger l{1, 0};  // RST, not FIN: the peer sees the connection die, not end politely
  ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
  ::close(fd);
}

bool write_all(int fd, const char* p, size_t n) {
  while (n > 0) {
    ssize_t k = ::send(fd, p, n, MSG_NOSIGNAL);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) {
      if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        pollfd w{fd, POLLOUT, 0};
        ::poll(&w, 1, 1000);
        continue;
      }
      return false;
    }
    p += k;
    n -= static_cast<size_t>(k);
  }
  return true;
}

}  // namespace

PgProxy::PgProxy(std::string socket_dir, int port)
    : socket_path_(fmt::format("{}/.s.PGSQL.{}", socket_dir, port)) {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int one = 1;
  ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(listen_fd_, 256) != 0)
    throw std::runtime_error("pg_proxy: cannot listen");
  socklen_t len = sizeof a;
  ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&a), &len);
  port_ = ntohs(a.sin_port);
  wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  thread_ = std::thread([this] { run(); });
}

PgProxy::~PgProxy() {
  stop_ = true;
  uint64_t one = 1;
  [[maybe_unused]] auto r = ::write(wake_fd_, &one, sizeof one);
  thread_.join();
  ::close(listen_fd_);
  ::close(wake_fd_);
}

std::string PgProxy::conninfo(const std::string& schema) const {
  std::string s = fmt::format(
      "host=127.0.0.1 port={} dbname=postgres user=postgres sslmode=disable gssencmode=disable", port_);
  if (!schema.empty()) s += fmt::format(" options=-csearch_path={}", schema);
  return s;
}

void PgProxy::pause(bool on) {
  paused_ = on;
  uint64_t one = 1;
  [[maybe_unused]] auto r = ::write(wake_fd_, &one, sizeof one);
}

void PgProxy::cut_all() {
  cut_all_ = true;
  uint64_t one = 1;
  [[maybe_unused]] auto r = ::write(wake_fd_, &one, sizeof one);
}

void PgProxy::cut_after_commit(std::vector<std::string> stmts, int n, std::function<void()> on_cut) {
  std::lock_guard lk(mu_);
  cut_stmts_ = std::move(stmts);
  cut_left_ = n;
  on_cut_ = std::move(on_cut);
}

void PgProxy::run() {
  std::list<Pipe> pipes;
  char buf[64 * 1024];
  while (!stop_) {
    if (cut_all_.exchange(false)) {
      for (auto& p : pipes) {
        reset_close(p.client);
        reset_close(p.server);
      }
      pipes.clear();
    }
    std::vector<pollfd> fds;
    std::vector<std::pair<Pipe*, bool>> who;  // (pipe, is_client)
    fds.push_back({wake_fd_, POLLIN, 0});
    who.emplace_back(nullptr, false);
    const bool paused = paused_;
    if (!paused) {
      fds.push_back({listen_fd_, POLLIN, 0});
      who.emplace_back(nullptr, true);
      for (auto& p : pipes) {
        fds.push_back({p.client, POLLIN, 0});
        who.emplace_back(&p, true);
        fds.push_back({p.server, POLLIN, 0});
        who.emplace_back(&p, false);
      }
    }
    if (::poll(fds.data(), fds.size(), 200) < 0) continue;
    if (fds[0].revents) {
      uint64_t v;
      [[maybe_unused]] auto r = ::read(wake_fd_, &v, sizeof v);
    }
    if (paused) continue;
    for (size_t i = 1; i < fds.size(); ++i) {
      if (!fds[i].revents) continue;
      auto [pipe, is_client] = who[i];
      if (!pipe) {  // the listener
        int c = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (c < 0) continue;
        int s = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_un u{};
        u.sun_family = AF_UNIX;
        std::strncpy(u.sun_path, socket_path_.c_str(), sizeof u.sun_path - 1);
        if (::connect(s, reinterpret_cast<sockaddr*>(&u), sizeof u) != 0) {
          ::close(s);
          reset_close(c);
          continue;
        }
        ++accepted_;
        Pipe p;
        p.client = c;
        p.server = s;
        pipes.push_back(std::move(p));
        continue;
      }
      if (pipe->dead) continue;
      int from = is_client ? pipe->client : pipe->server;
      int to = is_client ? pipe->server : pipe->client;
      ssize_t k = ::recv(from, buf, sizeof buf, MSG_DONTWAIT);
      if (k < 0 && (errno == EAGAIN || errno == EINTR)) continue;
      if (k <= 0) {
        pipe->dead = true;
        continue;
      }
      if (is_client) {
        pipe->from_client.feed(buf, static_cast<size_t>(k), [&](char type, std::string_view body) {
          if (type != 'B') return;
          // Bind: portal name, then statement name, both NUL-terminated.
          auto portal_end = body.find('\0');
          if (portal_end == std::string_view::npos) return;
          auto rest = body.substr(portal_end + 1);
          std::string_view stmt = rest.substr(0, rest.find('\0'));
          std::lock_guard lk(mu_);
          if (cut_left_ > 0 && std::find(cut_stmts_.begin(), cut_stmts_.end(), stmt) != cut_stmts_.end()) {
            --cut_left_;
            pipe->cut_armed = true;
          }
        });
        if (!write_all(to, buf, static_cast<size_t>(k))) pipe->dead = true;
        continue;
      }
      // From the server: forward message by message, so an armed cut drops exactly the answer.
      std::string out;
      bool cut_now = false;
      pipe->from_server.feed(buf, static_cast<size_t>(k), [&](char type, std::string_view body) {
        if (cut_now) return;
        if (pipe->cut_armed) {
          if (type == 'Z') cut_now = true;
          return;
        }
        uint32_t len = htonl(static_cast<uint32_t>(body.size() + 4));
        out.push_back(type);
        out.append(reinterpret_cast<const char*>(&len), 4);
        out.append(body);
      });
      if (!out.empty() && !write_all(to, out.data(), out.size())) pipe->dead = true;
      if (cut_now) {
        std::function<void()> hook;
        {
          std::lock_guard lk(mu_);
          hook = on_cut_;
        }
        if (hook) hook();
        ++cuts_done_;
        pipe->dead = true;
      }
    }
    for (auto it = pipes.begin(); it != pipes.end();) {
      if (it->dead) {
        reset_close(it->client);
        reset_close(it->server);
        it = pipes.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (auto& p : pipes) {
    reset_close(p.client);
    reset_close(p.server);
  }
}

}  // namespace testpg
