// Runs one kernel end to end: tensors, seeded or user inputs, mode choice, launch on the chip,
// roofline, numerics against the fp64 reference, memoisation.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>

#include "devices/chip.h"
#include "ops/op.h"

namespace npusim {

enum class ModeChoice { kAuto, kFunctional, kTimingOnly };

struct RunOptions {
  ModeChoice mode = ModeChoice::kAuto;
  uint64_t seed = 0;
  std::string inputs_dir;             // .npy per input, named <tensor>.npy
  const TensorMap* inputs = nullptr;  // in-memory inputs by tensor name (functional mode)
  uint64_t functional_limit_bytes =
      1ull << 30;  // auto mode: timing-only when a functional run would hold more
                   // host memory (tensors, input snapshot, fp64 reference, copies)
  double functional_limit_macs = 2e9;  // auto mode: timing-only above this (Op::FunctionalMacs)
  TraceRecorder* trace = nullptr;
  bool use_cache = true;
  // Timing-only: large launches an op can extrapolate are (Op::Extrapolate), and then record no
  // timeline in `trace`; false simulates every launch in full.
  bool extrapolate = true;
};

struct TensorError {
  double max_abs_err = 0, max_rel_err = 0;
  // max_abs_err / max |reference|: the figure to compare with a dtype's precision (bf16 2^-8),
  // not blown up by outputs that happen to be near zero as max_rel_err is.
  double norm_err = 0;
  int64_t elements = 0;
};

struct KernelRun {
  std::string op, device;
  std::string status = "ok";  // or the SimFailure status
  std::string message;        // the failure message
  bool functional = false;
  std::string mode_reason;
  ParamValues params;
  std::vector<std::pair<std::string, std::string>> tiling;
  std::vector<TensorSpec> tensors;
  LaunchResult launch;
  std::vector<std::pair<std::string, double>>
      launch_times;  // per launch of a multi-launch op: name, us
  // Every launch in full, in order (op_summary.csv has a row per launch, as msprof does).
  struct Launch {
    std::string name;
    int64_t block_dim = 0;
    CoreType core_type = CoreType::kAiv;
    LaunchResult result;
  };
  std::vector<Launch> launches;
  int64_t torch_ops = 0;  // of launch_times, the framework's torch ops (KernelLaunch::torch_op)
  int64_t block_dim = 0;
  CoreType core_type = CoreType::kAiv;
  double memory_bound_us = 0, cube_bound_us = 0, vector_bound_us = 0, link_bound_us = 0,
         roofline_us = 0;
  std::map<std::string, TensorError> numerics;  // functional mode only
  TensorMap outputs;                            // functional mode only
  bool from_cache = false;
  bool extrapolated = false;  // timed from simulated probes (Op::Extrapolate), see mode_reason
};

// The resource whose bound sets the roofline time: "memory", "cube", "vector" or "link".
std::string RooflineBound(const KernelRun& r);

KernelRun RunKernel(const Op& op, const ParamValues& params, const DeviceConfig& device,
                    const RunOptions& options);

// One chip per distinct device configuration per process (SystemC processes cannot be removed).
Chip& ChipFor(const DeviceConfig& device);
// Every parameter of the device as exact text (DeviceParams): the key of its chip, of memoised
// runs and of disk-cache entries.
std::string DeviceFingerprint(const DeviceConfig& device);

struct CacheStats {
  int64_t hits = 0, misses = 0;
};
CacheStats KernelCacheStats();

}  // namespace npusim
