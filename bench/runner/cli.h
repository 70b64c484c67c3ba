// scenario_runner's command line.
#pragma once
#include <string>
#include <vector>

#include "bench/runner/scenario.h"

namespace scenario {

struct CliOptions {
  RunConfig cfg;
  std::string out_dir;  // default bench/results/<UTC timestamp>
  bool help = false;
};

// args without the program name. --preset is applied first, whatever its position, so that
// --vus, --duration and --no-stages override it. Throws std::invalid_argument.
CliOptions parse_cli(const std::vector<std::string>& args);
std::string cli_usage();

}  // namespace scenario
