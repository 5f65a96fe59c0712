// Running a kernel of the set by name, as the CLI does, for the op suites.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "ops/runner.h"
#include "tests/test_util.h"

namespace npusim::testing {

using Kvs = std::vector<std::pair<std::string, std::string>>;

inline KernelRun RunOp(const std::string& op, const Kvs& kv,
                       const std::string& device = "Ascend910B3",
                       ModeChoice mode = ModeChoice::kAuto, uint64_t seed = 3) {
  ParamValues p(FindOp(op).params());
  for (const auto& [k, v] : kv) p.Set(k, v);
  RunOptions o;
  o.mode = mode;
  o.seed = seed;
  o.use_cache = false;
  return RunKernel(FindOp(op), p, LoadDevice(device), o);
}

// The value a run's host tiling reports for `key`, empty when it reports none.
inline std::string TilingValue(const KernelRun& r, const std::string& key) {
  for (const auto& [k, v] : r.tiling)
    if (k == key) return v;
  return "";
}

// bf16 keeps 8 significant bits: one rounding of the output costs up to 2^-9 relative, a few
// roundings inside the kernel a few times that.
constexpr double kBf16Tol = 1.0 / 128;
constexpr double kFp32Tol = 1e-5;

// The run succeeded functionally, every output is within `tol` of the fp64 reference (relative
// to the largest reference magnitude), and the time is no better than the roofline.
inline void ExpectAccurate(const KernelRun& r, double tol) {
  ASSERT_EQ(r.status, "ok") << r.message;
  ASSERT_TRUE(r.functional);
  ASSERT_FALSE(r.numerics.empty());
  for (const auto& [name, e] : r.numerics) EXPECT_LE(e.norm_err, tol) << r.op << " output " << name;
  EXPECT_GE(r.launch.time_us, r.roofline_us) << r.op;
}

inline void ExpectTimingOnlyMatchesFunctional(const std::string& op, const Kvs& kv,
                                              const std::string& device = "Ascend910B3") {
  KernelRun f = RunOp(op, kv, device, ModeChoice::kFunctional);
  KernelRun t = RunOp(op, kv, device, ModeChoice::kTimingOnly);
  ASSERT_EQ(f.status, "ok") << f.message;
  ASSERT_EQ(t.status, "ok") << t.message;
  EXPECT_EQ(f.launch.cycles, t.launch.cycles) << op;
  EXPECT_EQ(f.launch.instructions, t.launch.instructions) << op;
}

}  // namespace npusim::testing
