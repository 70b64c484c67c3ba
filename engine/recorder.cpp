#include "engine/recorder.h"

#include "engine/log.h"
#include "engine/metrics.h"

namespace engine {

Recorder::Recorder(std::string database_url, net::EventLoop& reply_loop, std::chrono::milliseconds gather)
    : url_(std::move(database_url)), reply_(reply_loop), gather_(gather) {}

Recorder::~Recorder() { stop(); }

void Recorder::start() { thread_ = std::thread([this] { run(); }); }

void Recorder::stop() {
  {
    std::lock_guard lk(mu_);
    stopping_ = true;
  }
  cv_.notify_one();
  if (thread_.joinable()) thread_.join();
}

size_t Recorder::backlog() const {
  std::lock_guard lk(mu_);
  return pending_.size();
}

void Recorder::write_attempts(std::vector<store::Attempt> attempts, std::function<void(std::vector<bool>)> done) {
  {
    std::lock_guard lk(mu_);
    pending_.attempt_cbs.emplace_back(attempts.size(), std::move(done));
    pending_.attempts.insert(pending_.attempts.end(), attempts.begin(), attempts.end());
  }
  cv_.notify_one();
}

void Recorder::record_done(std::vector<store::Done> done, std::function<void()> then) {
  {
    std::lock_guard lk(mu_);
    pending_.done.insert(pending_.done.end(), done.begin(), done.end());
    pending_.done_cbs.push_back(std::move(then));
  }
  cv_.notify_one();
}

void Recorder::set_leases(std::vector<int64_t> msg_ids, std::chrono::milliseconds vt) {
  {
    std::lock_guard lk(mu_);
    pending_.leases.emplace_back(std::move(msg_ids), vt);
  }
  cv_.notify_one();
}

void Recorder::execute(Round& round, pqxx::connection& conn, pgq::Queue& queue) {
  pqxx::work tx(conn);
  // A payment is never both routed and finished in one round: it is `routing` until its attempt
  // row's callback ran, and only then can it be sent and finish. So the order inside is free.
  auto exists = store::upsert_attempts(tx, round.attempts);
  store::record_done(tx, queue, round.done);
  for (auto& [ids, vt] : round.leases) queue.set_vt(tx, ids, vt);
  tx.commit();
  size_t at = 0;
  for (auto& [n, cb] : round.attempt_cbs) {
    std::vector<bool> part(exists.begin() + static_cast<long>(at), exists.begin() + static_cast<long>(at + n));
    at += n;
    reply_.post([cb = std::move(cb), part = std::move(part)]() mutable { cb(std::move(part)); });
  }
  for (auto& cb : round.done_cbs) reply_.post(std::move(cb));
}

void Recorder::run() {
  store::Session db(url_);
  int failures = 0;
  Round round;
  for (;;) {
    {
      std::unique_lock lk(mu_);
      cv_.wait(lk, [&] { return stopping_ || !pending_.empty() || !round.empty(); });
      if (round.empty() && pending_.empty()) return;  // stopping and drained
      if (gather_.count() > 0 && !stopping_ && round.empty()) {
        lk.unlock();
        std::this_thread::sleep_for(gather_);
        lk.lock();
      }
      // Merge what arrived into the round (a failed round keeps its contents and grows).
      round.attempts.insert(round.attempts.end(), pending_.attempts.begin(), pending_.attempts.end());
      for (auto& cb : pending_.attempt_cbs) round.attempt_cbs.push_back(std::move(cb));
      round.done.insert(round.done.end(), pending_.done.begin(), pending_.done.end());
      for (auto& cb : pending_.done_cbs) round.done_cbs.push_back(std::move(cb));
      for (auto& l : pending_.leases) round.leases.push_back(std::move(l));
      pending_ = Round{};
    }
    try {
      store::BusyScope busy;
      execute(round, db.conn(), db.queue());
      round = Round{};
      if (failures) log_event("info", "recorder recovered");
      failures = 0;
    } catch (const std::exception& e) {
      if (failures++ == 0) log_event("error", "recorder write failed, retrying", e.what());
      db.reset();
      std::unique_lock lk(mu_);
      if (stopping_ && failures > 50) return;  // the database is gone; leases hand the work to others
      cv_.wait_for(lk, std::chrono::milliseconds(std::min(20 * failures, 1000)));
    }
  }
}

}  // namespace engine
