// Percentiles the way k6 computes its trend p(N): linear interpolation between the two
// nearest ranks of the sorted samples, rank = N/100 x (count - 1).
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace scenario {

// values must be sorted ascending; pct in [0, 100]. 0 for an empty set.
double percentile_sorted(const std::vector<double>& values, double pct);

struct LatencySummary {
  size_t count = 0;
  double p50 = 0, p90 = 0, p99 = 0, max = 0;  // ms
};
// Sorts `ms` in place.
LatencySummary summarize(std::vector<double>& ms);

}  // namespace scenario
