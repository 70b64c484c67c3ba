#include "net/listen.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <system_error>

namespace net {

std::pair<std::string, std::string> split_host_port(const std::string& listen) {
  size_t colon = listen.rfind(':');
  if (colon == std::string::npos) throw std::runtime_error("listen: want host:port, got '" + listen + "'");
  std::string host = listen.substr(0, colon), port = listen.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  return {host, port};
}

int tcp_listener(const std::string& host, const std::string& port, bool reuseport) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* res = nullptr;
  const char* h = (host.empty() || host == "*") ? nullptr : host.c_str();
  int rc = ::getaddrinfo(h, port.c_str(), &hints, &res);
  if (rc != 0) throw std::runtime_error("listen: cannot resolve '" + host + "': " + gai_strerror(rc));
  int fd = ::socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    ::freeaddrinfo(res);
    throw std::system_error(errno, std::generic_category(), "socket");
  }
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (reuseport) ::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
  if (::bind(fd, res->ai_addr, res->ai_addrlen) != 0) {
    int e = errno;
    ::freeaddrinfo(res);
    ::close(fd);
    throw std::system_error(e, std::generic_category(), "bind " + host + ":" + port);
  }
  ::freeaddrinfo(res);
  if (::listen(fd, 4096) != 0) {
    int e = errno;
    ::close(fd);
    throw std::system_error(e, std::generic_category(), "listen");
  }
  return fd;
}

int unix_listener(const std::string& path) {
  sockaddr_un addr{};
  if (path.empty() || path.size() >= sizeof addr.sun_path)
    throw std::runtime_error("listen: bad unix socket path '" + path + "'");
  struct stat st{};
  if (::lstat(path.c_str(), &st) == 0) {
    // Only a socket left by an earlier run is removed; anything else at that path is a mistake.
    if (!S_ISSOCK(st.st_mode)) throw std::runtime_error("listen: '" + path + "' exists and is not a socket");
    ::unlink(path.c_str());
  }
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) throw std::system_error(errno, std::generic_category(), "socket");
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.data(), path.size());
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    int e = errno;
    ::close(fd);
    throw std::system_error(e, std::generic_category(), "bind " + path);
  }
  // The peer is a load balancer in another container, under another user: connecting needs write
  // permission on the socket file, which the umask would otherwise take away.
  ::chmod(path.c_str(), 0666);
  if (::listen(fd, 4096) != 0) {
    int e = errno;
    ::close(fd);
    throw std::system_error(e, std::generic_category(), "listen");
  }
  return fd;
}

uint16_t bound_port(int fd) {
  sockaddr_storage ss{};
  socklen_t sl = sizeof ss;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &sl) != 0) return 0;
  if (ss.ss_family == AF_INET) return ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
  if (ss.ss_family == AF_INET6) return ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
  return 0;
}

EventLoop::TimerId pause_accepting(EventLoop& loop, const int& fd, uint32_t events, IoHandler* h, bool& paused,
                                   const char* who) {
  std::fprintf(stderr, "%s: accept: %s; pausing accepts for 100 ms\n", who, std::strerror(errno));
  loop.del_fd(fd);
  paused = true;
  return loop.add_timer(std::chrono::milliseconds(100), [&loop, &fd, events, h, &paused] {
    paused = false;
    if (fd >= 0) loop.add_fd(fd, events, h);
  });
}

}  // namespace net
