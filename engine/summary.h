// GET /payments-summary and POST /purge-payments: whole-table statements, run on their own thread
// and connection so they never delay a payment's commit.
#pragma once
#include <concurrentqueue/blockingconcurrentqueue.h>

#include <atomic>
#include <optional>
#include <thread>

#include "engine/config.h"
#include "net/http_server.h"
#include "engine/store.h"

namespace engine {

// {"default":{"totalRequests":N,"totalAmount":X.YY},"fallback":{...}}
std::string summary_json(const store::Summary& s);

class SummaryService {
 public:
  explicit SummaryService(const Config& cfg);
  ~SummaryService();
  void start();
  void stop();

  // Thread-safe. Bounds are inclusive epoch ms; nullopt = unbounded.
  void summary(std::optional<int64_t> from_ms, std::optional<int64_t> to_ms, net::Responder r,
               SteadyClock::time_point arrived);
  void purge(net::Responder r, SteadyClock::time_point arrived);

 private:
  struct Request {
    bool purge = false;
    std::optional<int64_t> from_ms, to_ms;
    net::Responder responder;
    SteadyClock::time_point arrived;
  };
  void run();
  void serve(Request& req, pqxx::connection& conn, pgq::Queue& queue);

  const Config& cfg_;
  moodycamel::BlockingConcurrentQueue<Request> queue_;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace engine
