// The calibration corpus (configs/calibration/): one YAML per measured point, what it takes to
// simulate it (a kernel or a serving run), the measured figure, a tolerance and a role (fit or
// check); the fit groups (fit.yaml) that name which declared constants are fitted on which rows;
// and the plain math of `npusim calibrate`: errors, the verdict, and a bounded Nelder-Mead on the
// log error. Running the points (child processes) and writing reports live in app/ and reports/.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "model/config.h"

namespace npusim {

struct CalibrationRow {
  std::string id, file, source, note;
  std::string role = "check";  // fit or check
  std::string status = "ok";   // ok, or "needs <feature>": kept in the corpus, not simulated
  double tolerance = 0.25;     // |simulated / measured - 1| a check passes with
  std::string kind;            // kernel, run, ratio or sum
  // kernel rows: `npusim kernel NAME --device DEVICE --set k=v ... --timing-only`
  std::string kernel, device;
  KeyValues params;
  std::string
      launch;  // one stage of a multi-launch kernel (its launch name), or "" for the whole op
  int64_t host_launches =
      0;  // e2e rows of back-to-back calls: a call takes max(device time, this many eager launches)
  std::string host;  // host profile for host_launches
  // metric bandwidth_gbps: the bytes the source divides by the kernel's time (DeepEP's tests
  // report recv bytes / time as "bottleneck bandwidth"); the row's value is bytes / time_us / 1e3.
  double bytes = 0;
  // run rows: `npusim run RUN --set k=v ...`
  std::string run;  // run config path, resolved against the row file
  KeyValues sets;
  std::string metric;  // dotted path into the point's metrics.json (time_us, mean_tpot_ms, ...)
  // Derived rows, figures of other rows: ratio (of[0] / of[1]) and sum (of every row in `of`:
  // one launch that runs, back to back, kernels the corpus times on their own rows)
  std::vector<std::string> of;
  // A sum's terms that no measured row times (a fused launch measured only whole, at a shape
  // with no per-stage figures): kernel rows written inline in the sum, simulated with it and
  // reported only through it. Their ids are "<sum id>/<position in the sum>".
  std::vector<CalibrationRow> terms;
  bool Derived() const { return kind == "ratio" || kind == "sum"; }
  // A kernel row's kernel as reports name it: "wy_fast", "chunk_gated_delta_rule.chunk_h".
  std::string KernelLabel() const { return kernel + (launch.empty() ? "" : "." + launch); }
  double measured = 0;
  std::string measured_kind =
      "value";  // value, or cap: the measurement is an SLO cap the real value is at or below
  std::string
      family;  // model family and shape for the fidelity lookup (e.g. "qwen3_next tp16 dp4")
  // Its simulation takes minutes on a 2-core machine: its corpus test carries the ctest label
  // calibration_slow, which `make test` leaves to `make test-slow` (calibrate runs it like any
  // row).
  bool slow = false;
};

struct FitConstant {
  std::string target;  // "device:Ascend910B2,Ascend910B3" or "host:vllm-ascend-eager"
  std::string key;     // dotted key in those YAMLs (triton.launch_us, step_us)
  double lo = 0, hi = 0, start = 0;
  std::string why;  // the bounds' reason
};

struct FitGroup {
  std::string name, why;
  std::vector<FitConstant> constants;
  std::vector<std::string> rows;  // fit rows (each must have role fit)
};

// "A, B, C": row ids for messages and comments.
std::string JoinIds(const std::vector<std::string>& ids);

struct Corpus {
  std::string dir;
  std::vector<CalibrationRow> rows;  // sorted by id
  std::vector<FitGroup> groups;
  const CalibrationRow* Find(const std::string& id) const;
};

// Loads every *.yaml of `dir` except fit.yaml and state.yaml as a row, and fit.yaml as the
// groups; unknown keys, duplicate ids, fit rows outside any group and group rows that are not
// fit rows are InputErrors.
Corpus LoadCorpus(const std::string& dir);

// The fit groups of DIR/fit.yaml (none when there is no fit.yaml), without the rows.
std::vector<FitGroup> LoadFitGroups(const std::string& dir);

// The marker `npusim calibrate --fit` writes into the comment of every value it fitted.
constexpr const char* kFittedMarker = "fitted by npusim calibrate --fit";

// Reads one row file as LoadCorpus would (InputError on a bad one).
CalibrationRow ReadRowCheck(const std::string& file);

// Files a fit constant's target names (device YAMLs under configs/devices, host profiles under
// configs/hosts), as paths.
std::vector<std::string> TargetFiles(const FitConstant& c);

// The YAML text with the scalar at a dotted key replaced (comment replaced too when `comment` is
// not empty); InputError when the key is not there. Keeps every other line byte for byte.
std::string SetYamlScalar(const std::string& text, const std::string& dotted_key,
                          const std::string& value, const std::string& comment = "");

// The line of the scalar at a dotted key ("" when absent): its value and its comment.
std::string YamlLine(const std::string& text, const std::string& dotted_key);
// The scalar's text on that line, without its comment ("" when absent).
std::string YamlValue(const std::string& text, const std::string& dotted_key);

// Signed relative error simulated / measured - 1. For a cap (the real value is at or below the
// measured one) a simulated value under the cap counts as 0.
double RelativeError(double simulated, double measured, const std::string& measured_kind = "value");

struct PointResult {
  std::string id;
  std::string status = "ok";  // ok, needs ..., failed (the child's message in `message`)
  std::string message;
  double simulated = 0, error = 0;
  bool pass = false;
  // A sum's terms as simulated, in its order: a row's id, or an inline kernel as kernel[.launch]
  // (which stage of a fused launch carries the gap).
  std::vector<std::pair<std::string, double>> terms;
};

struct Verdict {
  int64_t rows = 0, simulated = 0, needs = 0, failed = 0;
  int64_t check_rows = 0, check_pass = 0, fit_rows = 0, fit_pass = 0;
  double check_median_abs = 0, check_worst_abs = 0, fit_median_abs = 0;
  std::string worst_check;
  std::string Line() const;  // one-line summary
};
Verdict Summarise(const Corpus& c, const std::vector<PointResult>& results);

double Median(std::vector<double> v);

// Bounded Nelder-Mead on `f` over [lo, hi] per coordinate (points are clamped into the box):
// the usual reflection / expansion / contraction / shrink with coefficients 1, 2, 0.5, 0.5,
// stopping when the simplex's values agree within `ftol`, when it has shrunk to a point (1e-4
// of the box), or after `max_evals` evaluations.
struct FitResult {
  std::vector<double> x;
  double value = 0;
  int evals = 0;
};
FitResult NelderMead(const std::function<double(const std::vector<double>&)>& f,
                     const std::vector<double>& start, const std::vector<double>& lo,
                     const std::vector<double>& hi, int max_evals = 60, double ftol = 1e-4);

// What `--fit` did with one constant of a group.
struct FitOutcome {
  std::string group, target, key;
  double value = 0, lo = 0, hi = 0, before = 0;
  bool at_bound = false;  // reported as a modelling gap and not written
  std::string
      failed_rows;  // fit rows that did not simulate at the fitted point: not written either
  std::vector<std::string> rows;
  double rms_log_error = 0;  // over the group's fit rows at the fitted point
  int evals = 0;
};

// A fitted value within 1 % of the bound's width from a bound: the model cannot reach the rows
// inside its bounds (a modelling gap, not a fit).
bool AtBound(double x, double lo, double hi);

// A row as the YAML text of one corpus file (keys in the loader's order, strings quoted).
std::string RowYaml(const CalibrationRow& r);

// An msprof op_summary row mapped to a kernel of the set: `op_type` is msprof's OP Type,
// `input_shapes` its Input Shapes ("4096,2048;2048,3072"), `dtypes` its Input Data Types. False
// (with `why`) when the op has no counterpart or its shapes do not say enough.
bool MapMsprofOp(const std::string& op_type, const std::string& input_shapes,
                 const std::string& dtypes, std::string& kernel, KeyValues& params,
                 std::string& why);

}  // namespace npusim
