// The processors' delay/failure schedule of the final test (SPEC section 3) and the run
// presets. Times scale with the run's duration so short runs walk through every stage.
#pragma once
#include <string>
#include <vector>

namespace scenario {

struct Stage {
  double at_s = 0;  // seconds since the start of the run
  int default_delay_ms = 0;
  bool default_failing = false;
  int fallback_delay_ms = 0;
  bool fallback_failing = false;
};

// The final test's table as published, for a 300 s run.
const std::vector<Stage>& final_stages();
// The same table with every time multiplied by duration_s / 300; delays are not scaled.
std::vector<Stage> scaled_stages(double duration_s);

struct Preset {
  std::string name;
  int vus = 0;
  double duration_s = 0;
  bool stages = false;
};
// "smoke" (20 VUs, 8 s, stages), "preview" (550 VUs, 60 s, no stages), "final" (603 VUs, 300 s, stages).
// Throws std::invalid_argument for another name.
Preset preset(const std::string& name);

// Active VUs at time t of a linear ramp from 1 to n over d seconds (k6 ramping-vus).
int vus_at(double t_s, int n, double d_s);
// When VU number i (0-based) starts in that ramp.
double vu_start_s(int i, int n, double d_s);

}  // namespace scenario
