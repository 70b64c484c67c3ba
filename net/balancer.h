// A connection balancer that leaves the data path. It accepts each client's TCP connection and
// hands the socket itself (net/handoff.h) to one backend, round robin per connection over the
// backends that are up; the backend (HttpServer with Options::handoff) then reads and answers the
// client directly. What haproxy in TCP mode does, minus the copy of every byte through a third
// process: two wake-ups and ~0.2 ms per request on this machine (bench/README.md).
//
// A backend is up while its unix socket is connected. The balancer connects at start and again
// every `retry` while it is down; a backend that closes its end (draining, stopping, crashed) is
// down at once. A client arriving when no backend is up is closed without a byte, as haproxy does
// with no server left. The balancer never reads a client's bytes, so it can never send a request
// twice; a request in flight when its backend dies fails with that backend's connection.
#pragma once
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "net/event_loop.h"

namespace net {

class Balancer {
 public:
  struct Frontend {
    std::string listen;                 // "host:port" (TCP)
    std::vector<std::string> backends;  // unix socket paths
  };
  struct Options {
    std::vector<Frontend> frontends;
    std::chrono::milliseconds retry{100};  // reconnecting a backend that is down
  };

  // Binds every frontend (throws std::system_error if an address is unusable) and starts
  // connecting to the backends; all work then happens on `loop`, which must outlive this.
  // Call from the loop's thread, or before the loop runs.
  Balancer(EventLoop& loop, Options opts);
  ~Balancer();  // on the loop's thread, or after it stopped
  Balancer(const Balancer&) = delete;
  Balancer& operator=(const Balancer&) = delete;

  uint16_t port(size_t frontend) const;  // the bound TCP port (for listen "host:0")
  // Connections handed over and refused (no backend up) so far; loop thread only.
  uint64_t handed() const { return handed_; }
  uint64_t refused() const { return refused_; }

 private:
  struct Backend;
  struct Listener;
  void accept_from(Listener& l);
  void hand(Listener& l, int client_fd);
  void connect(Backend& b);
  void down(Backend& b);
  void retry_later(Backend& b);

  EventLoop& loop_;
  Options opts_;
  std::vector<std::unique_ptr<Listener>> listeners_;
  uint64_t handed_ = 0, refused_ = 0;
};

}  // namespace net
