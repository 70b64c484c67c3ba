// Sustained, paced POST /payments load for fault tests: like the challenge's virtual users, each
// payment has a fresh correlationId and a 1.5 s client timeout, and every outcome is kept so that
// the audit can check it against the processors' books afterwards.
#pragma once
#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace net {
class EventLoop;
class HttpClient;
}  // namespace net

namespace testsupport {

struct Posted {
  std::string cid;
  int64_t cents = 0;
  int status = 0;        // HTTP status; 0 when no answer came (timeout, reset, refused)
  std::string error;     // net::ClientError name when status is 0
  int64_t sent_ms = 0;   // since the load started
  int64_t done_ms = 0;
  bool ok() const { return status >= 200 && status < 300; }
};

class Load {
 public:
  struct Options {
    int rate = 200;  // payments per second, spread evenly
    std::chrono::milliseconds timeout{1500};
    int first_id = 0;  // correlationIds are test_uuid(first_id + n)
  };
  explicit Load(Options opt);
  ~Load();
  Load(const Load&) = delete;
  Load& operator=(const Load&) = delete;

  // Engines to post to (round robin); may change while running (an engine restarted elsewhere).
  void set_targets(const std::vector<uint16_t>& ports);
  void start();
  // Stops sending, waits for the answers still due (at most the timeout), returns every payment.
  std::vector<Posted> stop();
  int64_t elapsed_ms() const;
  int64_t sent() const { return sent_.load(); }
  int64_t succeeded() const { return ok_.load(); }

 private:
  void tick();
  Options opt_;
  std::unique_ptr<net::EventLoop> loop_;
  std::unique_ptr<net::HttpClient> client_;
  std::thread thread_;
  std::mutex mu_;
  std::vector<uint16_t> ports_;
  std::vector<Posted> posted_;  // loop thread only until stop()
  std::chrono::steady_clock::time_point t0_;
  double owed_ = 0;
  bool stopping_ = false;
  std::atomic<int64_t> sent_{0}, ok_{0}, pending_{0};
};

// Recovery after a fault that ended at `fault_end_ms` (load time): how long until every payment
// posted from then on was answered 2XX; -1 if the load never got there.
int64_t recovery_ms(const std::vector<Posted>& posted, int64_t fault_end_ms);

// FAULT_SCALE=full (bench/faults.sh) runs each fault at full scale; CI runs a short version.
bool full_scale();

}  // namespace testsupport
