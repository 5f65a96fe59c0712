// `rotary_embedding`, `attention_gate`, `swa_mask`: registration, inputs, launches and fp64
// references (kernels.md §6.1-6.3).
#include <cmath>

#include "model/error.h"
#include "ops/attention_aux/attention_aux_kernel.h"
#include "ops/common/op_util.h"
#include "ops/common/probe_extrapolation.h"

namespace npusim {

namespace {

using op_util::Kv;

// The rotation frequency of dim pair i: theta^(-2i/rot), with Llama-3's scaling when set (long
// wavelengths slowed by the factor, short ones kept, a linear blend in between).
double RopeInvFreq(const ParamValues& p, int64_t i, int64_t rot) {
  const double inv = op_util::RopeInvFreq(p.Float("theta"), i, rot);
  const double factor = p.Float("scaling_factor");
  if (factor <= 0) return inv;
  const double lo = p.Float("low_freq_factor"), hi = p.Float("high_freq_factor"),
               orig = static_cast<double>(p.Int("original_max_position"));
  const double wavelen = 2 * M_PI / inv;
  if (wavelen < orig / hi) return inv;
  if (wavelen > orig / lo) return inv / factor;
  const double smooth = (orig / wavelen - lo) / (hi - lo);
  return (1 - smooth) * inv / factor + smooth * inv;
}

class RotaryEmbeddingOp : public Op {
 public:
  std::string name() const override { return "rotary_embedding"; }
  std::string summary() const override {
    return "partial NeoX RoPE on q and k: rotate-half on the first rotary_dim dims, cos/sin by "
           "position (§6.2-6.3)";
  }
  std::vector<OpParam> params() const override {
    using K = OpParam::Kind;
    return {{"tokens", K::kInt, "4096", "tokens", 1, 1e7},
            {"heads", K::kInt, "4", "query heads per rank", 1, 1024},
            {"kv_heads", K::kInt, "1", "key heads per rank", 1, 1024},
            {"head_dim", K::kInt, "256", "head dim D (a multiple of 16)", 16, 1024},
            {"rotary_dim", K::kInt, "64",
             "rotated dims (D x partial_rotary_factor; Qwen3-Next 256 x 0.25); a multiple of 16",
             16, 1024},
            {"theta", K::kFloat, "10000000", "rope_theta (Qwen3-Next 1e7)", 1, 1e12},
            {"max_position", K::kInt, "8192", "rows of the cos/sin cache", 1, 1e7},
            {"scaling_factor", K::kFloat, "0", "Llama-3 rope scaling factor (0 = none)", 0, 1e6},
            {"low_freq_factor", K::kFloat, "1",
             "Llama-3 rope scaling: wavelengths above original_max_position / this are divided by "
             "the factor",
             1e-6, 1e6},
            {"high_freq_factor", K::kFloat, "4",
             "Llama-3 rope scaling: wavelengths below original_max_position / this are kept", 1e-6,
             1e6},
            {"original_max_position", K::kInt, "8192",
             "Llama-3 rope scaling: the pre-training context", 1, 1e9},
            {"rows_per_tile", K::kInt, "0", "tokens per UB tile (0 = as many as fit, at most 32)",
             0, 4096}};
  }
  std::vector<TensorSpec> tensors(const ParamValues& p) const override {
    const int64_t T = p.Int("tokens"), D = p.Int("head_dim"), rot = p.Int("rotary_dim");
    if (rot > D || rot % 16 || D % 16)
      throw InputError(
          "rotary_dim must be a multiple of 16 and at most head_dim (a multiple of 16)");
    const DType bf = DType::kBFloat16;
    return {
        {"q", {T, p.Int("heads"), D}, bf},
        {"k", {T, p.Int("kv_heads"), D}, bf},
        {"positions", {T}, DType::kInt32, TensorRole::kInput, true, 0, p.Int("max_position") - 1},
        {"cos_sin_cache", {p.Int("max_position"), rot}, DType::kFloat32},
        {"q_out", {T, p.Int("heads"), D}, bf, TensorRole::kOutput},
        {"k_out", {T, p.Int("kv_heads"), D}, bf, TensorRole::kOutput}};
  }
  void FillInputs(const ParamValues& p, TensorMap& t, Rng& rng) const override {
    const int64_t rot = p.Int("rotary_dim");
    op_util::FillPositionsAndRopeCache(t["positions"], t["cos_sin_cache"], rng,
                                       p.Int("max_position"), rot,
                                       [&](int64_t i) { return RopeInvFreq(p, i, rot); });
    op_util::FillNormal(t["q"], rng);
    op_util::FillNormal(t["k"], rng);
  }
  static attention_aux::RopeTiling Tiling(const ParamValues& p, const DeviceConfig& d) {
    return attention_aux::ComputeRopeTiling(p.Int("tokens"), p.Int("heads"), p.Int("kv_heads"),
                                            p.Int("head_dim"), p.Int("rotary_dim"),
                                            p.Int("rows_per_tile"), d);
  }
  // Long launches: timed from two probes of the same tile shape (ops/common/probe_extrapolation.h);
  // the cos/sin rows they gather come from a cache of max_position rows in both.
  std::optional<Extrapolation> Extrapolate(const ParamValues& p, const DeviceConfig& d,
                                           GmMap&) const override {
    const attention_aux::RopeTiling t = Tiling(p, d);
    return op_util::RowStreamExtrapolation(
        p, {t.split, t.rows_per_tile, 1, d.aiv_count, {{"rows_per_tile", t.rows_per_tile}}});
  }
  LaunchPlan Plan(const ParamValues& p, const DeviceConfig& d, GmMap& gm) const override {
    const attention_aux::RopeTiling t = Tiling(p, d);
    LaunchPlan plan;
    plan.launch = op_util::AivLaunch<attention_aux::KernelRope>(
        name(), t.split.blocks, DType::kBFloat16, &gm["q"], &gm["k"], &gm["positions"],
        &gm["cos_sin_cache"], &gm["q_out"], &gm["k_out"], t);
    plan.tiling = {Kv("block_dim", t.split.blocks), Kv("rows_per_tile", t.rows_per_tile)};
    return plan;
  }
  // The cos/sin come from the cos_sin_cache input, as the kernel reads them: a user's own cache
  // (--inputs) is what both apply; the default one follows RopeInvFreq (FillInputs).
  Expected Reference(const ParamValues& p, const TensorMap& in) const override {
    const int64_t T = p.Int("tokens"), D = p.Int("head_dim"), rot = p.Int("rotary_dim"),
                  h = rot / 2;
    const Tensor& cs = in.at("cos_sin_cache");
    Expected e;
    for (const char* name : {"q", "k"}) {
      const Tensor& x = in.at(name);
      const int64_t heads = x.shape()[1];
      std::vector<double> out(static_cast<size_t>(x.numel()));
      for (int64_t t = 0; t < T; ++t) {
        const auto pos = static_cast<int64_t>(in.at("positions").At(t));
        for (int64_t hd = 0; hd < heads; ++hd) {
          const int64_t o = (t * heads + hd) * D;
          for (int64_t i = 0; i < D; ++i) out[static_cast<size_t>(o + i)] = x.At(o + i);
          for (int64_t i = 0; i < h; ++i) {
            const double c = cs.At(pos * rot + i), s = cs.At(pos * rot + h + i), x1 = x.At(o + i),
                         x2 = x.At(o + h + i);
            out[static_cast<size_t>(o + i)] = x1 * c - x2 * s;
            out[static_cast<size_t>(o + h + i)] = x2 * c + x1 * s;
          }
        }
      }
      e[std::string(name) + "_out"] = out;
    }
    return e;
  }
};

class AttentionGateOp : public Op {
 public:
  std::string name() const override { return "attention_gate"; }
  std::string summary() const override {
    return "attention output gate: attn * sigmoid(gate), elementwise (Qwen3-Next/3.5) or per head "
           "(Step-3.5) (§6.2-6.3)";
  }
  std::vector<OpParam> params() const override {
    using K = OpParam::Kind;
    return {{"tokens", K::kInt, "4096", "tokens", 1, 1e7},
            {"heads", K::kInt, "4", "query heads per rank", 1, 1024},
            {"head_dim", K::kInt, "256", "head dim", 1, 4096},
            {"mode",
             K::kString,
             "elementwise",
             "elementwise: gate [T, heads x D]; headwise: gate [T, heads]",
             0,
             0,
             {"elementwise", "headwise"}},
            {"rows_per_tile", K::kInt, "0", "tokens per UB tile (0 = as many as fit, at most 64)",
             0, 4096}};
  }
  static bool Headwise(const ParamValues& p) { return p.Str("mode") == "headwise"; }
  std::vector<TensorSpec> tensors(const ParamValues& p) const override {
    const int64_t T = p.Int("tokens"), w = p.Int("heads") * p.Int("head_dim");
    const DType bf = DType::kBFloat16;
    return {{"attn", {T, w}, bf},
            {"gate", Headwise(p) ? Shape{T, p.Int("heads")} : Shape{T, w}, bf, TensorRole::kInput,
             Headwise(p)},
            {"out", {T, w}, bf, TensorRole::kOutput}};
  }
  void FillInputs(const ParamValues&, TensorMap& t, Rng& rng) const override {
    op_util::FillNormal(t["attn"], rng);
    op_util::FillNormal(t["gate"], rng, 2.0);
  }
  static attention_aux::GateTiling Tiling(const ParamValues& p, const DeviceConfig& d) {
    return attention_aux::ComputeGateTiling(p.Int("tokens"), p.Int("heads"), p.Int("head_dim"),
                                            Headwise(p), p.Int("rows_per_tile"), d);
  }
  // Long launches: timed from two probes of the same tile shape (ops/common/probe_extrapolation.h).
  std::optional<Extrapolation> Extrapolate(const ParamValues& p, const DeviceConfig& d,
                                           GmMap&) const override {
    const attention_aux::GateTiling t = Tiling(p, d);
    return op_util::RowStreamExtrapolation(
        p, {t.split, t.rows_per_tile, 1, d.aiv_count, {{"rows_per_tile", t.rows_per_tile}}});
  }
  LaunchPlan Plan(const ParamValues& p, const DeviceConfig& d, GmMap& gm) const override {
    const attention_aux::GateTiling t = Tiling(p, d);
    LaunchPlan plan;
    plan.launch = op_util::AivLaunch<attention_aux::KernelAttentionGate>(
        name(), t.split.blocks, DType::kBFloat16, &gm["attn"], &gm["gate"], &gm["out"], t);
    plan.tiling = {Kv("block_dim", t.split.blocks), Kv("rows_per_tile", t.rows_per_tile)};
    return plan;
  }
  Expected Reference(const ParamValues& p, const TensorMap& in) const override {
    const int64_t T = p.Int("tokens"), H = p.Int("heads"), D = p.Int("head_dim");
    const Tensor &a = in.at("attn"), &g = in.at("gate");
    std::vector<double> out(static_cast<size_t>(T * H * D));
    for (int64_t i = 0; i < T * H * D; ++i)
      out[static_cast<size_t>(i)] = a.At(i) * op_util::Sigmoid(Headwise(p) ? g.At(i / D) : g.At(i));
    return {{"out", out}};
  }
};

class SwaMaskOp : public Op {
 public:
  std::string name() const override { return "swa_mask"; }
  std::string summary() const override {
    return "SWA decode mask [B, 1, S_max]: masked = idx < seq_len - window or idx >= seq_len (the "
           "S4 fix, §6.1)";
  }
  std::vector<OpParam> params() const override {
    using K = OpParam::Kind;
    return {{"batch", K::kInt, "24", "requests", 1, 65535},
            {"max_seq_len", K::kInt, "4096", "mask columns S_max", 1, 1e7},
            {"window", K::kInt, "512", "sliding window (Step-3.5: 512)", 1, 1e7}};
  }
  std::vector<TensorSpec> tensors(const ParamValues& p) const override {
    return {
        {"seq_lens",
         {p.Int("batch")},
         DType::kInt32,
         TensorRole::kInput,
         true,
         0,
         p.Int("max_seq_len")},
        {"mask", {p.Int("batch"), 1, p.Int("max_seq_len")}, DType::kUInt8, TensorRole::kOutput}};
  }
  void FillInputs(const ParamValues& p, TensorMap& t, Rng& rng) const override {
    for (int64_t b = 0; b < p.Int("batch"); ++b)
      t["seq_lens"].Set(b, static_cast<double>(rng.UniformInt(1, p.Int("max_seq_len"))));
  }
  LaunchPlan Plan(const ParamValues& p, const DeviceConfig& d, GmMap& gm) const override {
    const attention_aux::MaskTiling t =
        attention_aux::ComputeMaskTiling(p.Int("batch"), p.Int("max_seq_len"), p.Int("window"), d);
    LaunchPlan plan;
    plan.launch = op_util::AivLaunch<attention_aux::KernelSwaMask>(
        name(), t.split.blocks, DType::kFloat32, &gm["seq_lens"], &gm["mask"], t);
    plan.tiling = {Kv("block_dim", t.split.blocks)};
    return plan;
  }
  Expected Reference(const ParamValues& p, const TensorMap& in) const override {
    const int64_t B = p.Int("batch"), S = p.Int("max_seq_len"), W = p.Int("window");
    std::vector<double> m(static_cast<size_t>(B * S));
    for (int64_t b = 0; b < B; ++b) {
      const auto seq = static_cast<int64_t>(in.at("seq_lens").At(b));
      for (int64_t c = 0; c < S; ++c)
        m[static_cast<size_t>(b * S + c)] = (c < seq - W || c >= seq) ? 1.0 : 0.0;
    }
    return {{"mask", m}};
  }
};

}  // namespace

std::unique_ptr<Op> MakeRotaryEmbeddingOp() { return std::make_unique<RotaryEmbeddingOp>(); }
std::unique_ptr<Op> MakeAttentionGateOp() { return std::make_unique<AttentionGateOp>(); }
std::unique_ptr<Op> MakeSwaMaskOp() { return std::make_unique<SwaMaskOp>(); }

}  // namespace npusim
