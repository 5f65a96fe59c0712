// What every kernel in the set provides, AscendC-sample style: declared parameters, the tensors
// it reads and writes, a host tiling that builds the launch, and an fp64 reference.
#pragma once

#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "devices/chip.h"
#include "devices/core_runtime.h"
#include "devices/device_config.h"
#include "model/config.h"
#include "model/rng.h"
#include "model/tensor.h"

namespace npusim {

// A kernel parameter, declared once in the same terms as every other parameter (ParamSpec:
// name, unit, meaning, range, allowed values), with its type and default. Op parameters have no
// unit yet; the range is inclusive.
struct OpParam : ParamSpec {
  enum class Kind { kInt, kFloat, kString };
  Kind kind = Kind::kInt;
  std::string default_value;
  OpParam(std::string name, Kind kind, std::string default_value, std::string desc,
          double min = -1e18, double max = 1e18, std::vector<std::string> choices = {});
};

// Resolved parameter values (defaults filled in), validated against the declarations and parsed
// once: a number is kept as one (Int / Float read it back), its canonical text beside it.
class ParamValues {
 public:
  ParamValues() = default;
  explicit ParamValues(std::vector<OpParam> specs);
  // Sets `key=value` from the CLI or a YAML; InputError (exit 2) names the nearest valid key.
  void Set(const std::string& key, const std::string& value);
  int64_t Int(const std::string& key) const;
  double Float(const std::string& key) const;
  const std::string& Str(const std::string& key) const;
  const std::vector<std::pair<std::string, std::string>>& items() const { return values_; }
  std::string Canonical() const;  // "k1=v1,k2=v2" in declaration order (memo key)

 private:
  size_t Index(const std::string& key) const;  // InputError naming the nearest for unknown keys
  std::vector<OpParam> specs_;
  std::vector<std::pair<std::string, std::string>> values_;  // the text, as given or normalised
  std::vector<double> numbers_;  // kInt / kFloat: the value (an int64 is exact below 2^53)
};

// kWorkspace: GM scratch of the kernel (e.g. the AIC -> AIV hand-off), neither filled nor checked.
enum class TensorRole { kInput, kOutput, kInOut, kWorkspace };
inline bool IsRead(TensorRole r) { return r == TensorRole::kInput || r == TensorRole::kInOut; }
inline bool IsWritten(TensorRole r) { return r == TensorRole::kOutput || r == TensorRole::kInOut; }
struct TensorSpec {
  std::string name;
  Shape shape;
  DType dtype = DType::kFloat32;
  TensorRole role = TensorRole::kInput;
  bool control =
      false;  // small index data the kernel's scalar reads: kept even in timing-only mode
  // Integer inputs: the values the kernel and its reference can index with. A tensor given by
  // the user (--inputs) is checked against them before anything reads it: an index of -1 or past
  // a pool is an input error, not a heap corruption.
  int64_t min_value = std::numeric_limits<int64_t>::min();
  int64_t max_value = std::numeric_limits<int64_t>::max();
  bool nondecreasing = false;  // offsets such as query_start_loc
  // Its values follow from the parameters (offsets from a seq_lens parameter the kernel is planned
  // by): a user's copy (--inputs) must agree with what the parameters give, or it would be
  // silently ignored.
  bool fixed_by_params = false;
};

using TensorMap = std::map<std::string, Tensor>;
using GmMap = std::map<std::string, GmBuffer>;
using Expected = std::map<std::string, std::vector<double>>;

// A timing-only launch too large to simulate in reasonable time, timed from smaller instances of
// the same op that are simulated. The op declares what a core unit's time depends on: each unit
// runs `units` work items costing `work` in all (e.g. FIA: query tiles and the KV pages they
// read), so a unit's time is a * units + b * work, fitted on the probes (ops/runner.cpp says how)
// and the launch's time is the slowest unit of the full instance under that fit. The op only
// offers it where that holds: units that do not interact except through shared bandwidth, a
// full launch balanced over its units, and a working set that fits L2 as the probes' does.
struct UnitWork {
  double units = 0, work = 0;
};
struct Extrapolation {
  std::vector<ParamValues> probes;                // simulated, each small enough not to extrapolate
  std::vector<std::vector<UnitWork>> probe_work;  // per probe, per core unit
  std::vector<UnitWork> work;                     // the full launch, per core unit
  std::string work_name;                          // "KV pages"
  // HBM traffic of the full launch when it is its footprint (each byte read or written once, the
  // re-reads hitting L2), which work does not scale to; 0 = scale the probe's with the work.
  double hbm_read_bytes = 0, hbm_write_bytes = 0;
  // An op of several launches (LaunchPlan::then) is timed launch by launch instead, when these are
  // set: each launch's cycles fit as a + b * size over the probes (size: tokens per request, ...)
  // and `work` is unused. Exact when every launch's busiest core grows linearly with the size and
  // its hand-offs miss L2 alike in the probes and the full chain.
  std::vector<double> probe_sizes;  // per probe
  double size = 0;                  // the full launch's
};

struct LaunchPlan {
  KernelLaunch launch;
  std::vector<KernelLaunch> then;  // further launches of the op, run in order after `launch`
  std::vector<std::pair<std::string, std::string>> tiling;  // reported and part of the memo key
};

class Op {
 public:
  virtual ~Op() = default;
  virtual std::string name() const = 0;
  virtual std::string summary() const = 0;
  virtual std::vector<OpParam> params() const = 0;
  virtual std::vector<TensorSpec> tensors(const ParamValues& p) const = 0;
  // Fills every materialised input (and in/out) tensor with seeded data.
  virtual void FillInputs(const ParamValues& p, TensorMap& t, Rng& rng) const = 0;
  // Host tiling and launch; `gm` holds every tensor's GM buffer.
  virtual LaunchPlan Plan(const ParamValues& p, const DeviceConfig& d, GmMap& gm) const = 0;
  // fp64 reference of every output and in/out tensor, from the inputs before the kernel ran.
  virtual Expected Reference(const ParamValues& p, const TensorMap& inputs) const = 0;
  // Multiply-accumulates a functional run executes (cube ops): auto mode goes timing-only above
  // a limit, as it does for tensor bytes, so real matmul shapes do not take minutes.
  virtual double FunctionalMacs(const ParamValues&) const { return 0; }
  // Non-empty: why these parameters only time the op (it moves data without computing it); auto
  // mode runs it timing-only and --functional is an input error.
  virtual std::string TimingOnly(const ParamValues&) const { return ""; }
  // Chips the op's tensors are spread over: a collective's tensors hold one row per rank, each on
  // its own chip, so the HBM check is per chip (total bytes / chips).
  virtual int64_t Chips(const ParamValues&) const { return 1; }
  // Timing-only: an extrapolation when the launch is too large to simulate (see Extrapolation);
  // nullopt (the default) simulates it. `gm` holds the control tensors.
  virtual std::optional<Extrapolation> Extrapolate(const ParamValues&, const DeviceConfig&,
                                                   GmMap&) const {
    return std::nullopt;
  }
};

// Registry of the kernel set, in name order.
const std::vector<std::unique_ptr<Op>>& AllOps();
const Op& FindOp(const std::string& name);  // InputError with the nearest name

}  // namespace npusim
