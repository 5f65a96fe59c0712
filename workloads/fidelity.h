// How far to trust a run: the calibration state of the device and host profiles it used (which
// of their constants were fitted, to what, on which corpus rows) and the corpus error of the
// nearest rows, read from the last recorded `npusim calibrate --record` (configs/calibration/
// state.json). Every run's metrics.json and report carry it.
#pragma once

#include <string>
#include <vector>

namespace npusim {

struct FittedValue {
  std::string file, key, value, rows, group;
};

struct Fidelity {
  std::vector<FittedValue>
      fitted;  // constants of the profiles used that fit.yaml fits and were written
  std::vector<FittedValue>
      unfitted;  // ones whose fit was not accepted (a bound, failing rows): modelling gaps
  std::string state_file;               // "" when no calibration was recorded
  std::string basis;                    // which rows count as nearest (same model and device, ...)
  std::vector<std::string> check_rows;  // nearest simulated check rows
  std::vector<std::string> fit_rows;    // nearest fit rows
  double check_median_abs = 0, check_worst_abs = 0, fit_median_abs = 0;
  std::string Summary() const;  // "calibrated: ...; median |error| 12 % on 4 checked rows (...)"
};

// For a serving run: `model_file` and `device_soc` pick the nearest rows; `device_file` and
// `host_file` are the profiles the run loaded. For a kernel run: `op` instead of a model.
Fidelity FidelityFor(const std::string& model_file, const std::string& op,
                     const std::string& device_soc, const std::string& device_file,
                     const std::string& host_file);

}  // namespace npusim
