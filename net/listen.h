// Listening sockets, for HttpServer and Balancer alike: non-blocking, close-on-exec, backlog 4096.
#pragma once
#include <cstdint>
#include <string>
#include <utility>

#include "net/event_loop.h"

namespace net {

// "host:port" or "[v6]:port" -> {host, port}; "" or "*" as host means every address. Throws.
std::pair<std::string, std::string> split_host_port(const std::string& listen);
// SO_REUSEADDR, and SO_REUSEPORT when asked (one listener per loop thread). Throws std::system_error.
int tcp_listener(const std::string& host, const std::string& port, bool reuseport);
// Replaces a socket file an earlier run left behind (anything else at the path is an error).
int unix_listener(const std::string& path);
// The TCP port fd is bound to (port 0 asked for a free one); 0 for other sockets.
uint16_t bound_port(int fd);

// An accept that failed for want of descriptors or memory fails again at once on a
// level-triggered listener: this takes `fd` off `loop` for 100 ms, logging why (errno) for `who`,
// then puts it back with `events` and `h`, unless it was closed meanwhile (`fd` < 0 by then).
// `paused` is true in between: the owner must not del_fd() it again. fd, paused and h must
// outlive the timer (or the owner cancels it with the id returned).
EventLoop::TimerId pause_accepting(EventLoop& loop, const int& fd, uint32_t events, IoHandler* h, bool& paused,
                                   const char* who);

}  // namespace net
