// A user's own measurements as corpus rows (`npusim calibrate --add-bench-serving`,
// `--add-msprof`): a bench_serving result file with the run config of its server becomes serving
// rows; an msprof op summary becomes kernel rows (OP Type and input shapes mapped to the kernel
// set by MapMsprofOp; unmapped ops listed).
#pragma once

#include <string>
#include <vector>

#include "workloads/calibration.h"

namespace npusim {

// A row per figure (mean TTFT, mean TPOT, output throughput) of every JSON line of `file`, the
// run config `run` with its load replaced by the line's; ids "<prefix>-<line>-<figure>" (prefix
// defaults to bench-<file stem>).
std::vector<CalibrationRow> BenchServingRows(const std::string& file, const std::string& run,
                                             const std::string& prefix);

// A kernel row per distinct mapped (OP Type, Input Shapes) of an op_summary CSV taken on
// `device`, measured = the mean Task Duration of its launches; `unmapped` names the ops with no
// counterpart ("Type (N launches): why").
struct MsprofImport {
  std::vector<CalibrationRow> rows;
  std::vector<std::string> unmapped;
};
MsprofImport MsprofRows(const std::string& file, const std::string& device,
                        const std::string& prefix);

// Writes `r` as DIR/<id>.yaml and reads it back as the corpus would; an id already in `existing`
// is an InputError. Returns the path.
std::string AddCorpusRow(const std::string& dir, const CalibrationRow& r, const Corpus& existing);

}  // namespace npusim
