// Output of `npusim calibrate`: the calibration outputs (metrics.json, points.csv, report.md,
// report.html with simulated vs measured on log-log axes), the corpus state it records and the
// summary it prints.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "workloads/calibration.h"
#include "workloads/calibration_run.h"
#include "workloads/fidelity.h"

namespace npusim {

void WriteCalibrationOutputs(const Corpus& c, const CalibrationOutput& o, const std::string& dir);
// The `fidelity` section every run's metrics.json carries.
nlohmann::ordered_json FidelityJson(const Fidelity& f);

// The corpus state `npusim calibrate --record` keeps (configs/calibration/state.json): every
// simulated row's figures, merged into `path`, with what each row is (model or kernel, device,
// metric, parallel setup) refreshed from the corpus for every row the state holds.
void RecordCalibrationState(const Corpus& c, const std::vector<PointResult>& results,
                            const std::string& path);

// The table sorted by |error| and the verdict line, for stdout.
std::string CalibrationSummary(const Corpus& c, const CalibrationOutput& o);

}  // namespace npusim
