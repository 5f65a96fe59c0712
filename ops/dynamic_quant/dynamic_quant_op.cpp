// `dynamic_quant`: registration, inputs, launch and fp64 reference (kernels.md §7.4).
#include "ops/common/op_util.h"
#include "ops/common/probe_extrapolation.h"
#include "ops/dynamic_quant/dynamic_quant_kernel.h"

namespace npusim {

namespace {

using op_util::Kv;

class DynamicQuantOp : public Op {
 public:
  std::string name() const override { return "dynamic_quant"; }
  std::string summary() const override {
    return "per-token symmetric int8: s = max|x|/127, q = rint(x/s) (npu_dynamic_quant, W8A8 "
           "dynamic, §7.4)";
  }
  std::vector<OpParam> params() const override {
    using K = OpParam::Kind;
    return {{"tokens", K::kInt, "4096", "tokens", 1, 1e9},
            {"hidden", K::kInt, "2048", "columns quantised per token", 1, 1e6},
            {"dtype",
             K::kString,
             "bfloat16",
             "activation dtype",
             0,
             0,
             {"bfloat16", "float16", "float32"}},
            {"rows_per_tile", K::kInt, "0", "rows per UB tile (0 = as many as fit, at most 64)", 0,
             65535},
            {"buffer_num", K::kInt, "2", "buffers per queue", 1, 4}};
  }
  std::vector<TensorSpec> tensors(const ParamValues& p) const override {
    const Shape s{p.Int("tokens"), p.Int("hidden")};
    return {{"x", s, ParseDType(p.Str("dtype"))},
            {"q", s, DType::kInt8, TensorRole::kOutput},
            {"scale", {p.Int("tokens")}, DType::kFloat32, TensorRole::kOutput}};
  }
  void FillInputs(const ParamValues&, TensorMap& t, Rng& rng) const override {
    op_util::FillNormal(t["x"], rng, 2.0);
  }
  static dynamic_quant::Tiling Tiling(const ParamValues& p, const DeviceConfig& d) {
    return dynamic_quant::ComputeTiling(p.Int("tokens"), p.Int("hidden"),
                                        static_cast<int64_t>(SizeOf(ParseDType(p.Str("dtype")))),
                                        p.Int("rows_per_tile"), p.Int("buffer_num"), d);
  }
  // Long launches: timed from two probes of the same tile shape (ops/common/probe_extrapolation.h).
  std::optional<Extrapolation> Extrapolate(const ParamValues& p, const DeviceConfig& d,
                                           GmMap&) const override {
    const dynamic_quant::Tiling t = Tiling(p, d);
    return op_util::RowStreamExtrapolation(
        p, {t.split, t.rows_per_tile, 1, d.aiv_count, {{"rows_per_tile", t.rows_per_tile}}});
  }
  LaunchPlan Plan(const ParamValues& p, const DeviceConfig& d, GmMap& gm) const override {
    const DType dt = ParseDType(p.Str("dtype"));
    const dynamic_quant::Tiling t = Tiling(p, d);
    GmBuffer *x = &gm["x"], *q = &gm["q"], *scale = &gm["scale"];
    LaunchPlan plan;
    plan.launch = op_util::AivLaunch<dynamic_quant::KernelDynamicQuant>(name(), t.split.blocks, dt,
                                                                        x, q, scale, t);
    plan.tiling = {Kv("block_dim", t.split.blocks), Kv("rows_per_tile", t.rows_per_tile),
                   Kv("row_pitch", t.pitch), Kv("col_chunk", t.col_chunk),
                   Kv("buffer_num", t.buffer_num)};
    return plan;
  }
  Expected Reference(const ParamValues& p, const TensorMap& in) const override {
    const int64_t T = p.Int("tokens"), H = p.Int("hidden");
    const Tensor& x = in.at("x");
    std::vector<double> q(static_cast<size_t>(T * H)), scale(static_cast<size_t>(T));
    for (int64_t t = 0; t < T; ++t) {
      double m = 0;
      for (int64_t j = 0; j < H; ++j) m = std::max(m, std::fabs(x.At(t * H + j)));
      scale[t] = m / 127.0;
      for (int64_t j = 0; j < H; ++j)
        q[t * H + j] =
            m > 0 ? std::clamp(std::nearbyint(x.At(t * H + j) / scale[t]), -128.0, 127.0) : 0.0;
    }
    return {{"q", q}, {"scale", scale}};
  }
};

}  // namespace

std::unique_ptr<Op> MakeDynamicQuantOp() { return std::make_unique<DynamicQuantOp>(); }

}  // namespace npusim
