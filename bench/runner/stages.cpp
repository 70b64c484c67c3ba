#include "bench/runner/stages.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace scenario {

const std::vector<Stage>& final_stages() {
  static const std::vector<Stage> t = {
      {1, 0, false, 0, false},      {30, 1000, false, 0, false},   {60, 500, false, 0, false},
      {90, 2000, true, 1000, false}, {120, 5000, true, 5, false},  {150, 0, false, 5, true},
      {180, 100, false, 5, false},  {210, 50, false, 0, false},    {240, 103, false, 10, false},
      {270, 2000, false, 0, false},
  };
  return t;
}

std::vector<Stage> scaled_stages(double duration_s) {
  std::vector<Stage> out = final_stages();
  for (auto& s : out) s.at_s = s.at_s * duration_s / 300.0;
  return out;
}

Preset preset(const std::string& name) {
  if (name == "smoke") return {"smoke", 20, 8, true};
  if (name == "preview") return {"preview", 550, 60, false};
  if (name == "final") return {"final", 603, 300, true};
  throw std::invalid_argument("unknown preset: " + name + " (smoke|preview|final)");
}

int vus_at(double t_s, int n, double d_s) {
  if (n <= 1 || d_s <= 0) return std::max(n, 0);
  if (t_s <= 0) return 1;
  if (t_s >= d_s) return n;
  return 1 + static_cast<int>(std::floor((n - 1) * t_s / d_s));
}

double vu_start_s(int i, int n, double d_s) {
  if (i <= 0 || n <= 1) return 0;
  return d_s * i / (n - 1);
}

}  // namespace scenario
