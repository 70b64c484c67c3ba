#include "engine/dispatcher.h"

#include <fmt/format.h>
#include <simdjson.h>

#include <chrono>

#include "engine/log.h"
#include "engine/metrics.h"
#include "engine/money.h"
#include "engine/timefmt.h"

namespace engine {
namespace {

int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// At most this many requests in flight per processor from one instance: the processors answer 429
// beyond 800 in progress + 500 waiting, shared by both instances.
constexpr int64_t kMaxInFlightPerProcessor = 600;

std::chrono::milliseconds backoff(int tries, std::chrono::milliseconds base, std::chrono::milliseconds cap) {
  std::chrono::milliseconds d(base.count() << std::min(tries, 8));
  return std::min(d, cap);
}

// The processor's record of a payment (GET /payments/{id}): its requestedAt, or nullopt.
std::optional<int64_t> requested_at_of(std::string_view body) {
  simdjson::padded_string padded(body);
  simdjson::ondemand::parser parser;
  simdjson::ondemand::document doc;
  if (parser.iterate(padded).get(doc)) return std::nullopt;
  std::string_view ts;
  if (doc["requestedAt"].get_string().get(ts)) return std::nullopt;
  return parse_iso8601_ms(ts);
}

}  // namespace

uint64_t Dispatcher::InFlightLog::push(SteadyClock::time_point t) {
  entries.emplace_back(t, false);
  return base + entries.size() - 1;
}

void Dispatcher::InFlightLog::finish(uint64_t slot) {
  if (slot < base || slot - base >= entries.size()) return;
  entries[slot - base].second = true;
  while (!entries.empty() && entries.front().second) {
    entries.pop_front();
    ++base;
  }
}

SteadyClock::time_point Dispatcher::InFlightLog::oldest() const {
  return entries.empty() ? SteadyClock::time_point{} : entries.front().first;
}

Dispatcher::Dispatcher(const Config& cfg) : cfg_(cfg), recorder_(cfg.database_url, loop_, cfg.recorder_gather) {
  policy_.max_latency = cfg.max_latency;
  for (int p = 0; p < 2; ++p) endpoint_[p] = net::Endpoint::parse(cfg.processor_url[p]);
  net::HttpClient::Options opt;
  opt.max_connections = static_cast<size_t>(cfg.processor_max_conns);
  client_ = std::make_unique<net::HttpClient>(loop_, opt);
}

Dispatcher::~Dispatcher() {
  if (thread_.joinable()) stop(std::chrono::milliseconds(0));
}

void Dispatcher::start() {
  recorder_.start();
  thread_ = std::thread([this] {
    loop_.add_timer(cfg_.tick, [this] { tick(); });
    loop_.run();
    client_.reset();  // on the loop thread, after the loop stopped: pending callbacks are dropped
  });
}

void Dispatcher::stop(std::chrono::milliseconds drain) {
  if (!thread_.joinable()) return;
  loop_.post([this] {
    stopping_ = true;
    // Queued payments go back to the queue now, so another instance takes them at once.
    std::vector<int64_t> give_back;
    for (auto& [cid, j] : jobs_)
      if (j.state == State::queued || j.state == State::held) give_back.push_back(j.msg_id);
    if (!give_back.empty()) recorder_.set_leases(std::move(give_back), std::chrono::milliseconds(0));
  });
  auto deadline = SteadyClock::now() + drain;
  while (SteadyClock::now() < deadline) {
    std::atomic<bool> busy{true};
    std::atomic<bool> answered{false};
    loop_.post([&] {
      bool b = false;
      for (auto& [cid, j] : jobs_)
        if (j.state == State::routing || j.state == State::in_flight || j.state == State::recording) b = true;
      busy = b;
      answered = true;
    });
    while (!answered) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    if (!busy) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  loop_.stop();
  thread_.join();
  recorder_.stop();
}

void Dispatcher::submit(std::vector<NewPayment> fresh) {
  loop_.post([this, fresh = std::move(fresh)]() mutable {
    auto lease_until = loop_.now() + cfg_.lease;
    for (auto& n : fresh) {
      Job j;
      j.payment = n.payment;
      j.msg_id = n.msg_id;
      j.lease_until = lease_until;
      take(std::move(j));
    }
    pump();
  });
}

void Dispatcher::adopt(std::vector<store::Adopted> adopted) {
  loop_.post([this, adopted = std::move(adopted)]() mutable {
    auto now = loop_.now();
    for (auto& a : adopted) {
      if (jobs_.count(a.payment.correlation_id)) continue;  // ours already (the read renewed its lease)
      Job j;
      j.payment = a.payment;
      j.msg_id = a.msg_id;
      j.lease_until = now + cfg_.lease;
      metrics().adopted.fetch_add(1, std::memory_order_relaxed);
      if (a.has_attempt) {
        // Whoever held it may have sent it to a.processor: resolve it there, with the same requestedAt.
        j.processor = a.processor;
        j.requested_at_ms = a.requested_at_ms;
        j.first_sent = now - std::chrono::milliseconds(a.attempt_age_ms);
        auto [it, ok] = jobs_.emplace(j.payment.correlation_id, j);
        become_unknown(it->second);
        loop_.add_timer(std::chrono::milliseconds(0), [this, cid = j.payment.correlation_id] { retry_unknown(cid); });
        continue;
      }
      take(std::move(j));
    }
    pump();
  });
}

void Dispatcher::health(const store::HealthRow rows[2]) {
  store::HealthRow copy[2] = {rows[0], rows[1]};
  loop_.post([this, copy0 = copy[0], copy1 = copy[1]] {
    auto now = loop_.now();
    const store::HealthRow* r[2] = {&copy0, &copy1};
    for (int p = 0; p < 2; ++p) {
      if (!r[p]->known) continue;
      on_health(proc_[p], policy_, r[p]->failing, r[p]->min_response_ms, now - std::chrono::milliseconds(r[p]->age_ms),
                now);
      metrics().health_failing[p].store(r[p]->failing, std::memory_order_relaxed);
      metrics().health_min_response_ms[p].store(r[p]->min_response_ms, std::memory_order_relaxed);
    }
    pump();
  });
}

Dispatcher::Job* Dispatcher::find(const CorrelationId& cid) {
  auto it = jobs_.find(cid);
  return it == jobs_.end() ? nullptr : &it->second;
}

void Dispatcher::take(Job job) {
  auto cid = job.payment.correlation_id;
  auto [it, inserted] = jobs_.emplace(cid, std::move(job));
  if (!inserted) return;
  it->second.state = State::queued;
  ready_.push_back(cid);
}

void Dispatcher::pump() {
  if (stopping_) return;
  auto now = loop_.now();
  std::vector<store::Attempt> attempts;
  std::vector<std::pair<CorrelationId, bool>> routed;  // (cid, probe)
  while (!ready_.empty()) {
    Job* j = find(ready_.front());
    if (!j || j->state != State::queued) {
      ready_.pop_front();
      continue;
    }
    for (int p = 0; p < 2; ++p) proc_[p].oldest_in_flight = in_flight_[p].oldest();
    Decision d = route(proc_[kDefault], proc_[kFallback], policy_, now);
    if (!d.send) {
      // Neither processor can take it now: the tick tries again.
      metrics().holds.fetch_add(1, std::memory_order_relaxed);
      j->state = State::held;
      ready_.pop_front();
      continue;
    }
    ProcessorState& ps = proc_[d.processor];
    if (ps.in_flight + reserved_[d.processor] >= kMaxInFlightPerProcessor) break;  // wait for answers
    bool probe = circuit_state(ps, now) == 2;
    if (probe) ps.probe_in_flight = true;
    ready_.pop_front();
    metrics().routed[d.processor][static_cast<int>(d.reason)].fetch_add(1, std::memory_order_relaxed);
    j->state = State::routing;
    j->processor = d.processor;
    j->requested_at_ms = wall_ms();
    ++reserved_[d.processor];
    attempts.push_back({j->payment.correlation_id, d.processor, j->requested_at_ms});
    routed.emplace_back(j->payment.correlation_id, probe);
  }
  if (attempts.empty()) return;
  // The attempt rows must be durable before the first byte goes out (see dispatcher.h).
  recorder_.write_attempts(std::move(attempts), [this, routed = std::move(routed)](std::vector<bool> exists) {
    for (size_t i = 0; i < routed.size(); ++i) {
      Job* j = find(routed[i].first);
      if (!j) continue;
      --reserved_[j->processor];
      if (!exists[i]) {  // purged while we held it: nothing to pay
        jobs_.erase(routed[i].first);
        continue;
      }
      j->first_sent = loop_.now();
      send(*j, routed[i].second);
    }
  });
}

void Dispatcher::send(Job& j, bool probe) {
  char ts[25];
  format_iso8601_ms(j.requested_at_ms, ts);
  char amount[24];
  size_t n = money::format_cents(j.payment.amount_cents, amount);
  auto body = fmt::format(R"({{"correlationId":"{}","amount":{},"requestedAt":"{}"}})", to_view(j.payment.correlation_id),
                          std::string_view(amount, n), std::string_view(ts, 24));
  j.state = j.state == State::unknown ? State::unknown : State::in_flight;
  ProcessorState& ps = proc_[j.processor];
  ++ps.in_flight;
  uint64_t slot = in_flight_[j.processor].push(loop_.now());
  metrics().in_flight[j.processor].store(ps.in_flight, std::memory_order_relaxed);
  client_->request(endpoint_[j.processor], "POST", "/payments", body, {}, cfg_.request_timeout,
                   [this, cid = j.payment.correlation_id, p = j.processor, probe, slot](net::ClientResult&& r) {
                     in_flight_[p].finish(slot);
                     on_post_result(cid, p, probe, std::move(r));
                   });
}

void Dispatcher::on_post_result(const CorrelationId& cid, Processor p, bool probe, net::ClientResult&& r) {
  auto now = loop_.now();
  ProcessorState& ps = proc_[p];
  --ps.in_flight;
  metrics().in_flight[p].store(ps.in_flight, std::memory_order_relaxed);
  Job* j = find(cid);
  if (probe) ps.probe_in_flight = false;
  auto& res = metrics().results[p];
  const bool processed = r.error == net::ClientError::none && (r.status == 200 || r.status == 422);
  const bool not_processed = (r.error == net::ClientError::none && (r.status == 500 || r.status == 429)) ||
                             r.error == net::ClientError::connect_failed;
  if (processed) {
    double ms = std::chrono::duration<double, std::milli>(r.latency()).count();
    on_success(ps, ms, now);
    metrics().processor_latency[p].observe_us(static_cast<int64_t>(ms * 1000));
    metrics().latency_ewma_ms[p].store(static_cast<int64_t>(ps.latency_ewma_ms), std::memory_order_relaxed);
    res[r.status == 200 ? kOk : kDuplicate].fetch_add(1, std::memory_order_relaxed);
  } else {
    on_failure(ps, policy_, now);
    res[not_processed ? (r.status == 429 ? kRejected : kFailed) : r.error == net::ClientError::none ? kUnexpected : kUnknown]
        .fetch_add(1, std::memory_order_relaxed);
  }
  metrics().circuit[p].store(circuit_state(ps, now), std::memory_order_relaxed);
  if (!j) {
    pump();
    return;
  }
  if (processed) {
    finish(*j, j->requested_at_ms);
  } else if (j->state == State::unknown) {
    // A re-send of an unknown payment: a 500 proves nothing (a failing processor answers 500 even
    // for a payment it holds), so it stays unknown on p.
    j->tries++;
    loop_.add_timer(backoff(j->tries, std::chrono::milliseconds(100), std::chrono::milliseconds(5000)),
                    [this, cid] { retry_unknown(cid); });
  } else if (not_processed) {
    requeue(*j, backoff(j->tries++, std::chrono::milliseconds(10), std::chrono::milliseconds(1000)));
  } else if (r.error == net::ClientError::none) {
    // Any other status (400, 404...): the processor refused the request itself; nothing was stored.
    log_event("warn", "unexpected processor status", fmt::format("{} {}", r.status, r.body.substr(0, 200)));
    requeue(*j, backoff(j->tries++, std::chrono::milliseconds(100), std::chrono::milliseconds(5000)));
  } else {
    become_unknown(*j);
    loop_.add_timer(backoff(0, std::chrono::milliseconds(100), std::chrono::milliseconds(5000)),
                    [this, cid] { retry_unknown(cid); });
  }
  pump();
}

void Dispatcher::requeue(Job& j, std::chrono::milliseconds after) {
  j.state = State::queued;
  loop_.add_timer(after, [this, cid = j.payment.correlation_id] {
    if (Job* k = find(cid); k && k->state == State::queued) {
      ready_.push_back(cid);
      pump();
    }
  });
}

void Dispatcher::become_unknown(Job& j) {
  if (j.state != State::unknown) ++unknown_count_;
  j.state = State::unknown;
  metrics().unknown.store(unknown_count_, std::memory_order_relaxed);
}

void Dispatcher::retry_unknown(const CorrelationId& cid) {
  Job* j = find(cid);
  if (!j || j->state != State::unknown || stopping_) return;
  if (loop_.now() - j->first_sent >= cfg_.unknown_horizon) {
    // Long enough that no earlier send can still be pending at the processor: its answer decides.
    client_->request(endpoint_[j->processor], "GET", fmt::format("/payments/{}", to_view(cid)), {}, {},
                     cfg_.request_timeout, [this, cid](net::ClientResult&& r) { on_lookup_result(cid, std::move(r)); });
    return;
  }
  send(*j, false);  // same processor, same requestedAt: 200 or 422 both settle it
}

void Dispatcher::on_lookup_result(const CorrelationId& cid, net::ClientResult&& r) {
  Job* j = find(cid);
  if (!j || j->state != State::unknown) return;
  if (r.error == net::ClientError::none && r.status == 200) {
    if (auto req = requested_at_of(r.body)) {
      finish(*j, *req);  // the processor's own requestedAt is the one its summary uses
      return;
    }
  }
  if (r.error == net::ClientError::none && r.status == 404) {
    --unknown_count_;
    metrics().unknown.store(unknown_count_, std::memory_order_relaxed);
    log_event("info", "unknown payment not held by the processor: routing it again", to_view(cid));
    j->tries = 0;
    requeue(*j, std::chrono::milliseconds(0));
    return;
  }
  loop_.add_timer(std::chrono::milliseconds(1000), [this, cid] { retry_unknown(cid); });
}

void Dispatcher::finish(Job& j, int64_t requested_at_ms) {
  if (j.state == State::unknown) {
    --unknown_count_;
    metrics().unknown.store(unknown_count_, std::memory_order_relaxed);
  }
  j.state = State::recording;
  pending_done_.push_back({j.payment.correlation_id, j.processor, j.payment.amount_cents, requested_at_ms, j.msg_id});
  if (!flush_scheduled_) {
    flush_scheduled_ = true;
    loop_.post([this] { flush_done(); });  // after this batch of answers: one transaction for all
  }
}

void Dispatcher::flush_done() {
  flush_scheduled_ = false;
  if (pending_done_.empty()) return;
  std::vector<CorrelationId> cids;
  for (const auto& d : pending_done_) cids.push_back(d.cid);
  size_t n = pending_done_.size();
  recorder_.record_done(std::move(pending_done_), [this, cids = std::move(cids), n] {
    for (const auto& c : cids) jobs_.erase(c);
    metrics().processed.fetch_add(n, std::memory_order_relaxed);
  });
  pending_done_.clear();
}

void Dispatcher::tick() {
  auto now = loop_.now();
  // Held payments get another routing round.
  for (auto& [cid, j] : jobs_)
    if (j.state == State::held) {
      j.state = State::queued;
      ready_.push_back(cid);
    }
  // Renew the leases of payments we hold before anyone may think us dead.
  std::vector<int64_t> renew;
  for (auto& [cid, j] : jobs_)
    if (j.lease_until - now < cfg_.lease / 2) {
      renew.push_back(j.msg_id);
      j.lease_until = now + cfg_.lease;
    }
  if (!renew.empty()) recorder_.set_leases(std::move(renew), cfg_.lease);
  pump();
  publish_gauges();
  loop_.add_timer(cfg_.tick, [this] { tick(); });
}

void Dispatcher::publish_gauges() {
  auto& m = metrics();
  int64_t held = 0;
  for (auto& [cid, j] : jobs_) held += j.state == State::held;
  m.owned.store(static_cast<int64_t>(jobs_.size()), std::memory_order_relaxed);
  m.held.store(held, std::memory_order_relaxed);
  m.recorder_backlog.store(static_cast<int64_t>(recorder_.backlog()), std::memory_order_relaxed);
  auto now = loop_.now();
  for (int p = 0; p < 2; ++p) m.circuit[p].store(circuit_state(proc_[p], now), std::memory_order_relaxed);
}

}  // namespace engine
