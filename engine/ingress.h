// POST /payments, after validation: group commit on the HTTP loop thread, without blocking it.
// The handler appends the payment to its loop's pending batch; the first of an epoll round posts
// a flush, which sends the whole batch as ONE statement (store.h: accept) on one of the loop's
// asynchronous database connections. While it commits, the loop keeps reading requests, which
// form the next batch on the next free connection; each batch is answered the moment its commit
// returns, then handed to the dispatcher. No request crosses a thread on its way.
//
// Every POST is answered within INGRESS_COMMIT_TIMEOUT_MS (+ INGRESS_LOOKUP_TIMEOUT_MS if its
// commit is in doubt), and a 2XX only for a payment that is committed:
//   - committed: 202 (or 200 for a duplicate, 409 for the same id with another amount);
//   - not sent before the deadline, or refused by the server: 503, nothing was written;
//   - in doubt (sent, no answer: the connection broke or the server stalled): on another
//     connection, look up which of the batch's payments exist and answer those 2XX. If even that
//     fails in time, answer 503 and WITHDRAW them as soon as the database is back (store.h:
//     compensate), so that no processor ever holds a payment whose client was told it failed.
#pragma once
#include <atomic>
#include <memory>
#include <mutex>
#include <vector>

#include "engine/config.h"
#include "engine/dispatcher.h"
#include "engine/payment_request.h"
#include "net/http_server.h"
#include "net/per_loop.h"

namespace engine {

class Ingress {
 public:
  Ingress(const Config& cfg, Dispatcher& dispatcher);
  ~Ingress();
  // Opens each HTTP loop's database connections, on that loop. After server.start().
  void start(net::HttpServer& server);
  // Closes them, on their loops. Before server.stop().
  void stop(net::HttpServer& server);

  // HTTP loop thread only.
  void submit(const PaymentRequest& p, net::Responder r, SteadyClock::time_point arrived);
  // Thread-safe: every HTTP loop has a database connection up.
  bool ready() const { return loops_up_.load(std::memory_order_relaxed) == cfg_.http_threads; }

 private:
  struct Item {
    PaymentRequest payment;
    net::Responder responder;
    SteadyClock::time_point arrived;
  };
  struct Batch;
  struct LoopState;
  void flush(LoopState& st);
  void on_committed(LoopState& st, std::shared_ptr<Batch> b, net::PgReply&& r);
  void resolve(LoopState& st, std::shared_ptr<Batch> b, std::vector<size_t> which, bool in_doubt);
  void answer(Batch& b, size_t unique_index, int status);
  void withdraw(LoopState& st);

  const Config& cfg_;
  Dispatcher& dispatcher_;
  net::PerLoop<LoopState> loops_;
  std::atomic<int> loops_up_{0};
};

}  // namespace engine
