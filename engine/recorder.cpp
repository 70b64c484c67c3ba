#include "engine/recorder.h"

#include <fmt/format.h>

#include <unordered_map>
#include <unordered_set>

#include "engine/log.h"
#include "engine/metrics.h"
#include "engine/store.h"

namespace engine {
namespace {

template <class T>
std::vector<T> take(std::vector<T>& pending) {
  std::vector<T> out;
  if (pending.size() <= Config::record_batch_max) {
    out.swap(pending);
  } else {
    out.assign(pending.begin(), pending.begin() + Config::record_batch_max);
    pending.erase(pending.begin(), pending.begin() + Config::record_batch_max);
  }
  return out;
}

// One field of every item, as the array a statement takes.
template <class T, class F>
auto each(const std::vector<T>& v, F&& field) {
  std::vector<std::decay_t<decltype(field(v.front()))>> out;
  out.reserve(v.size());
  for (const auto& x : v) out.push_back(field(x));
  return out;
}
template <class T>
std::vector<int64_t> lease_ids(const std::vector<T>& v) {
  return each(v, [](const T& x) { return static_cast<int64_t>(x.lease.msg_id); });
}
template <class T>
std::vector<int64_t> lease_cts(const std::vector<T>& v) {
  return each(v, [](const T& x) { return static_cast<int64_t>(x.lease.read_ct); });
}
template <class T>
std::vector<CorrelationId> cids(const std::vector<T>& v) {
  return each(v, [](const T& x) { return x.cid; });
}

std::unordered_set<int64_t> returned_ids(const net::PgResult& r) {
  std::unordered_set<int64_t> s;
  for (int i = 0; i < r.rows(); ++i) s.insert(r.int64(i, 0));
  return s;
}

// Per item of a fenced write: done if its message is among those the statement changed (still
// ours), lost if not, failed if the statement did not go through.
template <class T, class F>
void each_outcome(const net::PgReply& rep, const std::vector<T>& items, F&& fn) {
  auto ours = returned_ids(rep.result);
  for (const auto& x : items)
    fn(x, rep.status != net::PgStatus::ok       ? Recorder::Outcome::failed
          : ours.count(x.lease.msg_id) ? Recorder::Outcome::done
                                       : Recorder::Outcome::lost);
}

void count_db_error(const net::PgReply& r, const char* what) {
  metrics().db_errors.fetch_add(1, std::memory_order_relaxed);
  log_event("warn", fmt::format("{} not written", what), fmt::format("{}: {}", to_string(r.status), r.error));
}

}  // namespace

Recorder::Recorder(net::EventLoop& loop, const Config& cfg) : loop_(loop), cfg_(cfg) {
  durable_ = std::make_unique<net::PgConn>(
      loop, store::connection(cfg, "dispatcher", true, cfg.db_statement_timeout, store::dispatcher_statements()));
  relaxed_ = std::make_unique<net::PgConn>(
      loop, store::connection(cfg, "recorder", false, cfg.db_statement_timeout, store::recorder_statements()));
}

Recorder::~Recorder() = default;

void Recorder::start() {
  durable_->start();
  relaxed_->start();
}

net::Clock::time_point Recorder::deadline() const { return net::Clock::now() + cfg_.db_statement_timeout; }

size_t Recorder::backlog() const {
  return routes_.pending.size() + renewals_.pending.size() + releases_.pending.size() + records_.pending.size();
}

bool Recorder::idle() const {
  return backlog() == 0 && !routes_.in_flight && !renewals_.in_flight && !releases_.in_flight &&
         !records_.in_flight && !record_timer_;
}

void Recorder::route(Route r) {
  routes_.pending.push_back(r);
  flush_routes();
}

void Recorder::flush_routes() {
  if (routes_.in_flight || routes_.pending.empty()) return;
  routes_.in_flight = true;
  auto items = take(routes_.pending);
  std::vector<int64_t> procs, reqs;
  for (const auto& r : items) {
    procs.push_back(r.processor);
    reqs.push_back(r.requested_at_ms);
  }
  // Parameters first: the callback below takes `items` over (argument order is unspecified).
  std::vector<std::string> params{store::int_array(lease_ids(items)), store::int_array(lease_cts(items)),
                                  store::uuid_array(cids(items)), store::int_array(procs),
                                  std::to_string(cfg_.lease.count()), store::int_array(reqs)};
  auto issued = net::Clock::now();
  durable_->exec(store::kRoute, std::move(params), deadline(), [this, items = std::move(items), issued](net::PgReply&& rep) {
                   routes_.in_flight = false;
                   if (rep.status != net::PgStatus::ok) count_db_error(rep, "routes");
                   each_outcome(rep, items, [&](const Route& r, Outcome o) { on_route(r, o, issued); });
                   flush_routes();
                 });
}

void Recorder::renew(Renew r) {
  renewals_.pending.push_back(r);
  flush_renewals(renewals_, cfg_.lease);
}

void Recorder::release(Renew r) {
  releases_.pending.push_back(r);
  flush_renewals(releases_, std::chrono::milliseconds(0));
}

void Recorder::flush_renewals(Batch<Renew>& b, std::chrono::milliseconds vt) {
  if (b.in_flight || b.pending.empty()) return;
  b.in_flight = true;
  auto items = take(b.pending);
  std::vector<std::string> params{store::int_array(lease_ids(items)), store::int_array(lease_cts(items)),
                                  std::to_string(vt.count())};
  auto issued = net::Clock::now();
  const bool releasing = vt.count() == 0;
  durable_->exec(store::kRenew, std::move(params), deadline(),
                 [this, &b, vt, releasing, items = std::move(items), issued](net::PgReply&& rep) {
                   b.in_flight = false;
                   if (rep.status != net::PgStatus::ok) count_db_error(rep, releasing ? "releases" : "lease renewals");
                   if (!releasing)
                     each_outcome(rep, items, [&](const Renew& r, Outcome o) { on_renew(r, o, issued); });
                   flush_renewals(b, vt);
                 });
}

void Recorder::record(Record r) {
  records_.pending.push_back(r);
  schedule_records();
}

void Recorder::schedule_records() {
  if (records_.in_flight || record_timer_ || records_.pending.empty()) return;
  // Nothing here is on a client's path (the 2XX left at the ingress): gathering costs nothing,
  // and every statement saved leaves the database to the commits clients wait on. At most one
  // record statement per RECORDER_GATHER_MS, but the first after a quiet spell goes at once:
  // gathering after it instead would land it in the middle of some later accept's commit, which
  // it slows by ~0.15 ms at low rates (bench/README.md, "The recorder writes at once when quiet").
  const auto wait = last_records_ + cfg_.recorder_gather - net::Clock::now();
  if (wait <= net::Clock::duration::zero()) return flush_records();
  flush_records_after(std::chrono::ceil<std::chrono::milliseconds>(wait));
}

void Recorder::flush_records_after(std::chrono::milliseconds after) {
  record_timer_ = true;
  loop_.add_timer(after, [this] {
    record_timer_ = false;
    flush_records();
  });
}

void Recorder::flush_records() {
  if (records_.in_flight || records_.pending.empty()) return;
  records_.in_flight = true;
  last_records_ = net::Clock::now();
  auto items = take(records_.pending);
  std::vector<int64_t> procs, cents, reqs, answered;
  for (const auto& r : items) {
    procs.push_back(r.processor);
    cents.push_back(r.cents);
    reqs.push_back(r.requested_at_ms);
    answered.push_back(r.answered_ms);
  }
  // Parameters first: the callback below takes `items` over (argument order is unspecified).
  std::vector<std::string> params{store::int_array(lease_ids(items)), store::int_array(lease_cts(items)),
                                  store::uuid_array(cids(items)), store::int_array(procs), store::int_array(cents),
                                  store::int_array(reqs), store::int_array(answered)};
  relaxed_->exec(
      store::kRecord, std::move(params),
      deadline(), [this, items = std::move(items)](net::PgReply&& rep) mutable {
        records_.in_flight = false;
        if (rep.status != net::PgStatus::ok) {
          // Idempotent: whether or not it committed, the same write again settles it.
          count_db_error(rep, "records");
          records_.pending.insert(records_.pending.begin(), items.begin(), items.end());
          flush_records_after(Config::record_retry.after(record_failures_++));
          return;
        }
        record_failures_ = 0;
        std::unordered_map<int64_t, std::pair<bool, bool>> by_id;  // msg_id -> (ours, processed before)
        for (int i = 0; i < rep.result.rows(); ++i)
          by_id[rep.result.int64(i, 0)] = {rep.result.boolean(i, 1), rep.result.boolean(i, 2)};
        for (const auto& r : items) {
          auto [ours, before] = by_id[r.lease.msg_id];
          // Ours and already processed: someone recorded it while the lease was ours. Never expected.
          if (ours && before) metrics().recorded_twice.fetch_add(1, std::memory_order_relaxed);
          on_record(r, ours || before ? Outcome::done : Outcome::lost);
        }
        schedule_records();
      });
}

void Recorder::mark_unknown(const CorrelationId& cid, int64_t requested_at_ms, bool unknown) {
  marks_.pending.push_back({cid, requested_at_ms, unknown});
  flush_marks();
}

void Recorder::flush_marks() {
  if (marks_.in_flight || marks_.pending.empty()) return;
  marks_.in_flight = true;
  // One statement per value: those becoming unknown and those no longer so.
  const bool value = marks_.pending.front().unknown;
  std::vector<CorrelationId> ids;
  std::vector<int64_t> reqs;
  std::vector<Mark> rest;
  for (auto& m : marks_.pending) {
    if (m.unknown != value) {
      rest.push_back(m);
      continue;
    }
    ids.push_back(m.cid);
    reqs.push_back(m.requested_at_ms);
  }
  marks_.pending.swap(rest);
  durable_->exec(store::kMarkUnknown, {store::uuid_array(ids), value ? "true" : "false", store::int_array(reqs)},
                 deadline(), [this](net::PgReply&&) {
                   marks_.in_flight = false;
                   flush_marks();
                 });
}

}  // namespace engine
