// Running the calibration corpus (`npusim calibrate`): every row simulated as its own npusim
// process (`kernel` or `run`, workloads/self_runs.h), N at a time, its figure read from the
// metrics.json it wrote and compared with the measurement; fitting a group's declared constants
// on its fit rows (Nelder-Mead on the mean squared log error) by rerunning those rows with the
// candidate values written into copies of the device / host YAMLs.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "workloads/calibration.h"

namespace npusim {

// Profiles replaced for one evaluation: SoC or host-profile name -> YAML path.
struct ProfileOverrides {
  std::map<std::string, std::string> device, host;
};

// The npusim arguments that simulate a row (without --out). `charts` false: a run row's
// report.html leaves its charts out (a fit evaluation reads metrics.json and deletes the rest).
std::vector<std::string> RowCommand(const CalibrationRow& r, const ProfileOverrides& o,
                                    bool charts = true);

// The row's figure from a point's metrics.json (kernel rows: `launch` picks one stage, then
// host_launches x host_launch_us is added); status failed with the child's message when the
// point did not produce the figure.
PointResult ReadCalibrationPoint(const CalibrationRow& row, const std::string& point_dir,
                                 int exit_code, double host_launch_us);

// A ratio or sum row's figure from the results of the rows it is made of (`by_id`); status failed
// naming them when one of them has no figure.
PointResult DerivedPoint(const CalibrationRow& r, const std::map<std::string, PointResult>& by_id);

// Runs `rows` (and the rows their ratios and sums need) under `o`, `jobs` processes at a time, each
// in a folder under `work`; results in the order of `rows`. `progress`: an ETA line on stderr.
// `charts`: the points' report.html with their charts (false for outputs nobody opens).
std::vector<PointResult> RunCalibrationRows(const Corpus& c,
                                            const std::vector<const CalibrationRow*>& rows,
                                            const ProfileOverrides& o, int64_t jobs,
                                            const std::string& work, bool progress,
                                            bool charts = true);

// The rows `ids` name plus the rows their ratios and sums are made of (every row when `ids` is
// empty).
std::vector<const CalibrationRow*> SelectRows(const Corpus& c, const std::set<std::string>& ids);

// What a row runs, for the recorded state: the model file and device of a run row, the kernel
// and device of a kernel row (empty when the row does not load yet).
struct RowSubject {
  std::string model, op, device;
  std::string setup;    // run rows: ParallelSetup of the row's run config
  std::string weights;  // run rows: the run config's weights (WeightsName of its quantization)
};
RowSubject Subject(const CalibrationRow& r);

// Fits one group on its fit rows (evaluations under `work`); writes the fitted values into the
// group's YAMLs when `write` and no value ends at a bound or leaves a fit row unsimulated.
std::vector<FitOutcome> FitGroupOnRows(const Corpus& c, const FitGroup& g, int64_t jobs,
                                       const std::string& work, bool write);

struct CalibrationOutput {
  std::string corpus_dir;
  std::vector<PointResult> results;  // corpus order
  Verdict verdict;
  std::vector<FitOutcome> fits;
};

// One `npusim calibrate`: with `fit`, every group that has a row in `only` (all groups when
// `only` is empty) is fitted first; then the selected rows run. Work folders go under `work`.
struct CalibrateRequest {
  std::set<std::string> only;
  int64_t jobs = 2;
  bool fit = false, write = true;
  std::string work;
};
CalibrationOutput CalibrateCorpus(const Corpus& c, const CalibrateRequest& req);

// The row ids of --only values ("a,b" each), every one checked against the corpus (InputError
// naming the nearest id).
std::set<std::string> OnlyRows(const Corpus& c, const std::vector<std::string>& values);

}  // namespace npusim
