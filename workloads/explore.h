// Kernel design exploration (`npusim explore`): one kernel over a grid of its parameters and of
// device parameters ("what if the UB were bigger?"), every point simulated timing-only, with its
// status (fits, or which buffer overflows and by how many bits), time, bound, % of roofline and
// buffer peaks; then the fastest feasible point and the Pareto front of time vs UB use.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "model/config.h"

namespace npusim {

struct ExploreConfig {
  std::string file, kernel;
  std::vector<std::string> devices;  // SoC names or device YAMLs
  KeyValues fixed;                   // kernel parameters held fixed
  std::vector<std::pair<std::string, std::vector<std::string>>> sweep;  // kernel parameters swept
  std::vector<std::pair<std::string, std::vector<std::string>>>
      device_sweep;  // dotted device keys swept
};
ExploreConfig LoadExploreConfig(const std::string& path);
ExploreConfig ParseExploreConfig(const std::string& text, const std::string& file);

struct ExplorePoint {
  std::string device;       // SoC
  KeyValues device_values;  // the swept device keys
  KeyValues params;         // the swept kernel parameters
  std::string status = "ok", message;
  double time_us = 0, roofline_us = 0;
  std::string bound;  // memory, cube, vector or link: the largest roofline term
  int64_t ub_peak = 0, l1_peak = 0, l0a_peak = 0, l0b_peak = 0, l0c_peak = 0, ub_bytes = 0;
  int64_t required_bits = 0, available_bits = 0;  // from an overflow message
};

struct ExploreResult {
  ExploreConfig config;
  std::vector<ExplorePoint> points;  // grid order: devices, device sweep, then kernel sweep
  int fastest = -1;                  // index of the fastest point that fits
  std::vector<int> pareto;  // fitting points no other beats on both time and UB peak, by time
};

using ExploreProgress = std::function<void(int64_t done, int64_t total)>;
// Each device variant runs in its own child process (a chip is built once per process).
ExploreResult RunExplore(const ExploreConfig& c, const ExploreProgress& progress = nullptr);

}  // namespace npusim
