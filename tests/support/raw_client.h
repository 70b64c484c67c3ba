// A blocking raw HTTP/1.1 client socket for byte-exact tests (pipelining, malformed input,
// disconnects), with a receive timeout so that a server bug fails a test instead of hanging it.
#pragma once
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

namespace testsupport {

struct RawResponse {
  int status = 0;
  std::string head;  // status line + header fields
  std::string body;
  bool ok = false;  // a complete response was read
  bool has_header(std::string_view h) const { return head.find(h) != std::string::npos; }
};

// Blocking client socket with a receive timeout, so a server bug fails the test instead of hanging it.
// The address of the unix socket at `path`, for connect() and bind().
inline sockaddr_un unix_address(const std::string& path) {
  sockaddr_un a{};
  REQUIRE(path.size() < sizeof a.sun_path);
  a.sun_family = AF_UNIX;
  std::memcpy(a.sun_path, path.data(), path.size());
  return a;
}

class RawClient {
 public:
  explicit RawClient(uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    init();
  }
  explicit RawClient(const std::string& unix_path) {
    fd_ = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un a = unix_address(unix_path);
    REQUIRE(::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    init();
  }
  ~RawClient() { close(); }
  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  // False if the server stopped taking bytes (it may close after an early answer).
  bool try_send(std::string_view s) {
    while (!s.empty()) {
      ssize_t n = ::send(fd_, s.data(), s.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      s.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }
  void send(std::string_view s) {
    while (!s.empty()) {
      ssize_t n = ::send(fd_, s.data(), s.size(), MSG_NOSIGNAL);
      REQUIRE(n > 0);
      s.remove_prefix(static_cast<size_t>(n));
    }
  }
  // head: the answer to a HEAD, whose Content-Length announces a body that is not sent.
  RawResponse read_response(bool head = false) {
    RawResponse r;
    size_t end;
    while ((end = buf_.find("\r\n\r\n")) == std::string::npos)
      if (!fill()) return r;
    r.head = buf_.substr(0, end + 2);
    buf_.erase(0, end + 4);
    r.status = std::atoi(r.head.c_str() + 9);
    size_t cl = 0;
    if (auto p = r.head.find("Content-Length: "); p != std::string::npos && !head) cl = std::stoul(r.head.substr(p + 16));
    while (buf_.size() < cl)
      if (!fill()) return r;
    r.body = buf_.substr(0, cl);
    buf_.erase(0, cl);
    r.ok = true;
    return r;
  }
  // True if the server closed the connection (read returns 0) within the receive timeout.
  bool closed_by_peer() {
    char c;
    ssize_t n = ::recv(fd_, &c, 1, 0);
    return n == 0 || (n < 0 && errno == ECONNRESET);
  }
  int fd() const { return fd_; }
  // Bytes received but not yet consumed as a response.
  const std::string& pending() const { return buf_; }
  // Waits up to `ms` for any byte; true if one arrived (it is kept for read_response).
  bool more_within(int ms) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, ms) <= 0) return false;
    return fill();
  }

 private:
  void init() {
    timeval tv{5, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  bool fill() {
    char tmp[65536];
    ssize_t n = ::recv(fd_, tmp, sizeof tmp, 0);
    if (n <= 0) return false;
    buf_.append(tmp, static_cast<size_t>(n));
    return true;
  }
  int fd_ = -1;
  std::string buf_;
};

// Leaves a socket file at `path` with nothing listening, as a crashed server does.
inline void leave_stale_unix_socket(const std::string& path) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un a = unix_address(path);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  ::close(fd);
}

// True if the peer closed the connection within `ms` (EOF or reset); false if it is still open.
inline bool closed_within(int fd, int ms) {
  pollfd p{fd, POLLIN, 0};
  if (::poll(&p, 1, ms) <= 0) return false;
  char c;
  ssize_t n = ::recv(fd, &c, 1, MSG_DONTWAIT);
  return n == 0 || (n < 0 && errno == ECONNRESET);
}

}  // namespace testsupport
