// POST /payments, after validation: group commit on the HTTP loop thread itself.
// The handler appends the payment to its loop's pending batch; the first of an epoll round posts
// a flush, which the loop runs right after that round's events. The flush commits the whole batch
// as ONE statement (store::accept), answers every request, then hands the new payments to the
// dispatcher. Requests that arrive during a commit wait in the socket buffers and form the next
// batch. So under load the commit cost is shared, and no request crosses a thread on its way:
// on two shared cores every thread wake-up costs p99.
#pragma once
#include <memory>
#include <mutex>
#include <vector>

#include "engine/config.h"
#include "engine/dispatcher.h"
#include "net/http_server.h"
#include "engine/payment_request.h"

namespace engine {

class Ingress {
 public:
  Ingress(const Config& cfg, Dispatcher& dispatcher);
  ~Ingress();

  // HTTP loop thread only. The responder is answered after the commit, or with 503 if the
  // database cannot take the batch: then nothing of it was accepted.
  void submit(const PaymentRequest& p, net::Responder r, SteadyClock::time_point arrived);

 private:
  struct Item {
    PaymentRequest payment;
    net::Responder responder;
    SteadyClock::time_point arrived;
  };
  struct LoopState;  // one per HTTP loop thread: its pending batch and its database session
  LoopState& state_here();
  void flush(LoopState& st);
  void commit_batch(std::vector<Item>& items, pqxx::connection& conn);

  const Config& cfg_;
  Dispatcher& dispatcher_;
  std::mutex states_mu_;  // only taken the first time a loop thread submits
  std::vector<std::unique_ptr<LoopState>> states_;
};

}  // namespace engine
