// State kept per HttpServer loop thread (a database connection, a pending batch...), created and
// destroyed on its own loop, and found from a Responder's loop without any lock.
#pragma once
#include <functional>
#include <memory>
#include <vector>

#include "net/http_server.h"

namespace net {

template <class S>
class PerLoop {
 public:
  struct Entry {
    EventLoop* loop;
    S state;
  };
  // After server.start(): one S per loop, `init` run on that loop.
  void start(HttpServer& server, const std::function<void(EventLoop&, S&)>& init) {
    for (int i = 0; i < server.thread_count(); ++i) {
      auto e = std::make_unique<Entry>();
      e->loop = &server.loop(i);
      Entry* raw = e.get();
      entries_.push_back(std::move(e));
      raw->loop->run_and_wait([&] { init(*raw->loop, raw->state); });
    }
  }
  // Before server.stop(): `fn` on each loop (to close what lives there).
  void each_on_loop(const std::function<void(S&)>& fn) {
    for (auto& e : entries_) e->loop->run_and_wait([&] { fn(e->state); });
  }
  // The loop thread's own state; nullptr for another thread (or before start).
  S* find(const EventLoop* loop) {
    for (auto& e : entries_)
      if (e->loop == loop) return &e->state;
    return nullptr;
  }
  template <class F>
  void for_each(F&& fn) const {
    for (const auto& e : entries_) fn(e->state);
  }

 private:
  std::vector<std::unique_ptr<Entry>> entries_;
};

}  // namespace net
