// `rms_norm` (zero-centred, optional fused residual add) and `rms_norm_gated` (GDN output norm):
// registration, inputs, launch and fp64 references (kernels.md §8).
#include "ops/common/op_util.h"
#include "ops/common/probe_extrapolation.h"
#include "ops/rms_norm/rms_norm_kernel.h"

namespace npusim {

namespace {

using op_util::Kv;

rms_norm::Tiling NormTiling(rms_norm::Variant v, const ParamValues& p, int64_t rows, int64_t cols,
                            bool residual, const DeviceConfig& d) {
  return rms_norm::ComputeTiling(
      v, residual, rows, cols, static_cast<int64_t>(SizeOf(ParseDType(p.Str("dtype")))),
      p.Float("eps"), p.Int("rows_per_tile"), p.Int("buffer_num"), d, p.Int("cols_per_tile"));
}

// Long launches: timed from two probes of the same tile shape (ops/common/probe_extrapolation.h).
std::optional<Extrapolation> NormExtrapolation(rms_norm::Variant v, const ParamValues& p,
                                               int64_t rows_per_token, int64_t cols, bool residual,
                                               const DeviceConfig& d) {
  const rms_norm::Tiling t = NormTiling(v, p, p.Int("tokens") * rows_per_token, cols, residual, d);
  return op_util::RowStreamExtrapolation(
      p, {t.split,
          t.rows_per_tile,
          rows_per_token,
          d.aiv_count,
          {{"rows_per_tile", t.rows_per_tile}, {"cols_per_tile", t.cols_per_tile}}});
}

LaunchPlan PlanNorm(const std::string& name, rms_norm::Variant v, const ParamValues& p,
                    int64_t rows, int64_t cols, bool residual, const DeviceConfig& d, GmMap& gm) {
  const DType dt = ParseDType(p.Str("dtype"));
  const rms_norm::Tiling t = NormTiling(v, p, rows, cols, residual, d);
  GmBuffer *x = &gm[v == rms_norm::Variant::kGated ? "o" : "x"], *y = &gm["y"];
  GmBuffer* w = v == rms_norm::Variant::kL2 ? nullptr : &gm["weight"];
  GmBuffer* res = residual ? &gm["residual"] : nullptr;
  GmBuffer* res_out = residual ? &gm["residual_out"] : nullptr;
  GmBuffer* z = v == rms_norm::Variant::kGated ? &gm["z"] : nullptr;
  LaunchPlan plan;
  plan.launch = op_util::AivLaunch<rms_norm::KernelRmsNorm>(name, t.split.blocks, dt, x, w, res, z,
                                                            y, res_out, t);
  plan.tiling = {Kv("block_dim", t.split.blocks), Kv("rows_per_block", t.split.per),
                 Kv("rows_per_tile", t.rows_per_tile), Kv("buffer_num", t.buffer_num)};
  if (t.cols_per_tile > 0) plan.tiling.push_back(Kv("cols_per_tile", t.cols_per_tile));
  return plan;
}

OpParam DtypeParam() {
  return {"dtype",
          OpParam::Kind::kString,
          "bfloat16",
          "activation dtype",
          0,
          0,
          {"bfloat16", "float16", "float32"}};
}
OpParam RowsPerTileParam() {
  return {
      "rows_per_tile", OpParam::Kind::kInt, "0", "rows per UB tile (0 = as many as fit)", 0, 65535};
}
OpParam ColsPerTileParam() {
  return {"cols_per_tile",
          OpParam::Kind::kInt,
          "0",
          "columns per UB slice when a row is split (0 = whole rows if one fits)",
          0,
          1e6};
}
OpParam BufferNumParam() {
  return {"buffer_num", OpParam::Kind::kInt, "2", "buffers per queue (2 = double buffering)", 1, 4};
}

class RmsNormOp : public Op {
 public:
  std::string name() const override { return "rms_norm"; }
  std::string summary() const override {
    return "zero-centred RMSNorm y = x*rsqrt(mean(x^2)+eps)*(1+w), optional fused residual add "
           "(§8)";
  }
  std::vector<OpParam> params() const override {
    using K = OpParam::Kind;
    return {
        {"tokens", K::kInt, "4096", "rows (tokens)", 1, 1e9},
        {"hidden", K::kInt, "2048", "hidden size", 1, 1e6},
        DtypeParam(),
        {"eps", K::kFloat, "1e-6", "epsilon (Qwen 1e-6, Step-3.5 1e-5)", 0, 1},
        {"residual", K::kInt, "1", "1 = fused x += residual first, also writes residual_out", 0, 1},
        RowsPerTileParam(),
        ColsPerTileParam(),
        BufferNumParam()};
  }
  std::vector<TensorSpec> tensors(const ParamValues& p) const override {
    const DType t = ParseDType(p.Str("dtype"));
    const Shape s{p.Int("tokens"), p.Int("hidden")};
    std::vector<TensorSpec> v = {{"x", s, t}, {"weight", {p.Int("hidden")}, t}};
    if (p.Int("residual")) v.push_back({"residual", s, t});
    v.push_back({"y", s, t, TensorRole::kOutput});
    if (p.Int("residual")) v.push_back({"residual_out", s, t, TensorRole::kOutput});
    return v;
  }
  void FillInputs(const ParamValues& p, TensorMap& t, Rng& rng) const override {
    op_util::FillNormal(t["x"], rng);
    op_util::FillNormal(t["weight"], rng, 0.1);  // zero-centred weights sit near 0
    if (p.Int("residual")) op_util::FillNormal(t["residual"], rng, 2.0);
  }
  LaunchPlan Plan(const ParamValues& p, const DeviceConfig& d, GmMap& gm) const override {
    return PlanNorm(name(), rms_norm::Variant::kZeroCentred, p, p.Int("tokens"), p.Int("hidden"),
                    p.Int("residual") != 0, d, gm);
  }
  std::optional<Extrapolation> Extrapolate(const ParamValues& p, const DeviceConfig& d,
                                           GmMap&) const override {
    return NormExtrapolation(rms_norm::Variant::kZeroCentred, p, 1, p.Int("hidden"),
                             p.Int("residual") != 0, d);
  }
  Expected Reference(const ParamValues& p, const TensorMap& in) const override {
    const int64_t T = p.Int("tokens"), D = p.Int("hidden");
    const DType dt = ParseDType(p.Str("dtype"));
    const Tensor &x = in.at("x"), &w = in.at("weight");
    std::vector<double> y(static_cast<size_t>(T * D)), res(p.Int("residual") ? y.size() : 0);
    std::vector<double> row(static_cast<size_t>(D));
    for (int64_t i = 0; i < T; ++i) {
      double ss = 0;
      for (int64_t j = 0; j < D; ++j) {
        double v = x.At(i * D + j);
        if (p.Int("residual"))
          v = res[i * D + j] = RoundTo(v + in.at("residual").At(i * D + j), dt);
        row[j] = v;
        ss += v * v;
      }
      const double inv = 1.0 / std::sqrt(ss / static_cast<double>(D) + p.Float("eps"));
      for (int64_t j = 0; j < D; ++j) y[i * D + j] = row[j] * inv * (1.0 + w.At(j));
    }
    Expected e{{"y", y}};
    if (p.Int("residual")) e["residual_out"] = res;
    return e;
  }
};

class RmsNormGatedOp : public Op {
 public:
  std::string name() const override { return "rms_norm_gated"; }
  std::string summary() const override {
    return "GDN output norm per value head: y = o*rsqrt(mean(o^2)+eps)*w*silu(z), plain weight "
           "(§8)";
  }
  std::vector<OpParam> params() const override {
    using K = OpParam::Kind;
    return {{"tokens", K::kInt, "4096", "tokens", 1, 1e9},
            {"heads", K::kInt, "8", "value heads per rank (HV/tp)", 1, 4096},
            {"v_dim", K::kInt, "128", "value head dim V (the norm group)", 1, 65536},
            DtypeParam(),
            {"eps", K::kFloat, "1e-6", "epsilon", 0, 1},
            RowsPerTileParam(),
            ColsPerTileParam(),
            BufferNumParam()};
  }
  std::vector<TensorSpec> tensors(const ParamValues& p) const override {
    const DType t = ParseDType(p.Str("dtype"));
    const Shape s{p.Int("tokens"), p.Int("heads"), p.Int("v_dim")};
    return {{"o", s, t},
            {"z", s, t},
            {"weight", {p.Int("v_dim")}, t},
            {"y", s, t, TensorRole::kOutput}};
  }
  void FillInputs(const ParamValues&, TensorMap& t, Rng& rng) const override {
    op_util::FillNormal(t["o"], rng, 0.5);
    op_util::FillNormal(t["z"], rng);
    op_util::FillNormal(t["weight"], rng, 0.2, 1.0);  // plain weights sit near 1
  }
  LaunchPlan Plan(const ParamValues& p, const DeviceConfig& d, GmMap& gm) const override {
    return PlanNorm(name(), rms_norm::Variant::kGated, p, p.Int("tokens") * p.Int("heads"),
                    p.Int("v_dim"), false, d, gm);
  }
  std::optional<Extrapolation> Extrapolate(const ParamValues& p, const DeviceConfig& d,
                                           GmMap&) const override {
    return NormExtrapolation(rms_norm::Variant::kGated, p, p.Int("heads"), p.Int("v_dim"), false,
                             d);
  }
  Expected Reference(const ParamValues& p, const TensorMap& in) const override {
    const int64_t rows = p.Int("tokens") * p.Int("heads"), D = p.Int("v_dim");
    const Tensor &o = in.at("o"), &z = in.at("z"), &w = in.at("weight");
    std::vector<double> y(static_cast<size_t>(rows * D));
    for (int64_t i = 0; i < rows; ++i) {
      double ss = 0;
      for (int64_t j = 0; j < D; ++j) ss += o.At(i * D + j) * o.At(i * D + j);
      const double inv = 1.0 / std::sqrt(ss / static_cast<double>(D) + p.Float("eps"));
      for (int64_t j = 0; j < D; ++j)
        y[i * D + j] = o.At(i * D + j) * inv * w.At(j) * op_util::Silu(z.At(i * D + j));
    }
    return {{"y", y}};
  }
};

class L2NormOp : public Op {
 public:
  std::string name() const override { return "l2norm"; }
  std::string summary() const override {
    return "per-head L2 norm of q/k for the chunk path: y = x*rsqrt(sum(x^2)+1e-6), stored in the "
           "input dtype (§3.1)";
  }
  std::vector<OpParam> params() const override {
    using K = OpParam::Kind;
    return {{"tokens", K::kInt, "4096", "tokens", 1, 1e9},
            {"heads", K::kInt, "8", "heads normalised (q and k heads of a rank: 2*H/tp)", 1, 4096},
            {"head_dim", K::kInt, "128", "key head dim K", 1, 65536},
            DtypeParam(),
            {"eps", K::kFloat, "1e-6", "epsilon inside the rsqrt", 0, 1},
            RowsPerTileParam(),
            ColsPerTileParam(),
            BufferNumParam()};
  }
  std::vector<TensorSpec> tensors(const ParamValues& p) const override {
    const DType t = ParseDType(p.Str("dtype"));
    const Shape s{p.Int("tokens"), p.Int("heads"), p.Int("head_dim")};
    return {{"x", s, t}, {"y", s, t, TensorRole::kOutput}};
  }
  void FillInputs(const ParamValues&, TensorMap& t, Rng& rng) const override {
    op_util::FillNormal(t["x"], rng);
  }
  LaunchPlan Plan(const ParamValues& p, const DeviceConfig& d, GmMap& gm) const override {
    return PlanNorm(name(), rms_norm::Variant::kL2, p, p.Int("tokens") * p.Int("heads"),
                    p.Int("head_dim"), false, d, gm);
  }
  std::optional<Extrapolation> Extrapolate(const ParamValues& p, const DeviceConfig& d,
                                           GmMap&) const override {
    return NormExtrapolation(rms_norm::Variant::kL2, p, p.Int("heads"), p.Int("head_dim"), false,
                             d);
  }
  Expected Reference(const ParamValues& p, const TensorMap& in) const override {
    const int64_t rows = p.Int("tokens") * p.Int("heads"), D = p.Int("head_dim");
    const Tensor& x = in.at("x");
    std::vector<double> y(static_cast<size_t>(rows * D));
    for (int64_t i = 0; i < rows; ++i) {
      double ss = 0;
      for (int64_t j = 0; j < D; ++j) ss += x.At(i * D + j) * x.At(i * D + j);
      const double inv = 1.0 / std::sqrt(ss + p.Float("eps"));
      for (int64_t j = 0; j < D; ++j) y[i * D + j] = x.At(i * D + j) * inv;
    }
    return {{"y", y}};
  }
};

}  // namespace

std::unique_ptr<Op> MakeL2NormOp() { return std::make_unique<L2NormOp>(); }
std::unique_ptr<Op> MakeRmsNormOp() { return std::make_unique<RmsNormOp>(); }
std::unique_ptr<Op> MakeRmsNormGatedOp() { return std::make_unique<RmsNormGatedOp>(); }

}  // namespace npusim
