#include "engine/ingress.h"

#include <thread>
#include <unordered_map>

#include "engine/log.h"
#include "engine/metrics.h"

namespace engine {
namespace {

constexpr const char* kBodyAccepted = R"({"status":"accepted"})";
constexpr const char* kBodyDuplicate = R"({"status":"already accepted"})";
constexpr const char* kBodyConflict =
    R"({"error":"correlationId already used with a different amount","field":"correlationId"})";
constexpr const char* kBodyUnavailable = R"({"error":"payment not accepted: database unavailable, retry"})";

}  // namespace

struct Ingress::LoopState {
  explicit LoopState(const std::string& url) : db(url) {}
  std::thread::id owner = std::this_thread::get_id();
  std::vector<Item> pending, batch;
  bool flush_posted = false;
  store::Session db;
};

Ingress::Ingress(const Config& cfg, Dispatcher& dispatcher) : cfg_(cfg), dispatcher_(dispatcher) {}

Ingress::~Ingress() = default;

Ingress::LoopState& Ingress::state_here() {
  // Each HTTP loop thread finds its own state; the lookup takes the lock only once per thread.
  thread_local LoopState* mine = nullptr;
  thread_local const Ingress* mine_for = nullptr;
  if (mine && mine_for == this) return *mine;
  std::lock_guard lk(states_mu_);
  states_.push_back(std::make_unique<LoopState>(cfg_.database_url));
  mine = states_.back().get();
  mine_for = this;
  return *mine;
}

void Ingress::submit(const PaymentRequest& p, net::Responder r, SteadyClock::time_point arrived) {
  LoopState& st = state_here();
  net::EventLoop* loop = r.loop();
  st.pending.push_back(Item{p, std::move(r), arrived});
  metrics().ingress_backlog.fetch_add(1, std::memory_order_relaxed);
  if (!st.flush_posted && loop) {
    st.flush_posted = true;
    loop->post([this, &st] { flush(st); });  // after this round's events: one commit for all of them
  }
}

void Ingress::flush(LoopState& st) {
  st.flush_posted = false;
  while (!st.pending.empty()) {
    size_t n = std::min(st.pending.size(), static_cast<size_t>(cfg_.ingress_batch_max));
    st.batch.assign(std::make_move_iterator(st.pending.begin()), std::make_move_iterator(st.pending.begin() + n));
    st.pending.erase(st.pending.begin(), st.pending.begin() + n);
    metrics().ingress_backlog.fetch_sub(static_cast<int64_t>(n), std::memory_order_relaxed);
    try {
      store::BusyScope busy;
      commit_batch(st.batch, st.db.conn());
    } catch (const std::exception& e) {
      // Nothing of this batch is accepted (or, if the connection broke after the statement ran,
      // it may be: a retry by the client is then answered as a duplicate, and the lease hands
      // the payment to a dispatcher).
      log_event("error", "ingress commit failed", e.what());
      for (auto& it : st.batch) {
        it.responder.send(503, kBodyUnavailable);
        count_request(kPostPayments, 503, it.arrived);
      }
      st.db.reset();
    }
    st.batch.clear();
  }
}

void Ingress::commit_batch(std::vector<Item>& items, pqxx::connection& conn) {
  // The same id twice in one batch: the statement sees it once; the repeat is answered from the first.
  std::unordered_map<CorrelationId, size_t, CorrelationIdHash> first;
  std::vector<PaymentRequest> unique;
  std::vector<size_t> slot(items.size());
  for (size_t i = 0; i < items.size(); ++i) {
    auto [it, inserted] = first.emplace(items[i].payment.correlation_id, unique.size());
    if (inserted) unique.push_back(items[i].payment);
    slot[i] = it->second;
  }
  auto accepted = store::accept(conn, unique, cfg_.lease);
  metrics().ingress_batches.fetch_add(1, std::memory_order_relaxed);

  std::vector<NewPayment> fresh;
  std::vector<bool> answered_as_new(unique.size(), false);
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
    count_request(kPostPayments, status, items[i].arrived);
  }
  if (!fresh.empty()) dispatcher_.submit(std::move(fresh));
}

}  // namespace engine
