#include "engine/ingress.h"

#include <unordered_map>

#include "engine/log.h"
#include "engine/metrics.h"

namespace engine {
namespace {

struct CidHash {
  size_t operator()(const CorrelationId& c) const { return std::hash<std::string_view>{}(to_view(c)); }
};

constexpr const char* kBodyAccepted = R"({"status":"accepted"})";
constexpr const char* kBodyDuplicate = R"({"status":"already accepted"})";
constexpr const char* kBodyConflict =
    R"({"error":"correlationId already used with a different amount","field":"correlationId"})";
constexpr const char* kBodyUnavailable = R"({"error":"payment not accepted: database unavailable, retry"})";

}  // namespace

Ingress::Ingress(const Config& cfg, Dispatcher& dispatcher) : cfg_(cfg), dispatcher_(dispatcher) {}

Ingress::~Ingress() { stop(); }

void Ingress::start() { thread_ = std::thread([this] { run(); }); }

void Ingress::stop() {
  stopping_ = true;
  if (thread_.joinable()) thread_.join();
}

void Ingress::submit(const PaymentRequest& p, net::Responder r, SteadyClock::time_point arrived) {
  metrics().ingress_backlog.fetch_add(1, std::memory_order_relaxed);
  queue_.enqueue(Item{p, std::move(r), arrived});
}

void Ingress::run() {
  store::Session db(cfg_.database_url);
  std::vector<Item> items(static_cast<size_t>(cfg_.ingress_batch_max));
  std::vector<Item> batch;
  for (;;) {
    size_t n = queue_.wait_dequeue_bulk_timed(items.begin(), items.size(), std::chrono::milliseconds(50));
    if (n == 0) {
      if (stopping_) return;
      continue;
    }
    metrics().ingress_backlog.fetch_sub(static_cast<int64_t>(n), std::memory_order_relaxed);
    batch.assign(std::make_move_iterator(items.begin()), std::make_move_iterator(items.begin() + n));
    try {
      store::BusyScope busy;
      commit_batch(batch, db.conn(), db.queue());
    } catch (const std::exception& e) {
      // Nothing of this batch is accepted (or, after an in-doubt commit, it may be: then a retry
      // by the client is answered as a duplicate and the lease hands the payment to a dispatcher).
      log_event("error", "ingress commit failed", e.what());
      auto now = SteadyClock::now();
      for (auto& it : batch) {
        it.responder.send(503, kBodyUnavailable);
        count_request(kPostPayments, 503, std::chrono::duration_cast<std::chrono::microseconds>(now - it.arrived).count());
      }
      db.reset();
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
}

void Ingress::commit_batch(std::vector<Item>& items, pqxx::connection& conn, pgq::Queue& queue) {
  // The same id twice in one batch: the statement sees it once; the repeat is answered from the first.
  std::unordered_map<CorrelationId, size_t, CidHash> first;
  std::vector<PaymentRequest> unique;
  std::vector<size_t> slot(items.size());
  for (size_t i = 0; i < items.size(); ++i) {
    auto [it, inserted] = first.emplace(items[i].payment.correlation_id, unique.size());
    if (inserted) unique.push_back(items[i].payment);
    slot[i] = it->second;
  }
  auto accepted = store::accept(conn, queue, unique, cfg_.lease);
  metrics().ingress_batches.fetch_add(1, std::memory_order_relaxed);

  std::vector<NewPayment> fresh;
  std::vector<bool> answered_as_new(unique.size(), false);
  auto now = SteadyClock::now();
  for (size_t i = 0; i < items.size(); ++i) {
    const store::Accepted& a = accepted[slot[i]];
    int status;
    const char* body;
    if (items[i].payment.amount_cents != unique[slot[i]].amount_cents || a.outcome == store::Acceptance::conflict) {
      status = 409;
      body = kBodyConflict;
    } else if (a.outcome == store::Acceptance::created && !answered_as_new[slot[i]]) {
      answered_as_new[slot[i]] = true;
      fresh.push_back({unique[slot[i]], a.msg_id});
      status = 202;
      body = kBodyAccepted;
    } else {
      status = 200;
      body = kBodyDuplicate;
    }
    items[i].responder.send(status, body);
    count_request(kPostPayments, status,
                  std::chrono::duration_cast<std::chrono::microseconds>(now - items[i].arrived).count());
  }
  if (!fresh.empty()) dispatcher_.submit(std::move(fresh));
}

}  // namespace engine
