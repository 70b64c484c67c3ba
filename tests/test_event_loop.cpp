// net::EventLoop's post(): what it promises, whichever thread posts. A post from the loop's own
// thread writes no wake-up (run() looks at the posted functions before it waits); these check
// that nothing posted is then left waiting for an unrelated event or timer (run_loop's guard).
#include <doctest/doctest.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "net/event_loop.h"
#include "tests/support/run_loop.h"

using namespace std::chrono_literals;

using testsupport::run_loop;  // fails the test if its 10 s guard has to stop the loop

TEST_CASE("posts from the loop's own thread run in order, each in a later round") {
  net::EventLoop loop;
  std::vector<int> order;
  loop.post([&] {
    order.push_back(1);
    loop.post([&] {
      order.push_back(3);
      loop.post([&] {
        order.push_back(4);
        loop.stop();
      });
    });
    order.push_back(2);  // the post above ran after this function, not inside it
  });
  run_loop(loop);
  CHECK(order == std::vector<int>{1, 2, 3, 4});
}

TEST_CASE("a post from an I/O handler runs although no other event follows") {
  net::EventLoop loop;
  int fds[2];
  REQUIRE(pipe(fds) == 0);
  struct Reader : net::IoHandler {
    net::EventLoop* loop;
    int fd;
    bool ran = false;
    void on_io(uint32_t) override {
      char c;
      [[maybe_unused]] auto n = read(fd, &c, 1);
      loop->post([this] {
        ran = true;
        loop->stop();
      });
    }
  } reader;
  reader.loop = &loop;
  reader.fd = fds[0];
  loop.add_fd(fds[0], EPOLLIN, &reader);
  std::thread writer([&] {
    std::this_thread::sleep_for(50ms);  // the loop is asleep in epoll_wait by then
    [[maybe_unused]] auto n = write(fds[1], "x", 1);
  });
  run_loop(loop);
  writer.join();
  CHECK(reader.ran);
  loop.del_fd(fds[0]);
  close(fds[0]);
  close(fds[1]);
}

TEST_CASE("a post from a thread running another loop wakes this one") {
  net::EventLoop a, b;
  std::atomic<bool> a_running{false};
  std::thread other([&] {
    a.post([&] { a_running = true; });
    a.run();
  });
  while (!a_running) std::this_thread::sleep_for(1ms);
  bool ran = false;
  b.post([&] {
    // b is now running on this thread; ask a's thread (inside a.run()) to post back to b once b
    // is asleep. That post must wake b although it comes from inside a loop's run().
    a.post([&] {
      std::this_thread::sleep_for(50ms);
      b.post([&] {
        ran = true;
        b.stop();
      });
    });
  });
  run_loop(b);
  CHECK(ran);
  a.stop();
  other.join();
}

TEST_CASE("a post from a plain thread wakes the loop") {
  net::EventLoop loop;
  bool ran = false;
  std::thread poster([&] {
    std::this_thread::sleep_for(50ms);
    loop.post([&] {
      ran = true;
      loop.stop();
    });
  });
  run_loop(loop);
  poster.join();
  CHECK(ran);
}
