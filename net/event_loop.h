// A single-threaded epoll reactor shared by the HTTP server, the HTTP client and the engine.
// Why our own: cpp-httplib holds one thread per connection (603 VUs, 3,000 delayed processor
// calls in flight) and adds up to 1 ms between keep-alive requests; an epoll loop has neither.
#pragma once
#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <queue>
#include <unordered_map>
#include <vector>

namespace net {

using Clock = std::chrono::steady_clock;

// Receives readiness events for one file descriptor. Called on the loop thread only.
struct IoHandler {
  virtual void on_io(uint32_t epoll_events) = 0;
  virtual ~IoHandler() = default;
};

class EventLoop {
 public:
  EventLoop();
  ~EventLoop();
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  // Runs on the calling thread until stop(); afterwards posted functions still pending are run.
  void run();
  // Thread-safe: asks run() to return after the current iteration.
  void stop();
  // Thread-safe, not from the loop thread: runs fn on the loop (which must be running) and waits.
  void run_and_wait(const std::function<void()>& fn);
  // Thread-safe: runs fn on the loop thread, after the events of the current iteration.
  // Handlers must be deleted through post() after del_fd(), so no pending event sees them.
  void post(std::function<void()> fn);

  // Loop thread only. events are EPOLLIN/EPOLLOUT/EPOLLET/...; the handler must outlive registration.
  void add_fd(int fd, uint32_t events, IoHandler* h);
  void mod_fd(int fd, uint32_t events, IoHandler* h);
  void del_fd(int fd);

  // Loop thread only. Timers fire on the loop thread with millisecond resolution.
  using TimerId = uint64_t;
  TimerId add_timer(std::chrono::milliseconds after, std::function<void()> fn);
  void cancel_timer(TimerId id);  // no-op if already fired or cancelled

  // True on the thread inside this loop's run(), and only there (any thread may ask).
  bool in_loop_thread() const;
  // Cached at the start of each iteration: cheap, and what timers are measured against.
  Clock::time_point now() const { return now_; }

 private:
  struct Timer {
    Clock::time_point at;
    TimerId id;
    bool operator>(const Timer& o) const { return at > o.at || (at == o.at && id > o.id); }
  };
  int run_due_timers();  // returns the epoll timeout in ms until the next timer, -1 if none
  void drain_posted();

  int epfd_ = -1;
  int wakefd_ = -1;  // eventfd: wakes epoll_wait for post()/stop()
  bool stopping_ = false;
  Clock::time_point now_;

  std::mutex posted_mu_;
  std::vector<std::function<void()>> posted_, running_;

  std::priority_queue<Timer, std::vector<Timer>, std::greater<>> timers_;
  std::unordered_map<TimerId, std::function<void()>> timer_fns_;
  TimerId next_timer_ = 1;
};

}  // namespace net
