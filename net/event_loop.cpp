#include "net/event_loop.h"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <future>
#include <cerrno>
#include <stdexcept>
#include <system_error>
#include <utility>

namespace net {

namespace {
// The loop whose run() this thread is inside, if any. Each thread reads only its own, so any thread
// may ask in_loop_thread(). A post() from inside run() needs no wake-up: run() looks at the posted
// functions before it waits, so the eventfd's write, and the epoll round and read that would take
// it back, are skipped (the engine's syscalls per idle POST: 14 -> 8, bench/README.md).
thread_local EventLoop* running_here = nullptr;
}  // namespace

EventLoop::EventLoop() : now_(Clock::now()) {
  epfd_ = epoll_create1(EPOLL_CLOEXEC);
  wakefd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (epfd_ < 0 || wakefd_ < 0) throw std::system_error(errno, std::generic_category(), "epoll/eventfd");
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.ptr = nullptr;  // nullptr marks the wake-up fd
  if (epoll_ctl(epfd_, EPOLL_CTL_ADD, wakefd_, &ev) != 0)
    throw std::system_error(errno, std::generic_category(), "epoll_ctl wakefd");
}

EventLoop::~EventLoop() {
  if (wakefd_ >= 0) close(wakefd_);
  if (epfd_ >= 0) close(epfd_);
}

bool EventLoop::in_loop_thread() const { return running_here == this; }

void EventLoop::post(std::function<void()> fn) {
  bool was_empty;
  {
    std::lock_guard lk(posted_mu_);
    was_empty = posted_.empty();
    posted_.push_back(std::move(fn));
  }
  if (was_empty && !in_loop_thread()) {  // one wake-up per batch of posts is enough
    uint64_t one = 1;
    [[maybe_unused]] auto r = write(wakefd_, &one, sizeof one);
  }
}

void EventLoop::run_and_wait(const std::function<void()>& fn) {
  std::promise<void> done;
  post([&] {
    fn();
    done.set_value();
  });
  done.get_future().wait();
}

void EventLoop::stop() {
  post([this] { stopping_ = true; });
}

void EventLoop::add_fd(int fd, uint32_t events, IoHandler* h) {
  epoll_event ev{};
  ev.events = events;
  ev.data.ptr = h;
  if (epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &ev) != 0)
    throw std::system_error(errno, std::generic_category(), "epoll_ctl add");
}

void EventLoop::mod_fd(int fd, uint32_t events, IoHandler* h) {
  epoll_event ev{};
  ev.events = events;
  ev.data.ptr = h;
  if (epoll_ctl(epfd_, EPOLL_CTL_MOD, fd, &ev) != 0)
    throw std::system_error(errno, std::generic_category(), "epoll_ctl mod");
}

void EventLoop::del_fd(int fd) { epoll_ctl(epfd_, EPOLL_CTL_DEL, fd, nullptr); }

EventLoop::TimerId EventLoop::add_timer(std::chrono::milliseconds after, std::function<void()> fn) {
  TimerId id = next_timer_++;
  timers_.push(Timer{Clock::now() + after, id});
  timer_fns_.emplace(id, std::move(fn));
  return id;
}

void EventLoop::cancel_timer(TimerId id) { timer_fns_.erase(id); }

int EventLoop::run_due_timers() {
  while (!timers_.empty()) {
    Timer t = timers_.top();
    auto it = timer_fns_.find(t.id);
    if (it == timer_fns_.end()) {  // cancelled
      timers_.pop();
      continue;
    }
    if (t.at > now_) {
      auto ms = std::chrono::ceil<std::chrono::milliseconds>(t.at - now_).count();
      return static_cast<int>(ms);
    }
    timers_.pop();
    auto fn = std::move(it->second);
    timer_fns_.erase(it);
    fn();
  }
  return -1;
}

void EventLoop::drain_posted() {
  {
    std::lock_guard lk(posted_mu_);
    running_.swap(posted_);
  }
  for (auto& fn : running_) fn();
  running_.clear();
}

void EventLoop::run() {
  struct Running {  // restored however run() ends (epoll_wait may throw)
    EventLoop* outer;
    ~Running() { running_here = outer; }
  } running{std::exchange(running_here, this)};
  stopping_ = false;
  epoll_event events[256];
  while (!stopping_) {
    now_ = Clock::now();
    int timeout = run_due_timers();
    {
      std::lock_guard lk(posted_mu_);
      if (!posted_.empty()) timeout = 0;
    }
    int n = epoll_wait(epfd_, events, 256, timeout);
    if (n < 0 && errno != EINTR) throw std::system_error(errno, std::generic_category(), "epoll_wait");
    now_ = Clock::now();
    for (int i = 0; i < n; ++i) {
      auto* h = static_cast<IoHandler*>(events[i].data.ptr);
      if (h == nullptr) {
        uint64_t v;
        [[maybe_unused]] auto r = read(wakefd_, &v, sizeof v);
        continue;
      }
      h->on_io(events[i].events);
    }
    drain_posted();
  }
  drain_posted();
}

}  // namespace net
