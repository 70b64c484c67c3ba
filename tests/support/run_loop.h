// Runs an event loop on the test's own thread until something calls loop.stop(); a guard timer
// stops it after `limit` and fails the test, so a callback that never comes cannot hang the run.
#pragma once
#include <doctest/doctest.h>

#include <chrono>

#include "net/event_loop.h"

namespace testsupport {

inline void run_loop(net::EventLoop& loop, std::chrono::milliseconds limit = std::chrono::seconds(10)) {
  bool expired = false;
  auto t = loop.add_timer(limit, [&] {
    expired = true;
    loop.stop();
  });
  loop.run();
  loop.cancel_timer(t);
  CHECK_FALSE(expired);
}

}  // namespace testsupport
