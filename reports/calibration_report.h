// Output of `npusim calibrate`: reading one corpus point's result from the metrics.json its
// child process wrote, and the calibration outputs (metrics.json, points.csv, report.md,
// report.html with simulated vs measured on log-log axes).
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "workloads/calibration.h"
#include "workloads/fidelity.h"

namespace npusim {

// The row's figure from a point's metrics.json (kernel rows: `launch` picks one stage, then
// host_launches x host_launch_us is added); status failed with the child's message when the
// point did not produce the figure.
PointResult ReadCalibrationPoint(const CalibrationRow& row, const std::string& point_dir,
                                 int exit_code, double host_launch_us);

struct CalibrationOutput {
  std::string corpus_dir;
  std::vector<PointResult> results;  // corpus order
  Verdict verdict;
  std::vector<FitOutcome> fits;
};

void WriteCalibrationOutputs(const Corpus& c, const CalibrationOutput& o, const std::string& dir);
// The `fidelity` section every run's metrics.json carries.
nlohmann::ordered_json FidelityJson(const Fidelity& f);

// The corpus state `npusim calibrate --record` keeps (configs/calibration/state.json): every
// simulated row's figures with the model, kernel and device it ran, merged into `path`.
struct RowSubject {
  std::string model, op, device;  // model file name (run rows), kernel (kernel rows), SoC
};
void RecordCalibrationState(const Corpus& c, const std::vector<PointResult>& results,
                            const std::vector<RowSubject>& subjects, const std::string& path);

// The table sorted by |error| and the verdict line, for stdout.
std::string CalibrationSummary(const Corpus& c, const CalibrationOutput& o);

}  // namespace npusim
