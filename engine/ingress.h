// POST /payments, after validation: group commit. Requests from the HTTP loop go into a lock-free
// queue; one writer thread takes everything that has arrived, commits it as ONE transaction
// (store::accept) and only then answers each request and hands the new payments to the
// dispatcher. Under load the batches grow by themselves, so the commit cost is shared while a
// lone request waits for nothing but its own commit.
#pragma once
#include <concurrentqueue/blockingconcurrentqueue.h>

#include <atomic>
#include <thread>

#include "engine/config.h"
#include "engine/dispatcher.h"
#include "engine/http_server.h"
#include "engine/payment_request.h"

namespace engine {

class Ingress {
 public:
  Ingress(const Config& cfg, Dispatcher& dispatcher);
  ~Ingress();
  void start();
  // Answers everything already submitted, then returns.
  void stop();

  // Thread-safe, lock-free. The responder is answered after the commit (or with 503 if the
  // database cannot take it: then nothing was accepted).
  void submit(const PaymentRequest& p, net::Responder r, SteadyClock::time_point arrived);

 private:
  struct Item {
    PaymentRequest payment;
    net::Responder responder;
    SteadyClock::time_point arrived;
  };
  void run();
  void commit_batch(std::vector<Item>& items, pqxx::connection& conn, pgq::Queue& queue);

  const Config& cfg_;
  Dispatcher& dispatcher_;
  moodycamel::BlockingConcurrentQueue<Item> queue_;
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace engine
