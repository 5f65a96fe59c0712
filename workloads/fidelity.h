// How far to trust a run: the calibration state of the device and host profiles it used (which
// of their constants were fitted, to what, on which corpus rows) and the corpus error of the
// nearest rows, read from the last recorded `npusim calibrate --record` (configs/calibration/
// state.json). Every run's metrics.json and report carry it.
#pragma once

#include <nlohmann/json_fwd.hpp>
#include <string>
#include <utility>
#include <vector>

namespace npusim {

struct FittedValue {
  std::string file, key, value, rows, group;
};

// One row of the recorded corpus state (state.json's "rows") as the lookups read it.
struct CorpusRow {
  std::string id, role, kind, model, op, metric, device, setup, status;
  double error = 0;     // simulated / measured - 1, when status is ok
  std::string weights;  // run rows: the run's weight quantization ("bf16" when it has none)
  // The row's error as a time error: a bandwidth figure error e means the time is 1 / (1 + e).
  double TimeError() const { return metric == "bandwidth_gbps" ? 1 / (1 + error) - 1 : error; }
  // Whether the metric says how fast (a time, a throughput or a bandwidth; not a ratio of two).
  bool HasSpeed() const;
  // The row's error as a speed error, > 0 when the simulator is faster than the hardware: a time
  // error e is a speed error 1 / (1 + e) - 1, a throughput or bandwidth error is one already.
  double SpeedError() const;
};
// Rows in state.json's shape (an array of objects; missing keys stay empty).
std::vector<CorpusRow> CorpusRowsFrom(const nlohmann::json& rows);

// Check rows that share one trait (their weights' quantization, device, model or metric) and
// lean one way: a cost the model misses for all of them, where scatter would cancel out. The
// median speed error is signed (> 0: simulated faster than measured).
struct CorpusBias {
  std::string trait, value;  // "weights" "w8a8_dynamic", "device" "Ascend910B2", ...
  std::vector<std::string> rows;
  double median_speed_error = 0;
  int faster = 0, slower = 0;
  // "weights w8a8_dynamic +16 % on 54 check rows (46 faster, 8 slower)"
  std::string Summary() const;
};
// Every trait value with at least `min_rows` simulated check rows, largest |median| first (ties
// by trait and value: deterministic). Traits: weights and model (serving rows), device and
// metric (every row with a speed metric).
std::vector<CorpusBias> CorpusBiases(const std::vector<CorpusRow>& rows, size_t min_rows = 3);

struct Fidelity {
  std::vector<FittedValue>
      fitted;  // constants of the profiles used that fit.yaml fits and were written
  std::vector<FittedValue>
      unfitted;  // ones whose fit was not accepted (a bound, failing rows): modelling gaps
  std::string state_file;               // "" when no calibration was recorded
  std::vector<CorpusRow> recorded;      // its rows, read once (a run's per-kernel view reads them)
  std::string basis;                    // which rows count as nearest (same model and device, ...)
  std::vector<std::string> check_rows;  // nearest simulated check rows
  std::vector<std::string> fit_rows;    // nearest fit rows
  double check_median_abs = 0, check_worst_abs = 0, fit_median_abs = 0;
  // The corpus's lean on the run's own traits: rows with its weights, model, device (CorpusBiases).
  std::vector<CorpusBias> bias;
  std::string Summary() const;  // "calibrated: ...; median |error| 12 % on 4 checked rows (...)"
};

struct RunConfig;

// A serving run's parallel setup as the fidelity lookup compares it: "tp16 dp4 ep16 nextn"
// (tp always; dp, ep when above 1; the speculative algorithm when there is one).
std::string ParallelSetup(const RunConfig& rc);

// For a serving run: `model_file`, `device_soc` and `setup` (ParallelSetup) pick the nearest
// rows, `weights` (RunConfig::quantization, "" for bf16) the bias groups; `device_file` and
// `host_file` are the profiles the run loaded. For a kernel run: `op` instead of a model, and no
// setup or weights.
Fidelity FidelityFor(const std::string& model_file, const std::string& op,
                     const std::string& device_soc, const std::string& setup,
                     const std::string& device_file, const std::string& host_file,
                     const std::string& weights = "");
// The bias groups of `rows` (CorpusBiases) a run with these traits belongs to: its weights and
// model (serving runs: `op` empty) and its device.
std::vector<CorpusBias> RunBiases(const std::vector<CorpusRow>& rows, const std::string& model_file,
                                  const std::string& op, const std::string& device_soc,
                                  const std::string& weights);
// How a run config's weights are named in the corpus state: its quantization, "bf16" when none.
inline std::string WeightsName(const std::string& quantization) {
  return quantization.empty() ? "bf16" : quantization;
}
// The corpus part of FidelityFor (basis, nearest rows, their errors) on `rows`.
void NearestCorpusRows(Fidelity& f, const std::vector<CorpusRow>& rows,
                       const std::string& model_file, const std::string& op,
                       const std::string& device_soc, const std::string& setup);

// How the corpus's kernel rows of one kernel a run spends time in came out: a serving run's
// figures are only as good as its biggest kernels, so each carries its own check rows. Errors
// are in time: a bandwidth row's error is turned into the time error it implies.
struct KernelCheck {
  std::string op;
  double share = 0;   // of the run's device time
  std::string basis;  // "same device", "other devices", "all devices" or "" (no simulated row)
  std::vector<std::string> rows;  // the check rows that count
  double median_abs = 0, worst_abs = 0;
  double median_time_error = 0;  // signed: > 0 the simulator is slower than the hardware
  int faster = 0, slower = 0;    // rows the simulator times faster / slower than measured
  std::string Summary() const;   // "C6-matmul-8192: error 13 % median, 13 % worst (1 slower)"
};

// `ops`: (kernel, share of device time), biggest first. Rows of the same kernel on the run's
// device count; without any, the kernel's rows on other devices do.
std::vector<KernelCheck> KernelChecks(const std::vector<std::pair<std::string, double>>& ops,
                                      const std::string& device_soc,
                                      const std::vector<CorpusRow>& rows);
// Every kernel of the kernel rows with its check rows on all devices, worst median |error|
// first: where the device model stands kernel by kernel (calibrate's table).
std::vector<KernelCheck> CorpusKernelChecks(const std::vector<CorpusRow>& rows);

}  // namespace npusim
