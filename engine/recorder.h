// The dispatcher's database companion: one thread, one connection. Everything the dispatcher asked
// for since the last round (attempt rows, finished payments, lease changes) is written in ONE
// transaction, so a burst of answers costs one commit, not one each. Every write is idempotent:
// on a lost connection or an in-doubt commit the whole round simply runs again, and the
// dispatcher never has to guess whether a write happened. Completions run on the dispatcher's loop.
#pragma once
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "net/event_loop.h"
#include "engine/store.h"

namespace engine {

class Recorder {
 public:
  // gather: how long a round waits for more work after its first item. Nothing here is on a
  // client's path (the 2XX left at the ingress), so a few ms cost nothing, while every commit
  // saved leaves the WAL and the CPU to the ingress commits that clients do wait for.
  Recorder(std::string database_url, net::EventLoop& reply_loop, std::chrono::milliseconds gather);
  ~Recorder();
  void start();
  // Writes what is already pending, then returns.
  void stop();

  // Thread-safe. `done(exists)` gets, per attempt, whether its payment still exists (not purged).
  void write_attempts(std::vector<store::Attempt> attempts, std::function<void(std::vector<bool>)> done);
  void record_done(std::vector<store::Done> done, std::function<void()> then);
  void set_leases(std::vector<int64_t> msg_ids, std::chrono::milliseconds vt);

  size_t backlog() const;  // writes waiting for the next round

 private:
  struct Round {
    std::vector<store::Attempt> attempts;
    std::vector<std::pair<size_t, std::function<void(std::vector<bool>)>>> attempt_cbs;  // (count, callback)
    std::vector<store::Done> done;
    std::vector<std::function<void()>> done_cbs;
    std::vector<std::pair<std::vector<int64_t>, std::chrono::milliseconds>> leases;
    bool empty() const { return attempts.empty() && done.empty() && leases.empty(); }
    size_t size() const { return attempts.size() + done.size() + leases.size(); }
  };
  void run();
  void execute(Round& round, pqxx::connection& conn, pgq::Queue& queue);

  std::string url_;
  net::EventLoop& reply_;
  std::chrono::milliseconds gather_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  Round pending_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace engine
