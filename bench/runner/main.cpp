// scenario_runner: the challenge's load test (SPEC section 3) against any base URL.
#include <cstdio>
#include <exception>
#include <fstream>
#include <sstream>

#include "bench/runner/cli.h"
#include "bench/runner/report.h"

int main(int argc, char** argv) {
  scenario::CliOptions opt;
  try {
    opt = scenario::parse_cli(std::vector<std::string>(argv + 1, argv + argc));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s\n%s", e.what(), scenario::cli_usage().c_str());
    return 2;
  }
  if (opt.help) {
    std::fputs(scenario::cli_usage().c_str(), stdout);
    return 0;
  }
  try {
    // What the stack ran under, read before (limits) and after (peaks) the run; "null" without a stack.
    auto slurp = [&](const char* name) {
      std::ifstream f(opt.cfg.stack_dir + "/" + name);
      std::stringstream s;
      s << f.rdbuf();
      return f && !s.str().empty() ? s.str() : std::string("null");
    };
    const std::string limits = slurp("limits.json");
    scenario::RunResult r = scenario::run_scenario(opt.cfg);
    r.limits_json = limits;
    r.resources_json = slurp("usage.json");
    scenario::write_reports(r, opt.out_dir);
    std::fputs(scenario::summary_text(r).c_str(), stdout);
    std::printf("results      %s/{result.json,seconds.csv,chart.svg}\n", opt.out_dir.c_str());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "scenario_runner: %s\n", e.what());
    return 1;
  }
  return 0;
}
