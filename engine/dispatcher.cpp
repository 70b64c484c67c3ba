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

const char* state_name(int s) {
  static const char* names[] = {"queued", "routing", "in_flight", "unknown", "recording"};
  return names[s];
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// The state machine. Every change of a payment's state is made here, and only here.

void Dispatcher::transition(Job& j, const Event& e) {
  const auto now = SteadyClock::now();
  if (e.kind == Ev::lease_lost) return drop(j);  // whoever leased it since settles it
  switch (j.state) {
    case State::queued:
      if (e.kind == Ev::taken) {
        ready_.push_back(j.payment.correlation_id);
        return;
      }
      if (e.kind == Ev::taken_over) {
        // Its previous holder may have sent it to X up to the moment its lease ran out, which is
        // no later than now: settle it on X, with the horizon counted from now.
        j.processor = e.processor;
        j.state = State::unknown;
        j.unknown_base = now;
        ++unknown_count_;
        return schedule_resend(j, std::chrono::milliseconds(0));
      }
      if (e.kind == Ev::route) {
        // Already durably routed to X and the lease still ours: nothing to write before sending.
        if (j.processor == e.processor && now < j.lease_until) return send(j, State::in_flight);
        // Otherwise "in flight on X" is written (and the lease proved) before the first byte goes to X.
        j.state = State::routing;
        j.target = e.processor;
        ++routing_[j.target];
        recorder_->route({j.payment.correlation_id, j.lease, j.target, j.requested_at_ms, j.gen});
        return;
      }
      break;

    case State::routing:
      if (e.kind == Ev::route_written) {
        --routing_[j.target];
        j.processor = j.target;
        j.lease_until = e.at + cfg_.lease - cfg_.lease_margin();
        if (stopping_) return requeue(j, std::chrono::milliseconds(0));  // stop() gives it back
        return send(j, State::in_flight);
      }
      if (e.kind == Ev::route_failed) {
        --routing_[j.target];
        if (j.probe) proc_[j.target].probe_in_flight = j.probe = false;
        j.processor = kRouteUnknown;  // it may or may not have been written: write again before any send
        return requeue(j, Config::route_retry.after(j.tries++));
      }
      break;

    case State::in_flight:
      if (e.kind == Ev::stored) {
        j.state = State::recording;
        recorder_->record({j.payment.correlation_id, j.lease, j.processor, j.payment.amount_cents,
                           e.requested_at_ms, e.answered_ms, j.gen});
        return;
      }
      if (e.kind == Ev::not_stored)  // this send was the only one to X, and X did not take it
        return requeue(j, Config::refused_retry.after(j.tries++));
      if (e.kind == Ev::no_answer) {
        j.state = State::unknown;
        j.unknown_base = e.at;
        ++unknown_count_;
        recorder_->mark_unknown(j.payment.correlation_id, j.requested_at_ms, true);
        return schedule_resend(j, Config::unknown_first_resend);
      }
      break;

    case State::unknown:
      if (e.kind == Ev::resend_due) {
        if (j.sending || j.looking_up || stopping_) return;  // their answers come first
        // Only X's own answer settles it. After the horizon no send to X can still land, so a
        // lookup is conclusive; before it, a re-send with the same requestedAt is (200 or 422).
        if (now - j.unknown_base >= cfg_.unknown_horizon) return look_up(j);
        if (now < j.lease_until) return send(j, State::unknown);
        return schedule_resend(j, cfg_.tick);  // the lease is being renewed
      }
      if (e.kind == Ev::stored) {
        --unknown_count_;
        j.state = State::recording;
        recorder_->record({j.payment.correlation_id, j.lease, j.processor, j.payment.amount_cents,
                           e.requested_at_ms, e.answered_ms, j.gen});
        return;
      }
      if (e.kind == Ev::not_stored)  // a 500 says nothing of earlier sends: still unknown
        return schedule_resend(j, Config::unknown_retry.after(j.tries++));
      if (e.kind == Ev::no_answer) {
        j.unknown_base = std::max(j.unknown_base, e.at);  // the horizon runs from the LAST unanswered send
        return schedule_resend(j, Config::unknown_retry.after(j.tries++));
      }
      if (e.kind == Ev::not_held) {
        --unknown_count_;
        log_event("info", "payment not held by its processor past the horizon: routing it again",
                  to_view(j.payment.correlation_id));
        recorder_->mark_unknown(j.payment.correlation_id, j.requested_at_ms, false);
        j.tries = 0;
        j.avoid = j.processor;  // X timed out on it and holds nothing: the other one if it can take it
        return requeue(j, std::chrono::milliseconds(0));  // same requestedAt, any processor
      }
      break;

    case State::recording:
      if (e.kind == Ev::recorded) {
        metrics().processed.fetch_add(1, std::memory_order_relaxed);
        return drop(j);
      }
      break;
  }
  // Nothing else can happen to a payment in this state (for example a routing round for a payment
  // already routed): a reviewer's assertion, logged rather than acted on.
  log_event("warn", "event ignored", fmt::format("{} in state {}", static_cast<int>(e.kind), state_name(static_cast<int>(j.state))));
}

// ---------------------------------------------------------------------------------------------
// Actions of the state machine.

void Dispatcher::send(Job& j, State as) {
  j.state = as;
  j.sending = true;
  const bool probe = j.probe;
  j.probe = false;
  const Processor p = static_cast<Processor>(j.processor);
  char ts[25];
  format_iso8601_ms(j.requested_at_ms, ts);
  char amount[24];
  size_t n = money::format_cents(j.payment.amount_cents, amount);
  auto body = fmt::format(R"({{"correlationId":"{}","amount":{},"requestedAt":"{}"}})", to_view(j.payment.correlation_id),
                          std::string_view(amount, n), std::string_view(ts, 24));
  ProcessorState& ps = proc_[p];
  ++ps.in_flight;
  uint64_t slot = in_flight_[p].push(loop_->now());
  metrics().in_flight[p].store(ps.in_flight, std::memory_order_relaxed);
  // start_by: the request is never written after our lease may have passed to someone else.
  client_->request(endpoint_[p], "POST", "/payments", body, {}, cfg_.request_timeout, j.lease_until,
                   [this, cid = j.payment.correlation_id, gen = j.gen, p, probe, slot](net::ClientResult&& r) {
                     in_flight_[p].finish(slot);
                     on_post_result(cid, gen, p, probe, std::move(r));
                   });
}

void Dispatcher::requeue(Job& j, std::chrono::milliseconds after) {
  j.state = State::queued;
  if (after.count() == 0) {
    ready_.push_back(j.payment.correlation_id);
    return;
  }
  loop_->add_timer(after, [this, cid = j.payment.correlation_id, gen = j.gen] {
    if (Job* k = find(cid, gen); k && k->state == State::queued) {
      ready_.push_back(cid);
      pump();
    }
  });
}

void Dispatcher::schedule_resend(Job& j, std::chrono::milliseconds after) {
  if (j.resend_scheduled) return;
  j.resend_scheduled = true;
  loop_->add_timer(after, [this, cid = j.payment.correlation_id, gen = j.gen] {
    if (Job* k = find(cid, gen)) {
      k->resend_scheduled = false;
      transition(*k, {Ev::resend_due});
    }
  });
}

void Dispatcher::look_up(Job& j) {
  j.looking_up = true;
  client_->request(endpoint_[j.processor], "GET", fmt::format("/payments/{}", to_view(j.payment.correlation_id)), {},
                   {}, cfg_.request_timeout,
                   [this, cid = j.payment.correlation_id, gen = j.gen](net::ClientResult&& r) {
                     on_lookup_result(cid, gen, std::move(r));
                   });
}

void Dispatcher::drop(Job& j) {
  if (j.state == State::routing) --routing_[j.target];
  if (j.probe && j.target >= 0) proc_[j.target].probe_in_flight = false;
  if (j.state == State::unknown) --unknown_count_;
  jobs_.erase(j.payment.correlation_id);
  owned_.fetch_sub(1, std::memory_order_relaxed);
}

// ---------------------------------------------------------------------------------------------
// Events from outside: the ingress, the processors, the recorder.

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

Dispatcher::Dispatcher(const Config& cfg) : cfg_(cfg) {
  policy_.max_latency = cfg.max_latency;
  for (int p = 0; p < 2; ++p) endpoint_[p] = net::Endpoint::parse(cfg.processor_url[p]);
}

Dispatcher::~Dispatcher() {
  if (client_) {
    // Not closed: main is unwinding an exception, and the loop may still run (its timers hold
    // `this`) or be gone already. The process is ending: leave the connections to it.
    (void)reconciler_.release();
    (void)client_.release();
    (void)recorder_.release();
  }
  for (auto& t : resolver_)
    if (t.joinable()) t.join();
}

void Dispatcher::start(net::EventLoop& loop) {
  loop_ = &loop;
  loop.run_and_wait([this] {
    net::HttpClient::Options opt;
    opt.max_connections = static_cast<size_t>(cfg_.processor_max_conns);
    client_ = std::make_unique<net::HttpClient>(*loop_, opt);
    recorder_ = std::make_unique<Recorder>(*loop_, cfg_);
    recorder_->on_route = [this](const Recorder::Route& r, Recorder::Outcome o, SteadyClock::time_point t) {
      on_route_result(r, o, t);
    };
    recorder_->on_renew = [this](const Recorder::Renew& r, Recorder::Outcome o, SteadyClock::time_point t) {
      on_renew_result(r, o, t);
    };
    recorder_->on_record = [this](const Recorder::Record& r, Recorder::Outcome o) { on_record_result(r, o); };
    recorder_->db().on_state = [this](bool up) { db_ready_ = up; };
    reconciler_ = std::make_unique<Reconciler>(cfg_, *loop_, recorder_->db(), *client_, endpoint_);
    recorder_->start();
    publish_hint();  // the ingress routes its first payments with it
    loop_->add_timer(cfg_.tick, [this] { tick(); });
  });
  started_ = true;
}

void Dispatcher::close() {
  // After the loop stopped, its timers and callbacks never run again: only the connections are
  // left, and a resolver that may still post to the loop (which main destroys next).
  for (auto& t : resolver_)
    if (t.joinable()) t.join();
  reconciler_.reset();
  client_.reset();
  recorder_.reset();
}

bool Dispatcher::busy() const {
  for (const auto& [cid, j] : jobs_)
    if (j.sending || j.looking_up || j.state == State::routing || j.state == State::recording) return true;
  return !recorder_->idle();
}

void Dispatcher::release_all(bool only_queued) {
  std::vector<CorrelationId> gone;
  for (auto& [cid, j] : jobs_) {
    if (only_queued && j.state != State::queued) continue;
    if (j.sending || j.looking_up || j.state == State::routing || j.state == State::recording) continue;
    recorder_->release({cid, j.lease, j.gen});
    gone.push_back(cid);
  }
  for (const auto& cid : gone) drop(jobs_.at(cid));
}

void Dispatcher::stop(std::chrono::milliseconds drain) {
  if (!started_.exchange(false)) return;
  // Queued payments go back to the queue now, so another instance takes them at once.
  loop_->post([this] {
    stopping_ = true;
    release_all(true);
  });
  auto ask_busy = [this] {
    std::atomic<int> answer{-1};
    loop_->post([&] { answer = busy() ? 1 : 0; });
    while (answer < 0) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    return answer == 1;
  };
  auto deadline = SteadyClock::now() + drain;
  while (SteadyClock::now() < deadline && ask_busy()) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  // What is left (unknown outcomes, answers not back) is given back too: whoever takes it over
  // resolves it on its processor, counting the horizon from then.
  loop_->post([this] { release_all(false); });
  deadline = SteadyClock::now() + Config::dispatcher_release_wait;
  while (SteadyClock::now() < deadline && ask_busy()) std::this_thread::sleep_for(std::chrono::milliseconds(20));
}

void Dispatcher::reconcile(std::optional<int64_t> from_ms, std::optional<int64_t> to_ms, net::Responder r,
                           SteadyClock::time_point arrived) {
  if (!started_) {  // not on a loop (yet, or any more): nothing would ever answer
    r.send(503, R"({"error":"starting or stopping"})");
    return count_request(kReconcile, 503, arrived);
  }
  loop_->post([this, from_ms, to_ms, r = std::move(r), arrived]() mutable {
    if (reconciler_) reconciler_->on_demand(from_ms, to_ms, std::move(r), arrived);
  });
}

int Dispatcher::reserve(int n) {
  int64_t cur = owned_.load(std::memory_order_relaxed);
  for (;;) {
    int64_t k = std::min<int64_t>(n, cfg_.dispatcher_max_payments - cur);
    if (k <= 0) return 0;
    if (owned_.compare_exchange_weak(cur, cur + k, std::memory_order_relaxed)) return static_cast<int>(k);
  }
}

void Dispatcher::unreserve(int n) {
  if (n > 0) owned_.fetch_sub(n, std::memory_order_relaxed);
}

Dispatcher::Job* Dispatcher::find(const CorrelationId& cid, uint32_t gen) {
  auto it = jobs_.find(cid);
  if (it == jobs_.end() || (gen != 0 && it->second.gen != gen)) return nullptr;
  return &it->second;
}

Dispatcher::Job& Dispatcher::take(const PaymentRequest& p, int64_t requested_at_ms, pgq::Lease lease,
                                  SteadyClock::time_point lease_until) {
  Job j;
  j.payment = p;
  j.requested_at_ms = requested_at_ms;
  j.lease = lease;
  j.lease_until = lease_until;
  j.gen = next_gen_++;
  if (next_gen_ == 0) next_gen_ = 1;
  return jobs_.emplace(p.correlation_id, j).first->second;
}

void Dispatcher::submit(std::vector<Fresh> fresh) {
  loop_->post([this, fresh = std::move(fresh)]() mutable {
    for (auto& f : fresh) {
      if (stopping_ || jobs_.count(f.payment.correlation_id)) {
        // Stopping: the lease runs out and another instance adopts it. (A payment cannot be fresh twice.)
        unreserve(1);
        continue;
      }
      Job& j = take(f.payment, f.requested_at_ms, {f.msg_id, 0}, f.lease_until);
      j.processor = f.processor;  // we know it was never sent: routed, not in flight
      transition(j, {Ev::taken});
    }
    pump();
  });
}

Decision Dispatcher::decide() {
  for (int p = 0; p < 2; ++p) proc_[p].oldest_in_flight = in_flight_[p].oldest();
  return route(proc_[kDefault], proc_[kFallback], policy_, loop_->now());
}

void Dispatcher::publish_hint() {
  Decision d = decide();
  route_hint_.store(d.send ? static_cast<int>(d.processor) : -1, std::memory_order_relaxed);
}

void Dispatcher::pump() {
  if (!stopping_) {
    auto now = loop_->now();
    while (!ready_.empty()) {
      Job* j = find(ready_.front(), 0);
      if (!j || j->state != State::queued) {
        ready_.pop_front();
        continue;
      }
      Decision d = decide();
      if (!d.send) {  // neither processor can take it now: the tick tries again
        metrics().holds.fetch_add(1, std::memory_order_relaxed);
        break;
      }
      if (d.processor == j->avoid) {
        // Otherwise a payment that timed out on a half-open X would be X's next probe, and its
        // next, for as long as X keeps timing out.
        const auto other = static_cast<Processor>(1 - d.processor);
        if (available(proc_[other], policy_, now) &&
            proc_[other].in_flight + routing_[other] < cfg_.processor_max_in_flight)
          d = {true, other, Reason::avoid_last};
      }
      j->avoid = -1;
      ProcessorState& ps = proc_[d.processor];
      if (ps.in_flight + routing_[d.processor] >= cfg_.processor_max_in_flight) break;  // wait for answers
      const bool probe = circuit_state(ps, now) == 2;
      ready_.pop_front();
      metrics().routed[d.processor][static_cast<int>(d.reason)].fetch_add(1, std::memory_order_relaxed);
      if (probe) {  // one payment tests a half-open circuit; the rest wait for its answer
        ps.probe_in_flight = true;
        j->probe = true;
        j->target = d.processor;
      }
      transition(*j, {Ev::route, d.processor});
    }
  }
  publish_hint();
}

void Dispatcher::on_post_result(const CorrelationId& cid, uint32_t gen, Processor p, bool probe,
                                net::ClientResult&& r) {
  auto now = loop_->now();
  ProcessorState& ps = proc_[p];
  --ps.in_flight;
  metrics().in_flight[p].store(ps.in_flight, std::memory_order_relaxed);
  if (probe) ps.probe_in_flight = false;
  auto& res = metrics().results[p];
  const bool ok = r.error == net::ClientError::none;
  const bool stored = ok && (r.status == 200 || r.status == 422);
  // Not processed: the processor said so (500, 429), or never saw a byte of it.
  const bool refused = (ok && (r.status == 500 || r.status == 429)) || r.error == net::ClientError::connect_failed;
  if (stored) {
    double ms = std::chrono::duration<double, std::milli>(r.latency()).count();
    on_success(ps, ms, now);
    connect_failures_[p] = 0;
    metrics().processor_latency[p].observe(r.latency());
    metrics().latency_ewma_ms[p].store(static_cast<int64_t>(ps.latency_ewma_ms), std::memory_order_relaxed);
    res[r.status == 200 ? kOk : kDuplicate].fetch_add(1, std::memory_order_relaxed);
  } else if (r.error == net::ClientError::expired) {
    res[kExpired].fetch_add(1, std::memory_order_relaxed);  // our lease, not the processor's fault
  } else {
    on_failure(ps, policy_, now);
    if (r.error == net::ClientError::connect_failed) note_connect_failure(p);
    res[refused ? (r.status == 429 ? kRejected : kFailed) : ok ? kUnexpected : kUnknown].fetch_add(
        1, std::memory_order_relaxed);
  }
  metrics().circuit[p].store(circuit_state(ps, now), std::memory_order_relaxed);
  if (Job* j = find(cid, gen)) {
    j->sending = false;
    if (stored) {
      transition(*j, {Ev::stored, p, now, j->requested_at_ms, now_epoch_ms()});
    } else if (refused || r.error == net::ClientError::expired) {
      transition(*j, {Ev::not_stored, p});
    } else if (ok) {
      // Any other status (400, 404...): the processor refused the request itself; nothing was stored.
      log_event("warn", "unexpected processor status", fmt::format("{} {}", r.status, r.body.substr(0, 200)));
      transition(*j, {Ev::not_stored, p});
    } else {
      transition(*j, {Ev::no_answer, p, r.write_started});
    }
  }
  pump();
}

void Dispatcher::on_lookup_result(const CorrelationId& cid, uint32_t gen, net::ClientResult&& r) {
  Job* j = find(cid, gen);
  if (!j) return;
  j->looking_up = false;
  if (r.error == net::ClientError::none && r.status == 200) {
    if (auto req = requested_at_of(r.body)) {
      // One requestedAt per payment: the processor must hold ours. Its own is what its summary uses.
      if (*req != j->requested_at_ms)
        log_event("error", "processor holds another requestedAt than ours", fmt::format("{} {} {}", to_view(cid), *req, j->requested_at_ms));
      transition(*j, {Ev::stored, j->processor, loop_->now(), *req, now_epoch_ms()});
      pump();
      return;
    }
  }
  if (r.error == net::ClientError::none && r.status == 404) {
    transition(*j, {Ev::not_held});
    pump();
    return;
  }
  schedule_resend(*j, Config::lookup_retry);
}

void Dispatcher::on_route_result(const Recorder::Route& r, Recorder::Outcome o, SteadyClock::time_point issued) {
  Job* j = find(r.cid, r.gen);
  if (!j || j->state != State::routing) return;
  if (j->lease.read_ct != r.lease.read_ct) o = Recorder::Outcome::failed;  // re-leased by us meanwhile: write again
  switch (o) {
    case Recorder::Outcome::done: transition(*j, {Ev::route_written, r.processor, issued}); break;
    case Recorder::Outcome::lost:
      metrics().lost_leases.fetch_add(1, std::memory_order_relaxed);
      transition(*j, {Ev::lease_lost});
      break;
    case Recorder::Outcome::failed: transition(*j, {Ev::route_failed}); break;
  }
  pump();
}

void Dispatcher::on_renew_result(const Recorder::Renew& r, Recorder::Outcome o, SteadyClock::time_point issued) {
  Job* j = find(r.cid, r.gen);
  if (!j) return;
  j->renewing = false;
  if (j->lease.read_ct != r.lease.read_ct) return;  // re-leased by us meanwhile: that lease counts
  if (o == Recorder::Outcome::done) {
    j->lease_until = std::max(j->lease_until, issued + cfg_.lease - cfg_.lease_margin());
  } else if (o == Recorder::Outcome::lost) {
    metrics().lost_leases.fetch_add(1, std::memory_order_relaxed);
    transition(*j, {Ev::lease_lost});
  }
}

void Dispatcher::on_record_result(const Recorder::Record& r, Recorder::Outcome o) {
  Job* j = find(r.cid, r.gen);
  if (!j || j->state != State::recording) return;
  if (o == Recorder::Outcome::lost && j->lease.read_ct != r.lease.read_ct) {
    // Re-leased by us meanwhile (the old token is dead, the new one ours): record with it.
    recorder_->record({r.cid, j->lease, r.processor, r.cents, r.requested_at_ms, r.answered_ms, r.gen});
    return;
  }
  if (o == Recorder::Outcome::lost) {
    // Taken over while the record was pending: the new holder re-sends it to the same processor
    // with the same requestedAt, gets a 422, and records it.
    metrics().lost_leases.fetch_add(1, std::memory_order_relaxed);
    transition(*j, {Ev::lease_lost});
    return;
  }
  transition(*j, {Ev::recorded});
}

void Dispatcher::note_connect_failure(Processor p) {
  // A processor that keeps refusing connections may have moved (a container restarted with a new
  // address): resolve its host name again, off the loop, at most every Config::resolve_every.
  if (++connect_failures_[p] < Config::resolve_after_refusals || resolving_[p] ||
      loop_->now() - last_resolve_[p] < Config::resolve_every)
    return;
  last_resolve_[p] = loop_->now();
  if (resolver_[p].joinable()) resolver_[p].join();  // finished: resolving_ is false
  resolving_[p] = true;
  resolver_[p] = std::thread([this, p, url = cfg_.processor_url[p]] {
    std::optional<net::Endpoint> ep;
    try {
      ep = net::Endpoint::parse(url);
    } catch (const std::exception& e) {
      log_event("warn", "processor address not resolved", e.what());
    }
    loop_->post([this, p, ep = std::move(ep)] {
      resolving_[p] = false;
      if (!ep || ep->pool_key == endpoint_[p].pool_key) return;
      log_event("info", "processor address changed", fmt::format("{} {}", processor_name(p), cfg_.processor_url[p]));
      endpoint_[p] = *ep;
      connect_failures_[p] = 0;
    });
  });
}

}  // namespace engine
