// GET /payments-summary, GET /payments/{id} and POST /purge-payments: served on the HTTP loop that read them, over
// that loop's own asynchronous connection, so they never queue behind a payment's commit nor
// block the loop. Every answer within SUMMARY_TIMEOUT_MS (503 otherwise).
#pragma once
#include <memory>
#include <optional>
#include <vector>

#include "engine/config.h"
#include "engine/router.h"
#include "net/http_server.h"
#include "net/per_loop.h"
#include "net/pg_client.h"

namespace engine {

struct Summary {
  int64_t requests[2] = {0, 0};
  int64_t cents[2] = {0, 0};
};
// {"default":{"totalRequests":N,"totalAmount":X.YY},"fallback":{...}}
std::string summary_json(const Summary& s);

// A payment's state for GET /payments/{id}, as PostgreSQL knows it (any instance answers alike).
struct PaymentStatus {
  int64_t cents = 0;
  int64_t accepted_ms = 0, requested_ms = 0;
  int routed_to = -1;  // -1: not yet
  bool unknown = false;
  int processed_by = -1;  // -1: not processed
  int64_t processed_ms = 0;
};
// {"correlationId","state":"queued"|"in_flight"|"unknown"|"processed","processor","amount",
//  "acceptedAt","requestedAt","processedAt"}: processor null while queued, processedAt only once processed.
std::string status_json(std::string_view cid, const PaymentStatus& s);

class SummaryService {
 public:
  explicit SummaryService(const Config& cfg);
  ~SummaryService();
  void start(net::HttpServer& server);  // after server.start(): a connection per loop, on it
  void stop(net::HttpServer& server);   // before server.stop()
  bool ready() const;

  // HTTP loop thread. Bounds are inclusive epoch ms; nullopt = unbounded.
  void summary(std::optional<int64_t> from_ms, std::optional<int64_t> to_ms, net::Responder r,
               SteadyClock::time_point arrived);
  void purge(net::Responder r, SteadyClock::time_point arrived);
  void status(std::string cid, net::Responder r, SteadyClock::time_point arrived);

 private:
  struct LoopState;
  struct Request;
  void wait_in_flight(LoopState& st, std::shared_ptr<Request> req);
  void run_summary(LoopState& st, std::shared_ptr<Request> req);

  const Config& cfg_;
  net::PerLoop<LoopState> loops_;
};

}  // namespace engine
