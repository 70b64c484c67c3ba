#include "engine/ingress.h"

#include <fmt/format.h>

#include <random>
#include <unordered_map>

#include "engine/log.h"
#include "engine/metrics.h"
#include "engine/store.h"
#include "engine/timefmt.h"

namespace engine {
namespace {

constexpr const char* kBodyAccepted = R"({"status":"accepted"})";
constexpr const char* kBodyDuplicate = R"({"status":"already accepted"})";
constexpr const char* kBodyConflict =
    R"({"error":"correlationId already used with a different amount","field":"correlationId"})";
constexpr const char* kBodyUnavailable = R"({"error":"payment not accepted: database unavailable, retry"})";

}  // namespace

// One group commit: the requests it answers, and the distinct payments it writes.
struct Ingress::Batch {
  std::vector<Item> items;
  std::vector<PaymentRequest> unique;  // what the statement writes, in order
  std::vector<size_t> slot;            // items[i] is unique[slot[i]]
  std::unordered_map<CorrelationId, size_t, CorrelationIdHash> index;  // unique[index[id]] has that id
  std::vector<int> status;             // per unique payment, once known (0: not yet)
  int reserved = 0;                    // the first `reserved` payments are leased to our dispatcher
  int route = -1;
  int64_t requested_at_ms = 0;
  int64_t token = 0;
  int backend_pid = 0;  // where an in-doubt accept ran
  std::string session;
  SteadyClock::time_point sent{};
  SteadyClock::time_point oldest{};
};

struct Ingress::LoopState {
  net::EventLoop* loop = nullptr;
  std::vector<std::unique_ptr<net::PgConn>> conns;
  int up = 0;
  std::vector<Item> pending;
  bool flush_posted = false;
  std::mt19937_64 rng{std::random_device{}()};
  // In-doubt accepts answered 503, withdrawn once the database answers again.
  struct Withdrawal {
    std::vector<CorrelationId> ids;
    int64_t token;
    int64_t requested_at_ms;  // tells the partition
    int backend_pid;
    std::string session;
  };
  std::vector<Withdrawal> withdrawals;
  bool withdrawing = false;
};

Ingress::Ingress(const Config& cfg, Dispatcher& dispatcher) : cfg_(cfg), dispatcher_(dispatcher) {}

Ingress::~Ingress() = default;

void Ingress::start(net::HttpServer& server) {
  loops_.start(server, [this](net::EventLoop& loop, LoopState& st) {
    st.loop = &loop;
    auto o = store::connection(cfg_, "ingress", true, cfg_.db_statement_timeout, store::ingress_statements());
    for (int c = 0; c < cfg_.ingress_db_connections; ++c) {
      auto conn = std::make_unique<net::PgConn>(loop, o);
      conn->on_state = [this, &st](bool up) {
        metrics().db_connections.fetch_add(up ? 1 : -1, std::memory_order_relaxed);
        int before = st.up;
        st.up += up ? 1 : -1;
        if (before == 0 && st.up > 0) loops_up_.fetch_add(1, std::memory_order_relaxed);
        if (before > 0 && st.up == 0) loops_up_.fetch_sub(1, std::memory_order_relaxed);
        if (up) withdraw(st);
      };
      conn->start();
      st.conns.push_back(std::move(conn));
    }
  });
}

void Ingress::stop(net::HttpServer&) {
  loops_.each_on_loop([](LoopState& st) { st.conns.clear(); });
}

void Ingress::submit(const PaymentRequest& p, net::Responder r, SteadyClock::time_point arrived) {
  LoopState* st = loops_.find(r.loop());
  if (!st || st->conns.empty()) {  // stopping
    r.send(503, kBodyUnavailable);
    count_request(kPostPayments, 503, arrived);
    return;
  }
  st->pending.push_back(Item{p, std::move(r), arrived});
  metrics().ingress_backlog.fetch_add(1, std::memory_order_relaxed);
  if (!st->flush_posted) {
    st->flush_posted = true;
    st->loop->post([this, st] { flush(*st); });  // after this round's events: one commit for all of them
  }
}

void Ingress::flush(LoopState& st) {
  st.flush_posted = false;
  while (!st.pending.empty() && !st.conns.empty()) {
    // A free connection that is up; when none is up, the first one (it queues the batch until it
    // reconnects or the batch's deadline passes); when all that are up are busy, the next
    // commit's answer flushes again.
    net::PgConn* conn = nullptr;
    bool any_up = false;
    for (auto& c : st.conns) {
      any_up = any_up || c->ready();
      if (c->ready() && c->pending() == 0) {
        conn = c.get();
        break;
      }
    }
    if (!conn && any_up) return;
    if (!conn) conn = st.conns.front().get();

    auto b = std::make_shared<Batch>();
    size_t n = std::min(st.pending.size(), static_cast<size_t>(cfg_.ingress_batch_max));
    b->items.assign(std::make_move_iterator(st.pending.begin()), std::make_move_iterator(st.pending.begin() + n));
    st.pending.erase(st.pending.begin(), st.pending.begin() + n);
    metrics().ingress_backlog.fetch_sub(static_cast<int64_t>(n), std::memory_order_relaxed);
    // The same id twice in one batch: the statement writes it once; the repeat gets the same answer.
    b->slot.resize(n);
    b->oldest = b->items.front().arrived;
    for (size_t i = 0; i < n; ++i) {
      auto [it, inserted] = b->index.emplace(b->items[i].payment.correlation_id, b->unique.size());
      if (inserted) b->unique.push_back(b->items[i].payment);
      b->slot[i] = it->second;
      b->oldest = std::min(b->oldest, b->items[i].arrived);
    }
    b->status.assign(b->unique.size(), 0);
    // The payments our dispatcher has room for are leased to it, routed where it would send them
    // now; the others are left visible in the queue for whichever instance has room.
    b->reserved = dispatcher_.reserve(static_cast<int>(b->unique.size()));
    b->route = dispatcher_.route_hint();
    b->requested_at_ms = now_epoch_ms();
    b->token = static_cast<int64_t>(st.rng() >> 1);
    std::vector<CorrelationId> ids;
    std::vector<int64_t> cents, vt, route;
    for (size_t i = 0; i < b->unique.size(); ++i) {
      ids.push_back(b->unique[i].correlation_id);
      cents.push_back(b->unique[i].amount_cents);
      const bool ours = static_cast<int>(i) < b->reserved;
      vt.push_back(ours ? cfg_.lease.count() : 0);
      route.push_back(ours ? b->route : -1);
    }
    // One payment, the common case, goes as scalars to the statement made for it (store.cpp).
    const bool one = ids.size() == 1;
    std::vector<std::string> params =
        one ? std::vector<std::string>{std::string(to_view(ids[0])), std::to_string(cents[0]),
                                       std::to_string(b->requested_at_ms), std::to_string(vt[0]),
                                       std::to_string(route[0]), std::to_string(b->token)}
            : std::vector<std::string>{store::uuid_array(ids), store::int_array(cents),
                                       std::to_string(b->requested_at_ms), store::int_array(vt),
                                       store::int_array(route), std::to_string(b->token)};
    b->sent = SteadyClock::now();  // the lease runs from before the statement: never longer than the database's
    metrics().ingress_batches.fetch_add(1, std::memory_order_relaxed);
    conn->exec(one ? store::kAcceptOne : store::kAccept, std::move(params), b->oldest + cfg_.ingress_commit_timeout,
               [this, &st, b](net::PgReply&& r) { on_committed(st, b, std::move(r)); });
  }
}

void Ingress::answer(Batch& b, size_t u, int status) {
  b.status[u] = status;
  bool first = true;
  for (size_t i = 0; i < b.items.size(); ++i) {
    if (b.slot[i] != u) continue;
    // A repeat inside the batch gets the answer a later request would get: a duplicate of the
    // new payment, or a conflict if it carries another amount.
    int s = status;
    if (status != 503 && b.items[i].payment.amount_cents != b.unique[u].amount_cents) {
      s = 409;
    } else if (status == 202) {
      s = first ? 202 : 200;
      first = false;
    }
    const char* body = s == 202 ? kBodyAccepted : s == 200 ? kBodyDuplicate : s == 409 ? kBodyConflict : kBodyUnavailable;
    b.items[i].responder.send(s, body);
    count_request(kPostPayments, s, b.items[i].arrived);
  }
}

void Ingress::on_committed(LoopState& st, std::shared_ptr<Batch> b, net::PgReply&& r) {
  if (r.status == net::PgStatus::ok) {
    auto& m = metrics();
    for (const auto& it : b->items)
      m.ingress_phase[Metrics::kQueued].observe(r.sent - it.arrived);
    m.ingress_phase[Metrics::kCommit].observe(r.done - r.sent);
  }
  switch (r.status) {
    case net::PgStatus::ok: {
      // The answers go out first, then the dispatcher gets the new payments: on this loop (the
      // first one; see Dispatcher::start) its sends leave after this round's answers.
      std::vector<Fresh> fresh;
      const auto lease_until = b->sent + cfg_.lease - cfg_.lease_margin();
      for (int row = 0; row < r.result.rows(); ++row) {  // one per payment created: its message
        CorrelationId cid{};
        auto it = parse_uuid(r.result.text(row, 1).substr(0, 36), cid) ? b->index.find(cid) : b->index.end();
        if (it == b->index.end()) continue;  // cannot be: the statement writes only the batch's ids
        const size_t u = it->second;
        b->status[u] = 202;
        if (static_cast<int>(u) < b->reserved)
          fresh.push_back({b->unique[u], r.result.int64(row, 0), b->requested_at_ms, b->route, lease_until});
      }
      // Not created: a duplicate, a conflict, or yesterday's; kLookup tells which.
      std::vector<size_t> unclear;
      for (size_t u = 0; u < b->unique.size(); ++u) {
        if (b->status[u]) answer(*b, u, 202);
        else unclear.push_back(u);
      }
      metrics().ingress_phase[Metrics::kAnswered].observe(SteadyClock::now() - r.done);
      dispatcher_.unreserve(b->reserved - static_cast<int>(fresh.size()));
      if (!fresh.empty()) dispatcher_.submit(std::move(fresh));
      if (!unclear.empty()) resolve(st, b, std::move(unclear), false);
      break;
    }
    case net::PgStatus::in_doubt: {
      // It may have committed: find out before answering (see ingress.h).
      metrics().db_errors.fetch_add(1, std::memory_order_relaxed);
      log_event("warn", "ingress commit in doubt, looking it up", r.error);
      b->backend_pid = r.backend_pid;
      b->session = r.session;
      std::vector<size_t> all(b->unique.size());
      for (size_t u = 0; u < all.size(); ++u) all[u] = u;
      resolve(st, b, std::move(all), true);
      break;
    }
    case net::PgStatus::not_sent:
    case net::PgStatus::failed:
      // Nothing of it was written.
      metrics().db_errors.fetch_add(1, std::memory_order_relaxed);
      if (r.status == net::PgStatus::failed) log_event("error", "ingress commit failed", r.error);
      for (size_t u = 0; u < b->unique.size(); ++u) answer(*b, u, 503);
      dispatcher_.unreserve(b->reserved);
      break;
  }
  flush(st);
}

void Ingress::resolve(LoopState& st, std::shared_ptr<Batch> b, std::vector<size_t> which, bool in_doubt) {
  net::PgConn* conn = nullptr;
  for (auto& c : st.conns)
    if (c->ready()) {
      conn = c.get();
      break;
    }
  if (!conn && !st.conns.empty()) conn = st.conns.front().get();  // it may reconnect in time
  auto give_up = [this, &st, b, which, in_doubt] {
    std::vector<CorrelationId> ids;
    for (size_t u : which) {
      answer(*b, u, 503);
      ids.push_back(b->unique[u].correlation_id);
    }
    if (!in_doubt) return;
    dispatcher_.unreserve(b->reserved);
    log_event("error", "ingress commit still in doubt: answered 503, to be withdrawn", std::to_string(ids.size()));
    st.withdrawals.push_back({std::move(ids), b->token, b->requested_at_ms, b->backend_pid, b->session});
    withdraw(st);
  };
  if (!conn) return give_up();
  std::vector<CorrelationId> ids;
  std::vector<int64_t> cents;
  for (size_t u : which) {
    ids.push_back(b->unique[u].correlation_id);
    cents.push_back(b->unique[u].amount_cents);
  }
  const auto deadline = b->oldest + cfg_.ingress_commit_timeout + cfg_.ingress_lookup_timeout;
  // The in-doubt statement may still be running on its server process: end it first (the next
  // statement on this connection runs after), so that what the lookup sees is final.
  if (in_doubt)
    conn->exec(store::kEndSession,
               {std::to_string(b->backend_pid), b->session, std::to_string(cfg_.ingress_lookup_timeout.count())},
               deadline, [](net::PgReply&&) {});
  conn->exec(store::kLookup,
             {store::uuid_array(ids), std::to_string(b->token), std::to_string(b->requested_at_ms), store::int_array(cents)},
             deadline,
             [this, b, which, in_doubt, give_up](net::PgReply&& r) {
               if (r.status != net::PgStatus::ok) return give_up();
               struct Found {
                 int64_t cents;
                 bool ours;
                 int64_t msg_id;  // 0: no message left, or not ours to take
               };
               std::unordered_map<CorrelationId, Found, CorrelationIdHash> found;
               for (int i = 0; i < r.result.rows(); ++i) {
                 CorrelationId cid{};
                 parse_uuid(r.result.text(i, 0), cid);
                 // Our message, never read by anyone since: the lease from our accept is still ours.
                 const bool untouched = !r.result.null(i, 3) && r.result.int64(i, 4) == 0;
                 found[cid] = {r.result.int64(i, 1), r.result.boolean(i, 2), untouched ? r.result.int64(i, 3) : 0};
               }
               std::vector<Fresh> fresh;
               const auto lease_until = b->sent + cfg_.lease - cfg_.lease_margin();
               for (size_t u : which) {
                 auto it = found.find(b->unique[u].correlation_id);
                 if (it == found.end()) {
                   answer(*b, u, 503);  // not there: the batch did not commit (it is all or nothing)
                 } else if (it->second.cents != b->unique[u].amount_cents) {
                   answer(*b, u, 409);
                 } else if (it->second.ours) {
                   answer(*b, u, 202);
                   if (in_doubt && static_cast<int>(u) < b->reserved && it->second.msg_id)
                     fresh.push_back({b->unique[u], it->second.msg_id, b->requested_at_ms, b->route, lease_until});
                 } else {
                   answer(*b, u, 200);
                 }
               }
               if (in_doubt) dispatcher_.unreserve(b->reserved - static_cast<int>(fresh.size()));
               if (!fresh.empty()) dispatcher_.submit(std::move(fresh));
             });
}

void Ingress::withdraw(LoopState& st) {
  if (st.withdrawing || st.withdrawals.empty()) return;
  net::PgConn* conn = nullptr;
  for (auto& c : st.conns)
    if (c->ready()) {
      conn = c.get();
      break;
    }
  if (!conn) return;  // the next connection that comes up calls again
  st.withdrawing = true;
  const auto& w = st.withdrawals.front();
  conn->exec(store::kEndSession,
             {std::to_string(w.backend_pid), w.session, std::to_string(cfg_.db_statement_timeout.count() / 2)},
             SteadyClock::now() + cfg_.db_statement_timeout, [](net::PgReply&&) {});
  conn->exec(store::kCompensate, {store::uuid_array(w.ids), std::to_string(w.token), std::to_string(w.requested_at_ms)},
             SteadyClock::now() + cfg_.db_statement_timeout, [this, &st](net::PgReply&& r) {
               st.withdrawing = false;
               if (r.status != net::PgStatus::ok) {
                 st.loop->add_timer(Config::withdraw_retry, [this, &st] { withdraw(st); });
                 return;
               }
               const int64_t withdrawn = r.result.int64(0, 0), ours = r.result.int64(0, 1);
               metrics().withdrawn.fetch_add(static_cast<uint64_t>(withdrawn), std::memory_order_relaxed);
               metrics().withdraw_missed.fetch_add(static_cast<uint64_t>(ours - withdrawn), std::memory_order_relaxed);
               log_event(ours == withdrawn ? "info" : "error", "in-doubt accept settled",
                         fmt::format("{} committed, {} withdrawn, {} taken over before (processed although answered 503)",
                                     ours, withdrawn, ours - withdrawn));
               st.withdrawals.erase(st.withdrawals.begin());
               withdraw(st);
             });
}

}  // namespace engine
