// What a run leaves behind: result.json (the challenge's fields and ours), seconds.csv,
// chart.svg, and a one-screen summary for the terminal.
#pragma once
#include <string>

#include "bench/runner/scenario.h"

namespace scenario {

std::string result_json(const RunResult& r);
std::string seconds_csv(const RunResult& r);
std::string chart_svg(const RunResult& r);  // self-contained: no scripts, no external references
std::string summary_text(const RunResult& r);

// Writes the three files into dir (created with its parents). Throws std::runtime_error.
void write_reports(const RunResult& r, const std::string& dir);

}  // namespace scenario
