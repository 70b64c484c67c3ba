// The exactly-once audit that every fault test ends with: the engine's answers checked against
// the processors' own books (not the engine's), payment by payment.
//   - every payment answered 2XX is held by exactly one processor, once, for its amount, with the
//     requestedAt the engine recorded in processed_payments;
//   - no payment answered otherwise (error, 5XX, no answer) is held anywhere: the processors never
//     hold more than was acknowledged (a negative lag disqualifies);
//   - the engine's GET /payments-summary equals the processors' admin summaries.
// Header-only: it needs the simulator library, which only tests link.
#pragma once
#include <doctest/doctest.h>
#include <fmt/format.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <unordered_map>
#include <vector>

#include "tests/support/load.h"
#include "tests/support/stack_fixture.h"

namespace testsupport {

struct AuditResult {
  int64_t accepted = 0;             // answered 2XX
  int64_t not_accepted = 0;         // answered otherwise or not at all
  int64_t lost = 0;                 // 2XX, held by no processor
  int64_t duplicated = 0;           // held by both processors
  int64_t wrong_requested_at = 0;   // held, but not with the requestedAt recorded (or not recorded)
  int64_t wrong_amount = 0;         // held for another amount
  int64_t held_unacknowledged = 0;  // not 2XX, yet held by a processor (a negative lag)
  int64_t held_unanswered = 0;      // ... of which no answer came at all: cut in transit
  bool summary_agrees = false;
  int64_t settle_ms = 0;            // from the end of the load until everything was processed

  bool clean() const { return clean_but_cut_in_transit() && held_unacknowledged == 0; }
  // For a crash (kill -9): a request whose commit was done when the process died got no answer at
  // all; its payment exists and is processed once. Anything answered must still be exact.
  bool clean_but_cut_in_transit() const {
    return lost == 0 && duplicated == 0 && wrong_requested_at == 0 && wrong_amount == 0 &&
           held_unacknowledged == held_unanswered && summary_agrees;
  }
  std::string describe() const {
    return fmt::format(
        "accepted {} | not accepted {} | lost {} | duplicated {} | wrong requestedAt {} | wrong amount {} |"
        " held unacknowledged {} (no answer at all: {}) | summary agrees {} | settled in {} ms",
        accepted, not_accepted, lost, duplicated, wrong_requested_at, wrong_amount, held_unacknowledged,
        held_unanswered, summary_agrees, settle_ms);
  }
};

// Waits (up to `settle`) until the queue is empty and the engine's summary
// equals the processors', then audits every posted payment.
inline AuditResult audit(const Stack& s, const std::vector<Posted>& posted,
                         std::chrono::seconds settle = std::chrono::seconds(60)) {
  AuditResult a;
  auto t0 = std::chrono::steady_clock::now();
  auto deadline = t0 + settle;
  for (;;) {
    bool idle = false;
    try {
      idle = s.db_count("SELECT count(*) FROM pgq_q_payments") == 0;  // every payment settled
    } catch (const std::exception&) {
    }
    if (idle) {
      auto d = Stack::admin_totals(s.def), f = Stack::admin_totals(s.fb);
      auto r = s.client().Get("/payments-summary");
      a.summary_agrees = r && r->status == 200 && r->body == Stack::expected_summary(d, f);
      if (a.summary_agrees) break;
    }
    if (std::chrono::steady_clock::now() > deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  a.settle_ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();

  auto d = s.def.records(), f = s.fb.records();
  std::unordered_map<std::string, int64_t> ours;  // processed_payments: cid -> requested_at ms
  {
    pqxx::connection c(s.schema.conninfo);
    pqxx::nontransaction tx(c);
    for (const auto& row : tx.exec("SELECT correlation_id::text, (extract(epoch from requested_at) * 1000)::bigint"
                                   " FROM processed_payments"))
      ours.emplace(row[0].as<std::string>(), row[1].as<int64_t>());
  }
  for (const auto& p : posted) {
    auto in_d = d.find(p.cid), in_f = f.find(p.cid);
    bool held_d = in_d != d.end(), held_f = in_f != f.end();
    if (!p.ok()) {
      ++a.not_accepted;
      if (held_d || held_f) {
        ++a.held_unacknowledged;
        if (p.status == 0 && p.error != "connect_failed") ++a.held_unanswered;
      }
      continue;
    }
    ++a.accepted;
    if (!held_d && !held_f) {
      ++a.lost;
      continue;
    }
    if (held_d && held_f) ++a.duplicated;
    const auto& rec = held_d ? in_d->second : in_f->second;
    if (rec.cents != p.cents) ++a.wrong_amount;
    auto it = ours.find(p.cid);
    if (it == ours.end() || it->second != rec.requested_at_ms) ++a.wrong_requested_at;
  }
  return a;
}

// One row of the fault table (tests/README.md): printed, and appended to $FAULT_TABLE if set.
// recovery_ms < 0: not measured (no load after the fault to measure it with).
inline void report_fault(const std::string& fault, const AuditResult& a, int64_t recovery_ms,
                         const std::string& extra = "") {
  auto row = fmt::format("| {} | {} | {} | {} | {} | {} | {} | {} |{}", fault, a.accepted, a.lost, a.duplicated,
                         a.wrong_requested_at, a.held_unacknowledged, recovery_ms < 0 ? std::string("-") : fmt::format("{} ms", recovery_ms),
                         a.settle_ms, extra.empty() ? "" : " " + extra);
  MESSAGE(row);
  std::fprintf(stderr, "%s\n%s\n", row.c_str(), a.describe().c_str());
  if (const char* path = std::getenv("FAULT_TABLE")) {
    std::ofstream out(path, std::ios::app);
    out << row << "\n";
  }
}

// Posts payments test_uuid(0..n-1) of 20.05 one after the other to instance 1, keeping each answer.
inline std::vector<Posted> post_each(const Stack& s, int n) {
  std::vector<Posted> posted;
  for (int i = 0; i < n; ++i) {
    Posted p;
    p.cid = test_uuid(i);
    p.cents = 2005;
    p.status = s.post(p.cid, "20.05");
    posted.push_back(p);
  }
  return posted;
}

// The common shape of a fault test: load for `before`, apply the fault, keep the load on for
// `during`, lift it, keep loading for `after`, then stop. Times are load times (ms).
struct FaultRun {
  std::vector<Posted> posted;
  int64_t fault_start_ms = 0, fault_end_ms = 0;
};
template <class Apply, class Lift>
FaultRun run_fault(Load& load, std::chrono::milliseconds before, Apply&& apply, std::chrono::milliseconds during,
                   Lift&& lift, std::chrono::milliseconds after) {
  FaultRun run;
  load.start();
  std::this_thread::sleep_for(before);
  run.fault_start_ms = load.elapsed_ms();
  apply();
  std::this_thread::sleep_for(during);
  lift();
  run.fault_end_ms = load.elapsed_ms();
  std::this_thread::sleep_for(after);
  run.posted = load.stop();
  return run;
}

// The engine's gauges, read from GET /metrics: the value of the first sample named `name`.
inline int64_t metric(uint16_t port, const std::string& name) {
  httplib::Client c("127.0.0.1", port);
  c.set_read_timeout(std::chrono::seconds(2));
  auto r = c.Get("/metrics");
  if (!r || r->status != 200) return -1;
  auto at = r->body.find("\n" + name + " ");
  if (at == std::string::npos) return -1;
  return std::stoll(r->body.substr(at + name.size() + 2));
}

}  // namespace testsupport
