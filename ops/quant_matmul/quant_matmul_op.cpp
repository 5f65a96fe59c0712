// `quant_matmul`: registration, inputs, launch and fp64 reference (kernels.md §7.4, W8A8 dynamic).
#include <algorithm>
#include <cmath>

#include "model/error.h"
#include "ops/common/op_util.h"
#include "ops/common/probe_extrapolation.h"
#include "ops/common/reference_gemm.h"
#include "ops/quant_matmul/quant_matmul_kernel.h"

namespace npusim {

namespace {

class QuantMatmulOp : public Op {
 public:
  std::string name() const override { return "quant_matmul"; }
  std::string summary() const override {
    return "W8A8: y = (q_x q_w) s_x[t] s_w[n], int8 cube -> int32 workspace -> AIV dequant to bf16 "
           "(§7.4)";
  }
  std::vector<OpParam> params() const override {
    using K = OpParam::Kind;
    return {{"m", K::kInt, "4096", "tokens", 1, 1e7},
            {"k", K::kInt, "2048", "reduction size (hidden); a multiple of 32", 1, 1e6},
            {"n", K::kInt, "3072", "output columns per rank", 1, 1e7},
            {"out_dtype", K::kString, "bfloat16", "y element type", 0, 0, {"bfloat16", "float16"}},
            {"trans_b", K::kInt, "1", "1: q_w stored [n, k] (modelslim layout), 0: [k, n]", 0, 1},
            {"base_m", K::kInt, "0", "output tile rows (0 = auto)", 0, 4096},
            {"base_n", K::kInt, "0", "output tile columns (0 = auto)", 0, 4096},
            {"base_k", K::kInt, "0", "K step through L1/L0 (0 = largest that fits)", 0, 8192},
            {"buffer_num", K::kInt, "2", "L1/L0 buffers per operand", 1, 2}};
  }
  std::vector<TensorSpec> tensors(const ParamValues& p) const override {
    const int64_t m = p.Int("m"), k = p.Int("k"), n = p.Int("n");
    return {{"q_x", {m, k}, DType::kInt8},
            {"q_w", p.Int("trans_b") ? Shape{n, k} : Shape{k, n}, DType::kInt8},
            {"s_x", {m}, DType::kFloat32, TensorRole::kInput, true},  // read by the AIV scalar
            {"s_w", {n}, DType::kFloat32},
            {"y", {m, n}, ParseDType(p.Str("out_dtype")), TensorRole::kOutput},
            {"workspace",
             {quant_matmul::LargestAccWorkspaceElems(p.Int("m"), p.Int("n"), p.Int("base_m"),
                                                     p.Int("base_n"))},
             DType::kInt32,
             TensorRole::kWorkspace}};
  }
  void FillInputs(const ParamValues&, TensorMap& t, Rng& rng) const override {
    op_util::FillUniform(t["q_x"], rng, -127.0, 127.0);  // stored with rint: integers
    op_util::FillUniform(t["q_w"], rng, -127.0, 127.0);
    op_util::FillUniform(t["s_x"], rng, 0.001, 0.05);
    op_util::FillUniform(t["s_w"], rng, 0.0005, 0.005);
  }
  double FunctionalMacs(const ParamValues& p) const override {
    return static_cast<double>(p.Int("m")) * p.Int("n") * p.Int("k");
  }
  static matmul::Tiling Tiling(const ParamValues& p, const DeviceConfig& d) {
    return quant_matmul::ComputeTiling(p.Int("m"), p.Int("n"), p.Int("k"), p.Int("base_m"),
                                       p.Int("base_n"), p.Int("base_k"), p.Int("buffer_num"),
                                       p.Int("trans_b") != 0, d);
  }
  // Long launches: timed from two probes of fewer row bands (ops/common/probe_extrapolation.h).
  std::optional<Extrapolation> Extrapolate(const ParamValues& p, const DeviceConfig& d,
                                           GmMap&) const override {
    return op_util::TileStreamExtrapolation(p, op_util::TileStreamOf(Tiling(p, d)));
  }
  LaunchPlan Plan(const ParamValues& p, const DeviceConfig& d, GmMap& gm) const override {
    quant_matmul::Plan qp;
    qp.t = Tiling(p, d);
    qp.ldw = p.Int("n");
    quant_matmul::AddTiles(qp, 0, p.Int("m"), 0, 0);
    LaunchPlan plan;
    plan.tiling = matmul::Describe(qp.t);
    plan.launch = op_util::LaunchOf<quant_matmul::KernelQuantMatmul>(
        name(), qp.t.blocks, CoreType::kMix, ParseDType(p.Str("out_dtype")), &gm["q_x"], &gm["q_w"],
        &gm["s_x"], &gm["s_w"], &gm["y"], &gm["workspace"], std::move(qp));
    return plan;
  }
  Expected Reference(const ParamValues& p, const TensorMap& in) const override {
    const int64_t m = p.Int("m"), k = p.Int("k"), n = p.Int("n");
    const bool tb = p.Int("trans_b") != 0;
    const Tensor &x = in.at("q_x"), &w = in.at("q_w"), &sx = in.at("s_x"), &sw = in.at("s_w");
    std::vector<double> wk(static_cast<size_t>(k * n)), y(static_cast<size_t>(m * n), 0.0);
    for (int64_t kk = 0; kk < k; ++kk)
      for (int64_t j = 0; j < n; ++j) wk[kk * n + j] = w.At(tb ? j * k + kk : kk * n + j);
    std::vector<double> xd(static_cast<size_t>(m * k));
    for (int64_t i = 0; i < m * k; ++i) xd[static_cast<size_t>(i)] = x.At(i);
    ref::GemmF64(xd.data(), wk.data(), y.data(), m, k, n);
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < n; ++j) y[i * n + j] *= sx.At(i) * sw.At(j);
    return {{"y", y}};
  }
};

}  // namespace

std::unique_ptr<Op> MakeQuantMatmulOp() { return std::make_unique<QuantMatmulOp>(); }

}  // namespace npusim
