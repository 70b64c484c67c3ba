#include "bench/runner/percentiles.h"

#include <algorithm>
#include <cmath>

namespace scenario {

double percentile_sorted(const std::vector<double>& v, double pct) {
  if (v.empty()) return 0;
  if (v.size() == 1) return v[0];
  const double i = pct / 100.0 * static_cast<double>(v.size() - 1);
  const double lo = std::floor(i);
  const double a = v[static_cast<size_t>(lo)];
  const double b = v[static_cast<size_t>(std::ceil(i))];
  return a + (b - a) * (i - lo);
}

LatencySummary summarize(std::vector<double>& ms) {
  std::sort(ms.begin(), ms.end());
  LatencySummary s;
  s.count = ms.size();
  if (ms.empty()) return s;
  s.p50 = percentile_sorted(ms, 50);
  s.p90 = percentile_sorted(ms, 90);
  s.p99 = percentile_sorted(ms, 99);
  s.max = ms.back();
  return s;
}

}  // namespace scenario
