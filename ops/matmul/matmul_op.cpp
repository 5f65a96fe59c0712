// `matmul`: registration, inputs, launch and fp64 reference (kernels.md §7.4, the bf16 linear).
#include "ops/common/op_util.h"
#include "ops/common/probe_extrapolation.h"
#include "ops/common/reference_gemm.h"
#include "ops/matmul/matmul_kernel.h"

namespace npusim {

namespace {

class MatmulOp : public Op {
 public:
  std::string name() const override { return "matmul"; }
  std::string summary() const override {
    return "y = x W on the cube: L1/L0 double-buffered tiles, fp32 accumulation in L0C, FixPipe to "
           "bf16/fp16 (§7.4)";
  }
  std::vector<OpParam> params() const override {
    using K = OpParam::Kind;
    return {
        {"m", K::kInt, "4096", "rows of x (tokens)", 1, 1e7},
        {"k", K::kInt, "2048", "reduction size (hidden); a whole number of 32 B", 1, 1e6},
        {"n", K::kInt, "3072", "output columns per rank (Qwen3-Next in_proj_qkvz at TP 4)", 1, 1e7},
        {"dtype",
         K::kString,
         "bfloat16",
         "x, W and y element type",
         0,
         0,
         {"bfloat16", "float16", "float32"}},
        {"trans_b", K::kInt, "0", "1: W stored [n, k] (torch Linear), 0: [k, n]", 0, 1},
        {"base_m", K::kInt, "0", "output tile rows (0 = auto)", 0, 4096},
        {"base_n", K::kInt, "0", "output tile columns (0 = auto)", 0, 4096},
        {"base_k", K::kInt, "0", "K step through L1/L0 (0 = largest that fits)", 0, 8192},
        {"buffer_num", K::kInt, "2", "L1/L0 buffers per operand", 1, 2}};
  }
  std::vector<TensorSpec> tensors(const ParamValues& p) const override {
    const DType t = ParseDType(p.Str("dtype"));
    const int64_t m = p.Int("m"), k = p.Int("k"), n = p.Int("n");
    return {{"x", {m, k}, t},
            {"w", p.Int("trans_b") ? Shape{n, k} : Shape{k, n}, t},
            {"y", {m, n}, t, TensorRole::kOutput}};
  }
  void FillInputs(const ParamValues& p, TensorMap& t, Rng& rng) const override {
    op_util::FillNormal(t["x"], rng);
    op_util::FillNormal(t["w"], rng, 1.0 / std::sqrt(static_cast<double>(p.Int("k"))));
  }
  double FunctionalMacs(const ParamValues& p) const override {
    return static_cast<double>(p.Int("m")) * p.Int("n") * p.Int("k");
  }
  static matmul::Tiling Tiling(const ParamValues& p, const DeviceConfig& d) {
    return matmul::ComputeTiling(p.Int("m"), p.Int("n"), p.Int("k"),
                                 static_cast<int64_t>(SizeOf(ParseDType(p.Str("dtype")))),
                                 p.Int("base_m"), p.Int("base_n"), p.Int("base_k"),
                                 p.Int("buffer_num"), p.Int("trans_b") != 0, d);
  }
  // Long launches: timed from two probes of fewer row bands (ops/common/probe_extrapolation.h).
  std::optional<Extrapolation> Extrapolate(const ParamValues& p, const DeviceConfig& d,
                                           GmMap&) const override {
    return op_util::TileStreamExtrapolation(p, op_util::TileStreamOf(Tiling(p, d)));
  }
  LaunchPlan Plan(const ParamValues& p, const DeviceConfig& d, GmMap& gm) const override {
    const DType dt = ParseDType(p.Str("dtype"));
    const matmul::Tiling t = Tiling(p, d);
    LaunchPlan plan;
    plan.launch = op_util::LaunchOf<matmul::KernelMatmul>(name(), t.blocks, CoreType::kAic, dt,
                                                          &gm["x"], &gm["w"], &gm["y"], t);
    plan.tiling = matmul::Describe(t);
    return plan;
  }
  Expected Reference(const ParamValues& p, const TensorMap& in) const override {
    const int64_t m = p.Int("m"), k = p.Int("k"), n = p.Int("n");
    const bool tb = p.Int("trans_b") != 0;
    const Tensor &x = in.at("x"), &w = in.at("w");
    std::vector<double> y(static_cast<size_t>(m * n), 0.0),
        wk(static_cast<size_t>(k * n));  // W as [k, n]
    for (int64_t kk = 0; kk < k; ++kk)
      for (int64_t j = 0; j < n; ++j) wk[kk * n + j] = w.At(tb ? j * k + kk : kk * n + j);
    std::vector<double> xd(static_cast<size_t>(m * k));
    for (int64_t i = 0; i < m * k; ++i) xd[static_cast<size_t>(i)] = x.At(i);
    ref::GemmF64(xd.data(), wk.data(), y.data(), m, k, n);
    return {{"y", y}};
  }
};

}  // namespace

std::unique_ptr<Op> MakeMatmulOp() { return std::make_unique<MatmulOp>(); }

}  // namespace npusim
