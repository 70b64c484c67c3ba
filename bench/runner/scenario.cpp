#include "bench/runner/scenario.h"

#include <fmt/format.h>

#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <map>
#include <memory>
#include <mutex>
#include <thread>
#include <utility>

#include "bench/runner/prom_text.h"
#include "bench/runner/uuid.h"
#include "net/event_loop.h"
#include "net/http_client.h"
#include "engine/timefmt.h"

namespace scenario {

using namespace std::chrono_literals;
using net::Clock;

RunConfig config_for_preset(const std::string& name) {
  Preset p = preset(name);
  RunConfig c;
  c.preset = p.name;
  c.vus = p.vus;
  c.duration_s = p.duration_s;
  c.stages = p.stages;
  return c;
}

namespace {

enum class Outcome : uint8_t { ok, http_fail, timeout, connect_failed, disconnected, other };
enum class Kind : uint8_t { post, get };

// One finished request; kept compact (90,000 of them in a final run) and aggregated at the end.
struct Sample {
  uint32_t done_ms;     // since the start of the run
  uint32_t latency_us;  // first byte written .. last byte read
  Kind kind;
  Outcome outcome;
  bool first = false;  // a VU's first POST: it went out on a connection just opened
};

Outcome classify(const net::ClientResult& r) {
  switch (r.error) {
    case net::ClientError::none: return (r.status >= 200 && r.status < 300) ? Outcome::ok : Outcome::http_fail;
    case net::ClientError::timeout: return Outcome::timeout;
    case net::ClientError::connect_failed:
    case net::ClientError::expired: return Outcome::connect_failed;
    case net::ClientError::disconnected: return Outcome::disconnected;
    case net::ClientError::bad_response: return Outcome::other;
  }
  return Outcome::other;
}

Sample make_sample(const net::ClientResult& r, Clock::time_point start, Kind kind) {
  Sample s;
  s.done_ms = static_cast<uint32_t>(std::max<int64_t>(
      0, std::chrono::duration_cast<std::chrono::milliseconds>(r.completed - start).count()));
  s.latency_us = static_cast<uint32_t>(std::max<int64_t>(0, r.latency().count()));
  s.kind = kind;
  s.outcome = classify(r);
  return s;
}

std::chrono::milliseconds until(Clock::time_point at) {
  auto d = std::chrono::ceil<std::chrono::milliseconds>(at - Clock::now());
  return d.count() > 0 ? d : 0ms;
}

Clock::time_point at_offset(Clock::time_point start, double s) {
  return start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s));
}

// A set of virtual users on one event-loop thread. Each VU has its own keep-alive
// connection (its own pool), as k6 gives each VU its own.
class Worker {
 public:
  Worker(const RunConfig& cfg, std::vector<net::Endpoint> post_eps, Clock::time_point start,
         std::function<void()> drained)
      : cfg_(cfg), eps_(std::move(post_eps)), start_(start), drained_(std::move(drained)), client_(loop_, {1, 1000ms}) {}

  void add_vu(int id, double start_s) {
    Vu v;
    v.id = id;
    v.start_s = start_s;
    v.ep = eps_[static_cast<size_t>(id) % eps_.size()];
    v.ep.pool_key += "#vu" + std::to_string(id);
    vus_.push_back(std::move(v));
  }

  void start() {
    th_ = std::thread([this] {
      for (auto& v : vus_)
        v.timer = loop_.add_timer(until(at_offset(start_, v.start_s)), [this, vp = &v] {
          vp->timer = 0;
          iterate(*vp);
        });
      loop_.run();
    });
  }

  // Thread-safe: no new iterations; drained() once the last answer is in (k6's graceful stop).
  void request_stop() {
    loop_.post([this] {
      stopping_ = true;
      for (auto& v : vus_)
        if (v.timer) loop_.cancel_timer(std::exchange(v.timer, 0));
      maybe_drained();
    });
  }

  void join() {
    loop_.stop();
    if (th_.joinable()) th_.join();
  }

  // Successful POSTs' requestedAt (direct mode) with both ends inclusive.
  int64_t count_ok_between(int64_t from_ms, int64_t to_ms) {
    std::lock_guard lk(mu_);
    int64_t n = 0;
    for (int64_t t : ok_requested_at_) n += (t >= from_ms && t <= to_ms);
    return n;
  }

  std::vector<Sample> samples;  // read after join()
  std::atomic<int64_t> ok{0}, failed{0};

 private:
  struct Vu {
    int id = 0;
    double start_s = 0;
    net::Endpoint ep;
    net::EventLoop::TimerId timer = 0;
    int64_t answers = 0;
  };

  void iterate(Vu& v) {
    if (stopping_) return;
    char uuid[36];
    uuid_.next(uuid);
    body_.assign("{\"correlationId\":\"").append(uuid, 36).append("\",\"amount\":20.05");
    int64_t requested_at = 0;
    if (cfg_.direct) {
      requested_at = now_epoch_ms();
      char iso[25];
      timefmt::format_iso8601_ms(requested_at, iso);
      body_.append(",\"requestedAt\":\"").append(iso, 24).append("\"");
    }
    body_.append("}");
    client_.request(v.ep, "POST", "/payments", body_, {}, cfg_.http_timeout,
                    [this, vp = &v, requested_at](net::ClientResult&& r) { on_answer(*vp, r, requested_at); });
  }

  void on_answer(Vu& v, const net::ClientResult& r, int64_t requested_at) {
    Sample s = make_sample(r, start_, Kind::post);
    s.first = v.answers++ == 0;
    samples.push_back(s);
    if (s.outcome == Outcome::ok) {
      ok.fetch_add(1, std::memory_order_relaxed);
      if (cfg_.direct) {
        std::lock_guard lk(mu_);
        ok_requested_at_.push_back(requested_at);
      }
    } else {
      failed.fetch_add(1, std::memory_order_relaxed);
    }
    if (stopping_) {
      maybe_drained();
      return;
    }
    v.timer = loop_.add_timer(1000ms, [this, vp = &v] {  // k6: sleep(1) after every answer
      vp->timer = 0;
      iterate(*vp);
    });
  }

  void maybe_drained() {
    if (stopping_ && !drained_sent_ && client_.in_flight() == 0) {
      drained_sent_ = true;
      drained_();
    }
  }

  const RunConfig& cfg_;
  std::vector<net::Endpoint> eps_;
  Clock::time_point start_;
  std::function<void()> drained_;
  net::EventLoop loop_;
  net::HttpClient client_;
  std::vector<Vu> vus_;  // never resized after start(): callbacks hold pointers into it
  std::thread th_;
  UuidGen uuid_;
  std::string body_;
  bool stopping_ = false, drained_sent_ = false;
  std::mutex mu_;
  std::vector<int64_t> ok_requested_at_;
};

struct MetricsSample {
  std::optional<double> queue_depth, routed_default, routed_fallback;
};

// Everything on the main thread: set-up, stages, the consistency checker, /metrics sampling,
// the end of the run and the final summaries.
class Control {
 public:
  Control(const RunConfig& cfg, RunResult& res)
      : cfg_(cfg),
        res_(res),
        client_(loop_),
        target_(net::Endpoint::parse(cfg.target)),
        def_(net::Endpoint::parse(cfg.default_url)),
        fb_(net::Endpoint::parse(cfg.fallback_url)),
        admin_hdr_("X-Rinha-Token: " + cfg.token + "\r\n") {}

  void run() {
    setup();
    rusage ru0{};
    getrusage(RUSAGE_SELF, &ru0);
    start_ = Clock::now();
    const auto wall0 = Clock::now();
    std::vector<net::Endpoint> post_eps;
    if (!cfg_.direct)
      for (const auto& u : cfg_.post_targets) post_eps.push_back(net::Endpoint::parse(u));
    if (post_eps.empty()) post_eps.push_back(cfg_.direct ? def_ : target_);
    const int nthreads = std::max(1, cfg_.threads);
    for (int i = 0; i < nthreads; ++i)
      workers_.push_back(std::make_unique<Worker>(cfg_, post_eps, start_, [this] {
        loop_.post([this] {
          if (++drained_ == workers_.size()) on_all_drained();
        });
      }));
    for (int i = 0; i < cfg_.vus; ++i)
      workers_[i % nthreads]->add_vu(i, vu_start_s(i, cfg_.vus, cfg_.duration_s));
    for (auto& w : workers_) w->start();

    if (res_.cfg.stages)
      for (const Stage& s : res_.stages) loop_.add_timer(until(at_offset(start_, s.at_s)), [this, s] { apply_stage(s); });
    for (double t = cfg_.consistency_every_s; t < cfg_.duration_s; t += cfg_.consistency_every_s)
      loop_.add_timer(until(at_offset(start_, t)), [this] { check_consistency(); });
    if (!cfg_.direct) schedule_metrics(1);
    if (cfg_.progress)
      for (double t = 10; t < cfg_.duration_s; t += 10) loop_.add_timer(until(at_offset(start_, t)), [this] { progress(); });
    loop_.add_timer(until(at_offset(start_, cfg_.duration_s)), [this] {
      for (auto& w : workers_) w->request_stop();
    });
    loop_.run();

    for (auto& w : workers_) w->join();
    res_.wall_s = std::chrono::duration<double>(Clock::now() - wall0).count();
    rusage ru1{};
    getrusage(RUSAGE_SELF, &ru1);
    auto secs = [](const timeval& tv) { return static_cast<double>(tv.tv_sec) + tv.tv_usec / 1e6; };
    res_.cpu_s = secs(ru1.ru_utime) - secs(ru0.ru_utime) + secs(ru1.ru_stime) - secs(ru0.ru_stime);
    aggregate();
  }

 private:
  // Blocking call on the control loop; only while nothing else runs on it (set-up).
  net::ClientResult call(const net::Endpoint& ep, std::string_view method, std::string path, std::string body,
                         bool admin) {
    net::ClientResult out;
    client_.request(ep, method, path, body, admin ? admin_hdr_ : std::string(), 3000ms, [&](net::ClientResult&& r) {
      out = std::move(r);
      loop_.stop();
    });
    loop_.run();
    return out;
  }

  void expect_2xx(const net::ClientResult& r, const std::string& what) {
    if (r.error != net::ClientError::none || r.status < 200 || r.status >= 300)
      res_.warnings.push_back(what + " failed: " +
                              (r.error != net::ClientError::none ? std::string(net::to_string(r.error))
                                                                 : "HTTP " + std::to_string(r.status)));
  }

  void setup() {
    if (!cfg_.direct) expect_2xx(call(target_, "POST", "/purge-payments", "", true), "target POST /purge-payments");
    for (auto* ep : {&def_, &fb_}) {
      const std::string name = ep == &def_ ? "default" : "fallback";
      expect_2xx(call(*ep, "POST", "/admin/purge-payments", "", true), name + " purge");
      expect_2xx(call(*ep, "PUT", "/admin/configurations/delay", "{\"delay\":0}", true), name + " delay reset");
      expect_2xx(call(*ep, "PUT", "/admin/configurations/failure", "{\"failure\":false}", true), name + " failure reset");
    }
  }

  void admin_put(const net::Endpoint& ep, const std::string& path, std::string body, std::string what) {
    client_.request(ep, "PUT", path, body, admin_hdr_, 3000ms,
                    [this, what = std::move(what)](net::ClientResult&& r) { expect_2xx(r, what); });
  }

  void apply_stage(const Stage& s) {
    auto b = [](bool v) { return v ? "true" : "false"; };
    admin_put(def_, "/admin/configurations/delay", "{\"delay\":" + std::to_string(s.default_delay_ms) + "}", "stage delay");
    admin_put(def_, "/admin/configurations/failure", std::string("{\"failure\":") + b(s.default_failing) + "}", "stage failure");
    admin_put(fb_, "/admin/configurations/delay", "{\"delay\":" + std::to_string(s.fallback_delay_ms) + "}", "stage delay");
    admin_put(fb_, "/admin/configurations/failure", std::string("{\"failure\":") + b(s.fallback_failing) + "}", "stage failure");
  }

  struct Check {
    double at_s = 0;  // when it was asked, seconds into the run
    std::optional<EngineSummary> engine;
    std::optional<ProcessorTotals> def, fb;
    int64_t local_ok = 0;
    int pending = 0;
  };

  void check_consistency() {
    const int64_t now = now_epoch_ms();
    const std::string qs = "?from=" + timefmt::format_iso8601_ms(now - 15000) + "&to=" + timefmt::format_iso8601_ms(now - 2000);
    auto ck = std::make_shared<Check>();
    ck->at_s = std::chrono::duration<double>(Clock::now() - start_).count();
    ck->pending = cfg_.direct ? 2 : 3;
    if (cfg_.direct) {
      for (auto& w : workers_) ck->local_ok += w->count_ok_between(now - 15000, now - 2000);
    } else {
      client_.request(target_, "GET", "/payments-summary" + qs, {}, {}, cfg_.http_timeout, [this, ck](net::ClientResult&& r) {
        get_samples_.push_back(make_sample(r, start_, Kind::get));
        if (classify(r) == Outcome::ok) ck->engine = parse_engine_summary(r.body);
        finish_check(*ck);
      });
    }
    for (auto* ep : {&def_, &fb_})
      client_.request(*ep, "GET", "/admin/payments-summary" + qs, {}, admin_hdr_, 3000ms,
                      [this, ck, is_def = ep == &def_](net::ClientResult&& r) {
                        if (classify(r) == Outcome::ok) (is_def ? ck->def : ck->fb) = parse_admin_summary(r.body);
                        finish_check(*ck);
                      });
  }

  void finish_check(Check& ck) {
    if (--ck.pending > 0) return;
    if (!ck.def || !ck.fb || (!cfg_.direct && !ck.engine)) {
      // The challenge's checker fails on an unreadable summary too; we note it instead of guessing.
      res_.warnings.push_back("consistency check incomplete (a summary was not readable)");
      return;
    }
    ++res_.consistency_checks;
    int64_t diff;
    if (cfg_.direct) {
      diff = std::llabs(ck.local_ok - ck.def->total_requests) + std::llabs(ck.fb->total_requests);
    } else {
      diff = std::llabs(ck.engine->def.total_requests - ck.def->total_requests) +
             std::llabs(ck.engine->fb.total_requests - ck.fb->total_requests);
    }
    res_.inconsistencies += diff;
    if (diff > 0) {
      // Which check and which side: what a reader needs to find the payments behind it.
      auto what = fmt::format("inconsistent check at t={:.1f}s: engine default/fallback {}/{}, processors {}/{}",
                              ck.at_s,
                              cfg_.direct ? ck.local_ok : ck.engine->def.total_requests,
                              cfg_.direct ? 0 : ck.engine->fb.total_requests, ck.def->total_requests,
                              ck.fb->total_requests);
      std::fprintf(stderr, "[runner] %s\n", what.c_str());
      res_.warnings.push_back(what);
    }
  }

  void schedule_metrics(int second) {
    if (second > static_cast<int>(std::ceil(cfg_.duration_s)) || metrics_misses_ >= 3) return;
    loop_.add_timer(until(at_offset(start_, second)), [this, second] {
      client_.request(target_, "GET", "/metrics", {}, {}, 900ms, [this, second](net::ClientResult&& r) {
        if (classify(r) != Outcome::ok) {
          ++metrics_misses_;  // no /metrics on this target: stop asking after a few tries
          return;
        }
        metrics_misses_ = 0;
        MetricsSample m;
        m.queue_depth = prom_value(r.body, "payments_queue_depth");
        m.routed_default = prom_value(r.body, "payments_routed_total", "processor=\"default\"");
        m.routed_fallback = prom_value(r.body, "payments_routed_total", "processor=\"fallback\"");
        metrics_[second] = m;
      });
      schedule_metrics(second + 1);
    });
  }

  void progress() {
    int64_t ok = 0, failed = 0;
    for (auto& w : workers_) {
      ok += w->ok.load(std::memory_order_relaxed);
      failed += w->failed.load(std::memory_order_relaxed);
    }
    const double t = std::chrono::duration<double>(Clock::now() - start_).count();
    std::fprintf(stderr, "[runner] t=%3.0fs vus=%d ok=%lld failed=%lld inconsistencies=%lld\n", t,
                 vus_at(t, cfg_.vus, cfg_.duration_s), static_cast<long long>(ok), static_cast<long long>(failed),
                 static_cast<long long>(res_.inconsistencies));
  }

  void read_totals(std::function<void(std::optional<ProcessorTotals>, std::optional<ProcessorTotals>)> done) {
    struct Pair {
      std::optional<ProcessorTotals> d, f;
      int pending = 2;
    };
    auto pr = std::make_shared<Pair>();
    for (auto* ep : {&def_, &fb_})
      client_.request(*ep, "GET", "/admin/payments-summary", {}, admin_hdr_, 3000ms,
                      [pr, done, is_def = ep == &def_](net::ClientResult&& r) {
                        if (classify(r) == Outcome::ok) (is_def ? pr->d : pr->f) = parse_admin_summary(r.body);
                        if (--pr->pending == 0) done(pr->d, pr->f);
                      });
  }

  // The last VU's last answer is in: the challenge reads the summaries now, with no grace.
  void on_all_drained() {
    read_totals([this](auto d, auto f) {
      if (d && f) {
        res_.def = *d;
        res_.fb = *f;
        res_.summaries_ok = true;
      } else {
        res_.warnings.push_back("final admin summaries not readable");
      }
      loop_.add_timer(std::chrono::milliseconds(static_cast<int64_t>(cfg_.lag_recheck_s * 1000)), [this] {
        read_totals([this](auto d2, auto f2) {
          if (d2 && f2) recheck_held_ = d2->total_requests + f2->total_requests;
          loop_.stop();
        });
      });
    });
  }

  void aggregate() {
    std::vector<double> post_ok, get_ok, all_ok, first_ok;
    const int nsec = static_cast<int>(std::ceil(cfg_.duration_s)) + 3;
    std::vector<std::vector<double>> per_sec(nsec);
    res_.seconds.assign(nsec, {});
    for (int i = 0; i < nsec; ++i) {
      res_.seconds[i].second = i;
      res_.seconds[i].vus = i <= cfg_.duration_s ? vus_at(i, cfg_.vus, cfg_.duration_s) : 0;
    }
    auto take = [&](const Sample& s) {
      const double ms = s.latency_us / 1000.0;
      const bool ok = s.outcome == Outcome::ok;
      if (s.kind == Kind::get) {
        if (ok) get_ok.push_back(ms), all_ok.push_back(ms);
        return;
      }
      const int sec = std::min<int>(static_cast<int>(s.done_ms / 1000), nsec - 1);
      ++res_.seconds[sec].requests;
      if (ok) {
        ++res_.successes;
        post_ok.push_back(ms);
        all_ok.push_back(ms);
        if (s.first) first_ok.push_back(ms);
        per_sec[sec].push_back(ms);
        return;
      }
      ++res_.failures;
      ++res_.seconds[sec].failures;
      switch (s.outcome) {
        case Outcome::http_fail: ++res_.fail_http; break;
        case Outcome::timeout: ++res_.fail_timeout; break;
        case Outcome::connect_failed: ++res_.fail_connect; break;
        case Outcome::disconnected: ++res_.fail_disconnected; break;
        default: ++res_.fail_other; break;
      }
    };
    for (auto& w : workers_)
      for (const Sample& s : w->samples) take(s);
    for (const Sample& s : get_samples_) take(s);
    res_.post = summarize(post_ok);
    res_.get = summarize(get_ok);
    res_.all_ok = summarize(all_ok);
    res_.first_post = summarize(first_ok);  // sorts it
    res_.first_post_over_run_p99 = first_ok.end() - std::upper_bound(first_ok.begin(), first_ok.end(), res_.all_ok.p99);
    for (int i = 0; i < nsec; ++i) {
      auto& sec = per_sec[i];
      res_.seconds[i].p99_ms = summarize(sec).p99;  // sorts it
      res_.seconds[i].over_run_p99 = sec.end() - std::upper_bound(sec.begin(), sec.end(), res_.all_ok.p99);
      if (auto it = metrics_.find(i); it != metrics_.end()) {
        res_.seconds[i].queue_depth = it->second.queue_depth;
        res_.seconds[i].routed_default = it->second.routed_default;
        res_.seconds[i].routed_fallback = it->second.routed_fallback;
      }
    }
    if (res_.def.fee_micros < 0) res_.def.fee_micros = cfg_.fee_default_micros;
    if (res_.fb.fee_micros < 0) res_.fb.fee_micros = cfg_.fee_fallback_micros;
    res_.score = compute_score(res_.def, res_.fb, res_.all_ok.p99, res_.inconsistencies, res_.successes);
    res_.lag_after_recheck = recheck_held_ ? res_.successes - *recheck_held_ : res_.score.lag;
    if (!recheck_held_) res_.warnings.push_back("re-read of the admin summaries failed; lag_after_5s = lag");
  }

  const RunConfig& cfg_;
  RunResult& res_;
  net::EventLoop loop_;
  net::HttpClient client_;
  net::Endpoint target_, def_, fb_;
  std::string admin_hdr_;
  Clock::time_point start_;
  std::vector<std::unique_ptr<Worker>> workers_;
  size_t drained_ = 0;
  std::vector<Sample> get_samples_;
  std::map<int, MetricsSample> metrics_;
  int metrics_misses_ = 0;
  std::optional<int64_t> recheck_held_;
};

}  // namespace

RunResult run_scenario(const RunConfig& cfg) {
  RunResult res;
  res.cfg = cfg;
  if (cfg.direct) res.cfg.stages = false;
  if (res.cfg.stages) res.stages = scaled_stages(cfg.duration_s);
  // Short runs (smoke) still get a few checks.
  res.cfg.consistency_every_s = std::min(cfg.consistency_every_s, cfg.duration_s / 4);
  Control control(res.cfg, res);
  control.run();
  return res;
}

}  // namespace scenario
