// Listening sockets, for HttpServer and Balancer alike: non-blocking, close-on-exec, backlog 4096.
#pragma once
#include <cstdint>
#include <string>
#include <utility>

namespace net {

// "host:port" or "[v6]:port" -> {host, port}; "" or "*" as host means every address. Throws.
std::pair<std::string, std::string> split_host_port(const std::string& listen);
// SO_REUSEADDR, and SO_REUSEPORT when asked (one listener per loop thread). Throws std::system_error.
int tcp_listener(const std::string& host, const std::string& port, bool reuseport);
// Replaces a socket file an earlier run left behind (anything else at the path is an error).
int unix_listener(const std::string& path);
// The TCP port fd is bound to (port 0 asked for a free one); 0 for other sockets.
uint16_t bound_port(int fd);

}  // namespace net
