// `swiglu` and `swiglustep`: registration, inputs, launch and fp64 reference (kernels.md §7.3).
#include "ops/common/op_util.h"
#include "ops/common/probe_extrapolation.h"
#include "ops/swiglu/swiglu_kernel.h"

namespace npusim {

namespace {

using op_util::Kv;

class SwigluOp : public Op {
 public:
  explicit SwigluOp(bool step) : step_(step) {}
  std::string name() const override { return step_ ? "swiglustep" : "swiglu"; }
  std::string summary() const override {
    return step_ ? "clamped SwiGLU (Step-3.5): min(silu(gate), L) * clamp(up, -L, L), [gate | up] "
                   "halves (§7.3)"
                 : "SwiGLU: silu(gate) * up over the [gate | up] halves of x (§7.3)";
  }
  std::vector<OpParam> params() const override {
    using K = OpParam::Kind;
    std::vector<OpParam> v = {
        {"tokens", K::kInt, "4096", "rows (tokens, or routed token copies)", 1, 1e9},
        {"inter", K::kInt, "512", "intermediate size per rank (x has 2*inter columns)", 1, 1e6},
        {"dtype",
         K::kString,
         "bfloat16",
         "activation dtype",
         0,
         0,
         {"bfloat16", "float16", "float32"}},
        {"col_tile", K::kInt, "0", "columns per UB tile (0 = the row, up to 8192 elements)", 0,
         1e6},
        {"rows_per_tile", K::kInt, "0", "rows per UB tile (0 = as many as fit)", 0, 65535},
        {"buffer_num", K::kInt, "2", "buffers per queue", 1, 4}};
    if (step_)
      v.push_back({"limit", K::kFloat, "7.0", "clamp limit L (swiglu_limits; Step-3.5 uses 7.0)",
                   1e-6, 1e9});
    return v;
  }
  std::vector<TensorSpec> tensors(const ParamValues& p) const override {
    const DType t = ParseDType(p.Str("dtype"));
    return {{"x", {p.Int("tokens"), 2 * p.Int("inter")}, t},
            {"out", {p.Int("tokens"), p.Int("inter")}, t, TensorRole::kOutput}};
  }
  void FillInputs(const ParamValues&, TensorMap& t, Rng& rng) const override {
    op_util::FillNormal(t["x"], rng, 4.0);  // wide enough that the clamp at 7 is active
  }
  swiglu::Tiling Tiling(const ParamValues& p, const DeviceConfig& d) const {
    return swiglu::ComputeTiling(p.Int("tokens"), p.Int("inter"),
                                 static_cast<int64_t>(SizeOf(ParseDType(p.Str("dtype")))),
                                 step_ ? p.Float("limit") : 0.0, p.Int("col_tile"),
                                 p.Int("rows_per_tile"), p.Int("buffer_num"), d);
  }
  // Long launches: timed from two probes of the same tile shape (ops/common/probe_extrapolation.h).
  std::optional<Extrapolation> Extrapolate(const ParamValues& p, const DeviceConfig& d,
                                           GmMap&) const override {
    const swiglu::Tiling t = Tiling(p, d);
    return op_util::RowStreamExtrapolation(
        p, {t.split,
            t.rows_per_tile,
            1,
            d.aiv_count,
            {{"rows_per_tile", t.rows_per_tile}, {"col_tile", t.col_tile}}});
  }
  LaunchPlan Plan(const ParamValues& p, const DeviceConfig& d, GmMap& gm) const override {
    const DType dt = ParseDType(p.Str("dtype"));
    const swiglu::Tiling t = Tiling(p, d);
    GmBuffer *x = &gm["x"], *out = &gm["out"];
    LaunchPlan plan;
    plan.launch = op_util::AivLaunch<swiglu::KernelSwiglu>(name(), t.split.blocks, dt, x, out, t);
    plan.tiling = {Kv("block_dim", t.split.blocks), Kv("rows_per_tile", t.rows_per_tile),
                   Kv("col_tile", t.col_tile), Kv("buffer_num", t.buffer_num)};
    return plan;
  }
  Expected Reference(const ParamValues& p, const TensorMap& in) const override {
    const int64_t T = p.Int("tokens"), I = p.Int("inter");
    const double L = step_ ? p.Float("limit") : 0.0;
    const Tensor& x = in.at("x");
    std::vector<double> out(static_cast<size_t>(T * I));
    for (int64_t t = 0; t < T; ++t)
      for (int64_t i = 0; i < I; ++i) {
        double g = op_util::Silu(x.At(t * 2 * I + i)), u = x.At(t * 2 * I + I + i);
        if (step_) {
          g = std::min(g, L);
          u = std::clamp(u, -L, L);
        }
        out[t * I + i] = g * u;
      }
    return {{"out", out}};
  }

 private:
  bool step_;
};

}  // namespace

std::unique_ptr<Op> MakeSwigluOp() { return std::make_unique<SwigluOp>(false); }
std::unique_ptr<Op> MakeSwigluStepOp() { return std::make_unique<SwigluOp>(true); }

}  // namespace npusim
