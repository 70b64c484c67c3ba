#include "queue/wakeup.h"

#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>

namespace pgq {
namespace {

struct Signal {
  std::mutex mu;
  std::condition_variable cv;
  uint64_t generation = 0;
};

Signal& signal_for(const std::string& queue) {
  static std::mutex registry_mu;
  static std::map<std::string, std::unique_ptr<Signal>> registry;
  std::lock_guard lk(registry_mu);
  auto& s = registry[queue];
  if (!s) s = std::make_unique<Signal>();
  return *s;  // never erased: the address stays valid
}

}  // namespace

void wakeup_notify(const std::string& queue) {
  Signal& s = signal_for(queue);
  {
    std::lock_guard lk(s.mu);
    ++s.generation;
  }
  s.cv.notify_all();
}

uint64_t wakeup_generation(const std::string& queue) {
  Signal& s = signal_for(queue);
  std::lock_guard lk(s.mu);
  return s.generation;
}

bool wakeup_wait(const std::string& queue, uint64_t seen, std::chrono::milliseconds timeout) {
  Signal& s = signal_for(queue);
  std::unique_lock lk(s.mu);
  return s.cv.wait_for(lk, timeout, [&] { return s.generation != seen; });
}

}  // namespace pgq
