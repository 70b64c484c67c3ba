// The scenario runner: scoring, percentiles, stages, UUIDs and CLI as plain functions, and a
// whole smoke run against two in-process processor simulators.
#include <doctest/doctest.h>

#include <cmath>
#include <set>
#include <string>

#include "bench/processor/processor_sim.h"
#include "bench/runner/cli.h"
#include "bench/runner/percentiles.h"
#include "bench/runner/prom_text.h"
#include "bench/runner/report.h"
#include "bench/runner/scenario.h"
#include "bench/runner/scoring.h"
#include "bench/runner/stages.h"
#include "bench/runner/uuid.h"

using namespace scenario;

TEST_CASE("score of the published maximum: all on default at 7 percent with p99 1 ms") {
  ProcessorTotals def{90600, 90600LL * 2005, 70000}, fb{0, 0, 100000};
  Score s = compute_score(def, fb, 1.0, 0, 90600);
  CHECK(s.gross_cents == 181653000);
  CHECK(s.fees_nano == 181653000LL * 70000);
  CHECK(s.fees() == doctest::Approx(127157.10));
  CHECK(s.bonus == doctest::Approx(0.20));
  CHECK(s.fine == 0);
  CHECK(s.score == doctest::Approx(2027247.48).epsilon(1e-9));
  CHECK(s.lag == 0);
}

TEST_CASE("score with fine and without bonus") {
  ProcessorTotals def{100, 100 * 2005, 50000}, fb{50, 50 * 2005, 150000};
  Score s = compute_score(def, fb, 12.345, 3, 152);
  CHECK(s.p99_ms == doctest::Approx(12.35));  // rounded to 2 places before the bonus
  CHECK(s.bonus == 0);
  CHECK(s.fine == doctest::Approx(0.35));
  // gross 3007.50; fees 100.25 + 150.375 = 250.625; net 2756.875 x 0.65
  CHECK(s.gross_cents == 300750);
  CHECK(s.fees() == doctest::Approx(250.625));
  CHECK(s.score == doctest::Approx(2756.875 * 0.65));
  CHECK(s.lag == 2);
  CHECK(compute_score(def, fb, 2.55, 0, 150).bonus == doctest::Approx(0.169));
}

TEST_CASE("summaries are parsed exactly") {
  auto a = parse_admin_summary(
      R"({"totalRequests": 3, "totalAmount": 60.15, "totalFee": 3.0075, "feePerTransaction": 0.05})");
  REQUIRE(a);
  CHECK(a->total_requests == 3);
  CHECK(a->total_amount_cents == 6015);
  CHECK(a->fee_micros == 50000);
  auto no_fee = parse_admin_summary(R"({"totalRequests":0,"totalAmount":0})");
  REQUIRE(no_fee);
  CHECK(no_fee->fee_micros == -1);
  CHECK_FALSE(parse_admin_summary("{\"totalRequests\": 1}"));
  CHECK_FALSE(parse_admin_summary("not json"));
  auto e = parse_engine_summary(
      R"({"default": {"totalRequests": 43236, "totalAmount": 415542345.98}, "fallback": {"totalRequests": 423545, "totalAmount": 329347.34}})");
  REQUIRE(e);
  CHECK(e->def.total_requests == 43236);
  CHECK(e->def.total_amount_cents == 41554234598);
  CHECK(e->fb.total_requests == 423545);
  CHECK(e->fb.total_amount_cents == 32934734);
}

TEST_CASE("percentiles interpolate like k6") {
  std::vector<double> v;
  for (int i = 100; i >= 1; --i) v.push_back(i);
  LatencySummary s = summarize(v);
  CHECK(s.count == 100);
  CHECK(s.p50 == doctest::Approx(50.5));
  CHECK(s.p90 == doctest::Approx(90.1));
  CHECK(s.p99 == doctest::Approx(99.01));
  CHECK(s.max == 100);
  std::vector<double> one{7};
  CHECK(summarize(one).p99 == 7);
  std::vector<double> none;
  CHECK(summarize(none).p99 == 0);
}

TEST_CASE("stages scale with the duration and presets") {
  const auto& f = final_stages();
  REQUIRE(f.size() == 10);
  CHECK(f[4].at_s == 120);
  CHECK(f[4].default_delay_ms == 5000);
  CHECK(f[4].default_failing);
  auto s = scaled_stages(60);
  CHECK(s[1].at_s == doctest::Approx(6));
  CHECK(s[9].at_s == doctest::Approx(54));
  CHECK(s[9].default_delay_ms == 2000);  // delays are not scaled
  CHECK(preset("preview").vus == 550);
  CHECK_FALSE(preset("preview").stages);
  CHECK(preset("final").duration_s == 300);
  CHECK_THROWS_AS(preset("huge"), std::invalid_argument);
}

TEST_CASE("the VU ramp goes linearly from 1 to N") {
  CHECK(vus_at(0, 603, 300) == 1);
  CHECK(vus_at(150, 603, 300) == 302);
  CHECK(vus_at(300, 603, 300) == 603);
  CHECK(vu_start_s(0, 603, 300) == 0);
  CHECK(vu_start_s(602, 603, 300) == doctest::Approx(300));
  CHECK(vu_start_s(301, 603, 300) == doctest::Approx(150));
  CHECK(vus_at(5, 1, 10) == 1);
}

TEST_CASE("uuids are version 4 and distinct") {
  UuidGen g(42);
  std::set<std::string> seen;
  for (int i = 0; i < 2000; ++i) {
    std::string u = g.next();
    CHECK(is_uuid_v4(u));
    seen.insert(u);
  }
  CHECK(seen.size() == 2000);
  CHECK(is_uuid_v4("4a7901b8-7d26-4d9d-aa19-4dc1c7cf60b3"));
  CHECK_FALSE(is_uuid_v4("4a7901b8-7d26-1d9d-aa19-4dc1c7cf60b3"));  // version 1
  CHECK_FALSE(is_uuid_v4("4a7901b8-7d26-4d9d-ca19-4dc1c7cf60b3"));  // bad variant
  CHECK_FALSE(is_uuid_v4("4a7901b87d264d9daa194dc1c7cf60b3"));
}

TEST_CASE("prometheus samples are summed by name and label") {
  const char* text =
      "# HELP payments_queue_depth Payments waiting\n"
      "# TYPE payments_queue_depth gauge\n"
      "payments_queue_depth 12\n"
      "payments_queue_depth_max 99\n"
      "payments_routed_total{processor=\"default\"} 1500 1700000000000\n"
      "payments_routed_total{processor=\"fallback\",instance=\"a\"} 20\n"
      "payments_routed_total{processor=\"fallback\",instance=\"b\"} 22\n";
  CHECK(prom_value(text, "payments_queue_depth") == 12);
  CHECK(prom_value(text, "payments_routed_total", "processor=\"default\"") == 1500);
  CHECK(prom_value(text, "payments_routed_total", "processor=\"fallback\"") == 42);
  CHECK_FALSE(prom_value(text, "missing_metric"));
}

TEST_CASE("command line applies the preset first then overrides") {
  auto o = parse_cli({"--vus", "50", "--preset", "preview", "--direct", "--fees", "0.07,0.10", "--out", "/tmp/x"});
  CHECK(o.cfg.vus == 50);
  CHECK(o.cfg.duration_s == 60);
  CHECK(o.cfg.direct);
  CHECK(o.cfg.fee_default_micros == 70000);
  CHECK(o.cfg.fee_fallback_micros == 100000);
  CHECK(o.out_dir == "/tmp/x");
  auto d = parse_cli({});
  CHECK(d.cfg.preset == "final");
  CHECK(d.cfg.vus == 603);
  CHECK(d.cfg.stages);
  CHECK(d.cfg.target == "http://127.0.0.1:9999");
  CHECK(d.cfg.post_targets.empty());
  auto split = parse_cli({"--post-targets", "http://127.0.0.1:9001,http://127.0.0.1:9002"}).cfg.post_targets;
  CHECK(split == std::vector<std::string>{"http://127.0.0.1:9001", "http://127.0.0.1:9002"});
  CHECK(d.out_dir.rfind("bench/results/", 0) == 0);
  CHECK_FALSE(parse_cli({"--preset", "smoke", "--no-stages"}).cfg.stages);
  CHECK_THROWS_AS(parse_cli({"--vus"}), std::invalid_argument);
  CHECK_THROWS_AS(parse_cli({"--bogus"}), std::invalid_argument);
  CHECK_THROWS_AS(parse_cli({"--duration", "abc"}), std::invalid_argument);
}

TEST_CASE("smoke run in direct mode against two simulators") {
  sim::ProcessorSim::Options o;
  o.quiet = true;
  o.fee = "0.05";
  sim::ProcessorSim def(o);
  o.fee = "0.15";
  o.name = "fallback";
  sim::ProcessorSim fb(o);
  def.start();
  fb.start();
  // Stages left set on purpose: direct mode must turn them off.
  def.set_delay_ms(3000);

  RunConfig cfg = config_for_preset("smoke");
  cfg.direct = true;
  cfg.default_url = def.base_url();
  cfg.fallback_url = fb.base_url();
  cfg.duration_s = 4;
  cfg.vus = 10;
  cfg.lag_recheck_s = 0.5;
  cfg.progress = false;
  RunResult r = run_scenario(cfg);

  CHECK(r.warnings.empty());
  CHECK_FALSE(r.cfg.stages);
  CHECK(r.summaries_ok);
  CHECK(r.successes > 10);
  CHECK(r.failures == 0);
  CHECK(r.score.lag == 0);
  CHECK(r.lag_after_recheck == 0);
  CHECK(r.consistency_checks >= 2);
  CHECK(r.inconsistencies == 0);
  CHECK(r.def.total_requests == r.successes);
  CHECK(r.def.total_amount_cents == r.successes * 2005);
  CHECK(r.def.fee_micros == 50000);
  CHECK(r.fb.total_requests == 0);
  CHECK(r.score.p99_ms > 0);
  CHECK(r.score.p99_ms < 1500);
  CHECK(def.payment_count() == static_cast<size_t>(r.successes));
  // One first POST per VU that got to post, each VU's others not counted.
  CHECK(r.first_post.count >= 1);
  CHECK(r.first_post.count <= static_cast<size_t>(cfg.vus));
  CHECK(r.first_post_over_run_p99 <= static_cast<int64_t>(r.first_post.count));

  std::string json = result_json(r);
  for (const char* field : {"\"score\"", "\"gross\"", "\"fees\"", "\"p99\"", "\"bonus\"", "\"fine\"",
                            "\"inconsistencies\"", "\"lag\"", "\"lag_after_5s\"", "\"successes\"", "\"failures\"",
                            "\"post_latency_ms\"", "\"get_latency_ms\"", "\"first_post_latency_ms\"",
                            "\"first_post_over_run_p99\""})
    CHECK(json.find(field) != std::string::npos);
  std::string csv = seconds_csv(r);
  CHECK(csv.rfind("second,requests,failures,p99_ms,vus", 0) == 0);
  CHECK(csv.find(",over_run_p99\n") != std::string::npos);
  // The requests over the run's p99, counted second by second: at most 1 % of them, plus the rank
  // the interpolation rounds.
  int64_t over = 0;
  for (const auto& s : r.seconds) over += s.over_run_p99;
  CHECK(over <= r.successes / 100 + 1);
  // The seconds count POSTs; the run's p99 is over every request, the checker's GETs too, and
  // here (~40 POSTs) the two slowest may be GETs: then no POST is over it.
  CHECK((over >= 1) == (r.post.max > r.all_ok.p99));
  CHECK(chart_svg(r).find("<svg") == 0);
}
