// `npusim calibrate [DIR] [--fit [--no-write]] [--record] [--only ID[,ID...]]... [-j N] [--out
// DIR]` (and the importers --add-bench-serving RESULT.jsonl --run RUN.yaml, --add-msprof CSV
// --device SOC, which add rows to DIR): every row of the calibration corpus simulated as its own
// npusim process (`kernel` or `run`), N at a time, compared with its measurement; --fit first fits
// each group of fit.yaml on its fit rows (Nelder-Mead on the mean squared log error, from the
// group's declared start, inside its bounds) and writes the values into the device / host YAMLs
// unless a value ends at a bound;
// --record keeps the results in DIR/state.json, which every run's fidelity section reads.
#include "app/calibrate.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <iostream>

#include "app/cli_util.h"
#include "app/command_line.h"
#include "devices/device_config.h"
#include "model/error.h"
#include "reports/calibration_report.h"
#include "workloads/calibration.h"
#include "workloads/calibration_import.h"
#include "workloads/calibration_run.h"
#include "workloads/run_config.h"
#include "workloads/step_cost.h"

namespace npusim {

namespace {

// NPUSIM_KERNEL_WORKERS for this process's children when the caller left it unset: the cores
// shared among the `jobs` runs at a time (at least one worker each), so -j runs do not
// oversubscribe the machine with kernel-timer workers.
class KernelWorkersScope {
 public:
  explicit KernelWorkersScope(int64_t jobs) {
    const char* set = std::getenv("NPUSIM_KERNEL_WORKERS");
    if (set && *set) return;
    const int64_t share = std::max<int64_t>(1, MachineCores() / std::max<int64_t>(1, jobs));
    ::setenv("NPUSIM_KERNEL_WORKERS", std::to_string(share).c_str(), 1);
    mine_ = true;
  }
  ~KernelWorkersScope() {
    if (mine_) ::unsetenv("NPUSIM_KERNEL_WORKERS");
  }
  KernelWorkersScope(const KernelWorkersScope&) = delete;
  KernelWorkersScope& operator=(const KernelWorkersScope&) = delete;

 private:
  bool mine_ = false;
};

// --add-bench-serving / --add-msprof: the imported rows written into the corpus `dir`.
int AddRows(const Args& a, const std::string& dir) {
  std::vector<CalibrationRow> rows;
  if (!Option(a, "--add-bench-serving", "").empty()) {
    const std::string run = Option(a, "--run", "");
    if (run.empty())
      throw InputError(
          "--add-bench-serving needs --run RUN.yaml: the run config that describes the measured "
          "server");
    LoadRunConfig(run);  // a bad run config is reported now, not at calibration time
    rows = BenchServingRows(Option(a, "--add-bench-serving", ""), run, Option(a, "--id", ""));
  } else {
    const MsprofImport m =
        MsprofRows(Option(a, "--add-msprof", ""), Option(a, "--device", ""), Option(a, "--id", ""));
    rows = m.rows;
    for (const std::string& u : m.unmapped) std::cout << "unmapped " << u << "\n";
  }
  const Corpus existing = LoadCorpus(dir);
  for (const CalibrationRow& r : rows)
    std::cout << "added " << r.id << " (" << AddCorpusRow(dir, r, existing) << ")\n";
  return 0;
}

}  // namespace

int Calibrate(std::vector<std::string> argv) {
  Args a = ParseCommand(Command("calibrate"), argv);
  ConfigureProcess(a);
  if (a.positional.size() > 1)
    throw InputError("npusim calibrate takes one corpus directory (default configs/calibration)");
  const std::string dir = a.positional.empty() ? ConfigDir() + "/calibration" : a.positional[0];
  if (!Option(a, "--add-bench-serving", "").empty() || !Option(a, "--add-msprof", "").empty())
    return AddRows(a, dir);
  const Corpus corpus = LoadCorpus(dir);
  CalibrateRequest req;
  std::vector<std::string> only;
  for (const auto& [k, v] : a.options)
    if (k == "--only") only.push_back(v);
  req.only = OnlyRows(corpus, only);
  req.jobs = JobsOption(a, 2);
  KernelWorkersScope workers(req.jobs);
  req.fit = Has(a, "--fit");
  req.write = !Has(a, "--no-write");
  // Everything goes into <out>.partial, moved into place once complete.
  const std::string out = Option(a, "--out", "reports/out/calibrate");
  OutputFolder folder(out);
  req.work = std::filesystem::absolute(folder.path()).string();
  const CalibrationOutput o = CalibrateCorpus(corpus, req);
  WriteCalibrationOutputs(corpus, o, folder.path());
  if (Has(a, "--record")) RecordCalibrationState(corpus, o.results, dir + "/state.json");
  folder.Commit();
  std::cout << (Has(a, "--quiet") ? o.verdict.Line() + "\n" : CalibrationSummary(corpus, o));
  spdlog::info("written {}/", out);
  return 0;
}

}  // namespace npusim
