// The load test of SPEC section 3 against any base URL: ramping virtual users posting
// payments, the processors' stage schedule, the consistency checker and the final scoring.
#pragma once
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "bench/runner/percentiles.h"
#include "bench/runner/scoring.h"
#include "bench/runner/stages.h"

namespace scenario {

struct RunConfig {
  std::string target = "http://127.0.0.1:9999";
  // When set, VU i posts to post_targets[i % n] instead of target, on its own connection as
  // always: what a load balancer that hands each connection to an engine (and leaves the data
  // path) would give. Summaries and /metrics still go to target.
  std::vector<std::string> post_targets;
  std::string default_url = "http://127.0.0.1:8001";
  std::string fallback_url = "http://127.0.0.1:8002";
  std::string token = "123";  // processors' admin token; the engine's purge gets it too
  std::string preset = "final";
  int vus = 603;
  double duration_s = 300;
  bool stages = true;
  // POSTs go straight to the default simulator (with requestedAt): a sanity target. Stages are
  // then off (a bare simulator cannot route around them) and the checker compares the
  // simulator's summary with the runner's own count of accepted payments.
  bool direct = false;
  int64_t fee_default_micros = 50000;  // used only when an admin summary lacks feePerTransaction
  int64_t fee_fallback_micros = 150000;
  int threads = 1;  // event-loop threads for the VUs (one handles thousands of requests/s)
  std::chrono::milliseconds http_timeout{1500};
  double consistency_every_s = 10;  // capped at duration / 4
  double lag_recheck_s = 5;
  bool progress = true;  // one status line on stderr every 10 s
  // bench/stack.sh's state dir: its limits.json (which resource limits applied) and usage.json
  // (each component's peak memory and throttling) go into result.json.
  std::string stack_dir = "/tmp/payeng-stack";
};

// Applies a preset's VUs, duration and stages.
RunConfig config_for_preset(const std::string& name);

struct SecondStats {
  int second = 0;
  int64_t requests = 0;  // POSTs completed in this second
  int64_t failures = 0;
  double p99_ms = 0;  // successful POSTs completed in this second
  // Of those, how many took longer than the run's p99 (the score's): whether the run's tail is a
  // few bad seconds or spread over all of them.
  int64_t over_run_p99 = 0;
  int vus = 0;
  std::optional<double> queue_depth, routed_default, routed_fallback;  // target's /metrics, if any
};

struct RunResult {
  RunConfig cfg;
  Score score;
  ProcessorTotals def, fb;  // final admin summaries, right after the last VU stopped
  bool summaries_ok = false;
  int64_t lag_after_recheck = 0;
  int64_t inconsistencies = 0;
  int consistency_checks = 0;
  int64_t successes = 0, failures = 0;
  int64_t fail_http = 0, fail_timeout = 0, fail_connect = 0, fail_disconnected = 0, fail_other = 0;
  LatencySummary post, get, all_ok;  // successful requests to the target, ms
  // Each VU's first POST when it succeeded: the one that waits for its new connection to be accepted
  // (and, behind a balancer that hands connections over, handed to an engine), and how many of
  // them took longer than the run's p99.
  LatencySummary first_post;
  int64_t first_post_over_run_p99 = 0;
  std::vector<SecondStats> seconds;
  std::vector<Stage> stages;  // as applied (scaled)
  double wall_s = 0, cpu_s = 0;  // the runner's own CPU time (user + system)
  std::string limits_json = "null", resources_json = "null";  // from the stack's state dir, as found
  std::vector<std::string> warnings;
};

// Runs the whole scenario; blocks for about duration + lag_recheck seconds. Throws
// std::invalid_argument for a malformed URL.
RunResult run_scenario(const RunConfig& cfg);

}  // namespace scenario
