#include "bench/runner/cli.h"

#include <chrono>
#include <ctime>
#include <stdexcept>

#include "engine/money.h"

namespace scenario {

std::string cli_usage() {
  return "usage: scenario_runner [--preset smoke|preview|final] [--target URL] [--default URL] [--fallback URL]\n"
         "                       [--token T] [--vus N] [--duration S] [--no-stages] [--direct] [--fees D,F]\n"
         "                       [--threads N] [--out DIR] [--stack-dir DIR] [--post-targets URL,URL] [--quiet]\n"
         "  --target    engine or load balancer (default http://127.0.0.1:9999)\n"
         "  --post-targets  VU i posts to the i-th URL of the list (mod its length), not to --target\n"
         "  --default   default processor simulator (default http://127.0.0.1:8001)\n"
         "  --fallback  fallback processor simulator (default http://127.0.0.1:8002)\n"
         "  --token     processors' admin token, also sent to the engine's purge (default 123)\n"
         "  --preset    smoke (20 VUs, 8 s, stages), preview (550 VUs, 60 s), final (603 VUs, 300 s, stages)\n"
         "  --direct    POST straight to the default simulator (adds requestedAt); no stages\n"
         "  --fees      fees used only if an admin summary lacks feePerTransaction (default 0.05,0.15)\n"
         "  --threads   event-loop threads for the virtual users (default 1)\n"
         "  --out       output directory (default bench/results/<UTC timestamp>)\n"
         "  --stack-dir bench/stack.sh state dir: its limits.json and usage.json go into result.json\n"
         "              (default /tmp/payeng-stack)\n";
}

namespace {

int64_t parse_fee(const std::string& s) {
  auto v = money::parse_decimal_scaled(s, 6, true);
  if (!v || *v < 0) throw std::invalid_argument("bad fee: " + s);
  return *v;
}

double parse_number(const std::string& flag, const std::string& s, double min) {
  size_t used = 0;
  double v = 0;
  try {
    v = std::stod(s, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != s.size() || v < min) throw std::invalid_argument("bad value for " + flag + ": " + s);
  return v;
}

std::string default_out_dir() {
  std::time_t t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y%m%d-%H%M%S", &tm);
  return std::string("bench/results/") + buf;
}

}  // namespace

CliOptions parse_cli(const std::vector<std::string>& args) {
  CliOptions o;
  std::string preset_name = "final";
  for (size_t i = 0; i + 1 < args.size(); ++i)
    if (args[i] == "--preset") preset_name = args[i + 1];
  o.cfg = config_for_preset(preset_name);

  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&]() -> const std::string& {
      if (i + 1 >= args.size()) throw std::invalid_argument(a + " needs a value");
      return args[++i];
    };
    if (a == "--help" || a == "-h") o.help = true;
    else if (a == "--preset") value();
    else if (a == "--target") o.cfg.target = value();
    else if (a == "--default") o.cfg.default_url = value();
    else if (a == "--post-targets") {
      o.cfg.post_targets.clear();
      const std::string& v = value();
      for (size_t b = 0; b <= v.size();) {
        size_t e = std::min(v.find(',', b), v.size());
        if (e > b) o.cfg.post_targets.push_back(v.substr(b, e - b));
        b = e + 1;
      }
    } else if (a == "--fallback") o.cfg.fallback_url = value();
    else if (a == "--token") o.cfg.token = value();
    else if (a == "--vus") o.cfg.vus = static_cast<int>(parse_number(a, value(), 1));
    else if (a == "--duration") o.cfg.duration_s = parse_number(a, value(), 1);
    else if (a == "--threads") o.cfg.threads = static_cast<int>(parse_number(a, value(), 1));
    else if (a == "--no-stages") o.cfg.stages = false;
    else if (a == "--direct") o.cfg.direct = true;
    else if (a == "--quiet") o.cfg.progress = false;
    else if (a == "--out") o.out_dir = value();
    else if (a == "--stack-dir") o.cfg.stack_dir = value();
    else if (a == "--fees") {
      const std::string& v = value();
      size_t comma = v.find(',');
      if (comma == std::string::npos) throw std::invalid_argument("--fees wants D,F");
      o.cfg.fee_default_micros = parse_fee(v.substr(0, comma));
      o.cfg.fee_fallback_micros = parse_fee(v.substr(comma + 1));
    } else {
      throw std::invalid_argument("unknown argument: " + a);
    }
  }
  if (o.out_dir.empty()) o.out_dir = default_out_dir();
  return o;
}

}  // namespace scenario
