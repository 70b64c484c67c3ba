#include "bench/runner/report.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <stdexcept>

#include "engine/money.h"

namespace scenario {

namespace {

std::string json_str(const std::string& s) {
  std::string o = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') o += '\\', o += c;
    else if (static_cast<unsigned char>(c) < 0x20) o += fmt::format("\\u{:04x}", c);
    else o += c;
  }
  return o + "\"";
}

std::string latency_json(const LatencySummary& l) {
  return fmt::format("{{\"count\": {}, \"p50\": {:.3f}, \"p90\": {:.3f}, \"p99\": {:.3f}, \"max\": {:.3f}}}", l.count,
                     l.p50, l.p90, l.p99, l.max);
}

std::string totals_json(const ProcessorTotals& t) {
  return fmt::format("{{\"totalRequests\": {}, \"totalAmount\": {}, \"feePerTransaction\": {}}}", t.total_requests,
                     money::format_cents(t.total_amount_cents), money::format_scaled_trimmed(t.fee_micros, 6));
}

std::string opt(const std::optional<double>& v) { return v ? fmt::format("{}", *v) : std::string(); }

std::string json_str_array(const std::vector<std::string>& v) {
  std::string o = "[";
  for (size_t i = 0; i < v.size(); ++i) o += (i ? ", " : "") + json_str(v[i]);
  return o + "]";
}

}  // namespace

std::string result_json(const RunResult& r) {
  return fmt::format(
      "{{\n"
      "  \"score\": {:.2f},\n  \"gross\": {},\n  \"fees\": {},\n  \"p99\": {:.2f},\n  \"bonus\": {:.4f},\n"
      "  \"fine\": {:.2f},\n  \"inconsistencies\": {},\n  \"consistency_checks\": {},\n  \"lag\": {},\n"
      "  \"lag_after_5s\": {},\n  \"successes\": {},\n  \"failures\": {},\n"
      "  \"failure_kinds\": {{\"http_non_2xx\": {}, \"timeout\": {}, \"connect_failed\": {}, \"disconnected\": {}, "
      "\"other\": {}}},\n"
      "  \"default\": {},\n  \"fallback\": {},\n  \"summaries_ok\": {},\n"
      "  \"post_latency_ms\": {},\n  \"get_latency_ms\": {},\n  \"all_ok_latency_ms\": {},\n"
      "  \"first_post_latency_ms\": {},\n  \"first_post_over_run_p99\": {},\n"
      "  \"preset\": {},\n  \"vus\": {},\n  \"duration_s\": {},\n  \"stages\": {},\n  \"direct\": {},\n"
      "  \"target\": {},\n  \"post_targets\": {},\n  \"runner_cpu_s\": {:.2f},\n  \"runner_cpu_pct\": {:.1f},\n  \"wall_s\": {:.2f},\n"
      "  \"limits\": {},\n  \"resources\": {},\n  \"warnings\": {}\n}}\n",
      r.score.score, money::format_cents(r.score.gross_cents), money::format_scaled_trimmed(r.score.fees_nano, 8),
      r.score.p99_ms, r.score.bonus, r.score.fine, r.inconsistencies, r.consistency_checks, r.score.lag,
      r.lag_after_recheck, r.successes, r.failures, r.fail_http, r.fail_timeout, r.fail_connect, r.fail_disconnected,
      r.fail_other, totals_json(r.def), totals_json(r.fb), r.summaries_ok, latency_json(r.post), latency_json(r.get),
      latency_json(r.all_ok), latency_json(r.first_post), r.first_post_over_run_p99, json_str(r.cfg.preset), r.cfg.vus,
      r.cfg.duration_s, r.cfg.stages, r.cfg.direct,
      json_str(r.cfg.direct ? r.cfg.default_url : r.cfg.target), json_str_array(r.cfg.post_targets), r.cpu_s,
      r.wall_s > 0 ? 100.0 * r.cpu_s / r.wall_s : 0.0, r.wall_s, r.limits_json, r.resources_json, json_str_array(r.warnings));
}

std::string seconds_csv(const RunResult& r) {
  std::string o = "second,requests,failures,p99_ms,vus,queue_depth,routed_default,routed_fallback,over_run_p99\n";
  for (const auto& s : r.seconds)
    o += fmt::format("{},{},{},{:.3f},{},{},{},{},{}\n", s.second, s.requests, s.failures, s.p99_ms, s.vus,
                     opt(s.queue_depth), opt(s.routed_default), opt(s.routed_fallback), s.over_run_p99);
  return o;
}

std::string chart_svg(const RunResult& r) {
  constexpr double W = 1000, H = 420, L = 60, R = 60, T = 30, B = 40;
  const double pw = W - L - R, ph = H - T - B;
  const double xmax = std::max(1.0, static_cast<double>(r.seconds.size()));
  double pmax = 1, qmax = 1;
  for (const auto& s : r.seconds) {
    pmax = std::max(pmax, s.p99_ms);
    qmax = std::max(qmax, static_cast<double>(s.requests));
  }
  pmax = std::ceil(pmax * 1.1);
  qmax = std::ceil(qmax * 1.1);
  auto x = [&](double sec) { return L + pw * sec / xmax; };
  auto yp = [&](double v) { return T + ph - ph * v / pmax; };
  auto yq = [&](double v) { return T + ph - ph * v / qmax; };

  std::string o = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{0}\" height=\"{1}\" viewBox=\"0 0 {0} {1}\" "
      "font-family=\"sans-serif\" font-size=\"11\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n",
      W, H);
  o += fmt::format("<text x=\"{}\" y=\"18\" font-size=\"13\">{} VUs, {} s, {}: p99 (red, left axis, ms) and "
                   "requests/s (blue, right axis); score {:.0f}, p99 {:.2f} ms</text>\n",
                   L, r.cfg.vus, r.cfg.duration_s, r.cfg.preset, r.score.score, r.score.p99_ms);
  o += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"#888\"/>\n", L, T, pw, ph);
  for (int i = 0; i <= 4; ++i) {
    double f = i / 4.0;
    o += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"end\" fill=\"#c00\">{:.1f}</text>\n", L - 4,
                     T + ph - ph * f + 4, pmax * f);
    o += fmt::format("<text x=\"{}\" y=\"{}\" fill=\"#03c\">{:.0f}</text>\n", L + pw + 4, T + ph - ph * f + 4, qmax * f);
  }
  const double step = xmax > 120 ? 30 : xmax > 30 ? 10 : 1;
  for (double s = 0; s <= xmax; s += step)
    o += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{:.0f}s</text>\n", x(s), T + ph + 16, s);
  for (const auto& st : r.stages) {
    o += fmt::format("<line x1=\"{0}\" y1=\"{1}\" x2=\"{0}\" y2=\"{2}\" stroke=\"#999\" stroke-dasharray=\"4,3\"/>\n",
                     x(st.at_s), T, T + ph);
    o += fmt::format("<text x=\"{}\" y=\"{}\" font-size=\"9\" fill=\"#555\">d{}{} f{}{}</text>\n", x(st.at_s) + 2,
                     T + 10, st.default_delay_ms, st.default_failing ? "!" : "", st.fallback_delay_ms,
                     st.fallback_failing ? "!" : "");
  }
  auto poly = [&](auto yf, auto val, const char* color) {
    std::string pts;
    for (const auto& s : r.seconds) pts += fmt::format("{:.1f},{:.1f} ", x(s.second + 0.5), yf(val(s)));
    return fmt::format("<polyline fill=\"none\" stroke=\"{}\" stroke-width=\"1.5\" points=\"{}\"/>\n", color, pts);
  };
  o += poly(yq, [](const SecondStats& s) { return static_cast<double>(s.requests); }, "#03c");
  o += poly(yp, [](const SecondStats& s) { return s.p99_ms; }, "#c00");
  o += "</svg>\n";
  return o;
}

std::string summary_text(const RunResult& r) {
  std::string o;
  o += fmt::format("== {} run: {} VUs, {:.0f} s, {}{} ==\n", r.cfg.preset, r.cfg.vus, r.cfg.duration_s,
                   r.cfg.direct ? "direct to " + r.cfg.default_url : "target " + r.cfg.target,
                   r.cfg.stages ? ", stages" : "");
  o += fmt::format("score        {:.2f}   (gross {} - fees {}) x (1 + bonus {:.4f} - fine {:.2f})\n", r.score.score,
                   money::format_cents(r.score.gross_cents), money::format_scaled_trimmed(r.score.fees_nano, 8),
                   r.score.bonus, r.score.fine);
  o += fmt::format("p99          {:.2f} ms over {} successful requests\n", r.score.p99_ms, r.all_ok.count);
  o += fmt::format("POST ms      p50 {:.3f}  p90 {:.3f}  p99 {:.3f}  max {:.3f}\n", r.post.p50, r.post.p90, r.post.p99,
                   r.post.max);
  o += fmt::format("first POSTs  p50 {:.3f}  p99 {:.3f}  max {:.3f}  ({} VUs' first, {} over the run's p99)\n",
                   r.first_post.p50, r.first_post.p99, r.first_post.max, r.first_post.count, r.first_post_over_run_p99);
  o += fmt::format("GET  ms      p50 {:.3f}  p90 {:.3f}  p99 {:.3f}  max {:.3f}  ({} summaries)\n", r.get.p50, r.get.p90,
                   r.get.p99, r.get.max, r.get.count);
  o += fmt::format("payments     {} ok, {} failed (non-2XX {}, timeout {}, connect {}, disconnected {}, other {})\n",
                   r.successes, r.failures, r.fail_http, r.fail_timeout, r.fail_connect, r.fail_disconnected, r.fail_other);
  o += fmt::format("processors   default {} / {}   fallback {} / {}   (requests / amount)\n", r.def.total_requests,
                   money::format_cents(r.def.total_amount_cents), r.fb.total_requests,
                   money::format_cents(r.fb.total_amount_cents));
  o += fmt::format("consistency  {} inconsistencies in {} checks\n", r.inconsistencies, r.consistency_checks);
  o += fmt::format("lag          {} at the end, {} five seconds later\n", r.score.lag, r.lag_after_recheck);
  o += fmt::format("runner       {:.2f} s CPU over {:.1f} s ({:.1f} %)\n", r.cpu_s, r.wall_s,
                   r.wall_s > 0 ? 100 * r.cpu_s / r.wall_s : 0.0);
  if (r.score.lag < 0 || r.lag_after_recheck < 0)
    o += "NEGATIVE LAG: the processors hold more payments than were accepted (disqualifies)\n";
  for (const auto& w : r.warnings) o += "warning: " + w + "\n";
  return o;
}

void write_reports(const RunResult& r, const std::string& dir) {
  std::filesystem::create_directories(dir);
  auto put = [&](const char* name, const std::string& content) {
    std::ofstream f(std::filesystem::path(dir) / name, std::ios::binary);
    f << content;
    if (!f) throw std::runtime_error(std::string("cannot write ") + dir + "/" + name);
  };
  put("result.json", result_json(r));
  put("seconds.csv", seconds_csv(r));
  put("chart.svg", chart_svg(r));
}

}  // namespace scenario
