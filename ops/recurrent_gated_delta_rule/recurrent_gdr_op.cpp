// `recurrent_gated_delta_rule`: decode (state read from and written back to the pool) and MTP
// target verify (a state per draft token into the intermediate cache, pool untouched), as three
// implementations (kernels.md §3.3-3.6):
//   fused:        fused_gdn_gating without sigmoid (g) -> the AscendC op (sigmoid(b), exp(g) and
//                 the q/k L2 norm inside; [HV, V, K] bf16 state, one item per request and head)
//   triton_chain: fused_gdn_gating (g, bf16 beta) -> the Triton recurrent kernel's tiling
//                 ([HV, K, V] state, a program per block_v columns of V)
//   multi_op:     vllm-ascend's decode path of 2026-07 (ops/gdn.py @9c03b2a4), seven launches:
//                 q, k, v out of mix_qkv as contiguous copies (rearrange_mixed_qkv), the AscendC
//                 fused_gdn_gating (g, bf16 beta), l2norm_fwd of q and of k, then the AscendC
//                 recurrent op on the separate, normalised q, k and v ([HV, V, K] state)
#include "model/error.h"
#include "ops/common/op_util.h"
#include "ops/common/strided_copy.h"
#include "ops/fused_gdn_gating/fused_gdn_gating_kernel.h"
#include "ops/recurrent_gated_delta_rule/recurrent_gdr_kernel.h"
#include "ops/rms_norm/rms_norm_kernel.h"
#include "ops/state_pool.h"

namespace npusim {

namespace {

using op_util::Kv;

class RecurrentGatedDeltaRuleOp : public Op {
 public:
  std::string name() const override { return "recurrent_gated_delta_rule"; }
  std::string summary() const override {
    return "GDN recurrence for decode and MTP verify, gating included; impl=fused (AscendC op), "
           "triton_chain or multi_op (vllm-ascend's seven launches) (§3.3-3.6)";
  }
  std::vector<OpParam> params() const override {
    using K = OpParam::Kind;
    return {
        {"impl",
         K::kString,
         "fused",
         "fused: AscendC op; triton_chain: the Triton path; multi_op: q/k/v copies, gating, two "
         "l2norms and the AscendC op as separate launches",
         0,
         0,
         {"fused", "triton_chain", "multi_op"}},
        {"mode",
         K::kString,
         "decode",
         "decode: pool read and written; verify: per-token states to the intermediate cache",
         0,
         0,
         {"decode", "verify"}},
        {"batch", K::kInt, "24", "requests B", 1, 65535},
        {"draft_tokens", K::kInt, "4", "tokens per request in verify mode (d); decode uses 1", 1,
         8},
        {"heads_k", K::kInt, "4", "key heads per rank H (Qwen3-Next 16 / tp 4)", 1, 4096},
        {"heads_v", K::kInt, "8", "value heads per rank HV (Qwen3-Next 32 / tp 4)", 1, 4096},
        {"k_dim", K::kInt, "128", "key head dim K", 16, 1024},
        {"v_dim", K::kInt, "128", "value head dim V", 16, 1024},
        {"ssm_dtype",
         K::kString,
         "bfloat16",
         "pool dtype (the AscendC op supports bfloat16 only)",
         0,
         0,
         {"bfloat16", "float32"}},
        {"block_v", K::kInt, "32",
         "triton_chain: V columns per program (BV; assumed, not read from the SKN source)", 1,
         1024},
        {"pool_size", K::kInt, "0", "ssm pool slots incl. dummy slot 0 (0 = batch + 1)", 0, 1e9}};
  }
  static bool Fused(const ParamValues& p) { return p.Str("impl") == "fused"; }
  static bool MultiOp(const ParamValues& p) { return p.Str("impl") == "multi_op"; }
  // The AscendC op's [HV, V, K] state (fused and multi_op) or the Triton kernel's [HV, K, V].
  static bool Vk(const ParamValues& p) { return p.Str("impl") != "triton_chain"; }
  static bool Verify(const ParamValues& p) { return p.Str("mode") == "verify"; }
  static int64_t Tokens(const ParamValues& p) { return Verify(p) ? p.Int("draft_tokens") : 1; }
  static int64_t Pool(const ParamValues& p) {
    return p.Int("pool_size") > 0 ? p.Int("pool_size") : p.Int("batch") + 1;
  }
  static Shape StateShape(const ParamValues& p, int64_t n) {
    return Vk(p) ? Shape{n, p.Int("heads_v"), p.Int("v_dim"), p.Int("k_dim")}
                 : Shape{n, p.Int("heads_v"), p.Int("k_dim"), p.Int("v_dim")};
  }

  std::vector<TensorSpec> tensors(const ParamValues& p) const override {
    if (Fused(p) && p.Str("ssm_dtype") != "bfloat16")
      throw InputError(
          "parameter 'ssm_dtype': impl=fused is the AscendC op, instantiated for bfloat16 state "
          "only (kernels.md §3.5)");
    if (p.Int("heads_v") % p.Int("heads_k"))
      throw InputError(
          "parameter 'heads_v' must be a multiple of 'heads_k' (value heads share key heads "
          "GQA-style)");
    if (Pool(p) < p.Int("batch") + 1)
      throw InputError(
          "parameter 'pool_size' must be at least batch + 1 (slot 0 is the dummy slot)");
    const int64_t B = p.Int("batch"), S = Tokens(p), H = p.Int("heads_k"), HV = p.Int("heads_v");
    const int64_t width = 2 * H * p.Int("k_dim") + HV * p.Int("v_dim");
    const DType bf = DType::kBFloat16;
    std::vector<TensorSpec> v = {
        {"mix_qkv", {B, S, width}, bf},
        {"a", {B * S, HV}, bf},
        {"b",
         {B * S, HV},
         bf,
         TensorRole::kInput,
         Fused(p)},  // read raw by the AscendC op's scalar unit
        {"A_log", {HV}, DType::kFloat32},
        {"dt_bias", {HV}, bf},
        {"ssm_states", StateShape(p, Pool(p)), ParseDType(p.Str("ssm_dtype")), TensorRole::kInOut},
        {"cache_indices", {B}, DType::kInt32, TensorRole::kInput, true, 0, Pool(p) - 1},
        {"g", {B * S, HV}, DType::kFloat32, TensorRole::kOutput, true}};
    if (!Fused(p)) v.push_back({"beta", {B * S, HV}, bf, TensorRole::kOutput, true});
    if (MultiOp(p)) {  // rearrange_mixed_qkv's copies and l2norm_fwd's outputs
      const auto ws = TensorRole::kWorkspace;
      const int64_t K = p.Int("k_dim");
      for (const char* name : {"q", "k", "q_norm", "k_norm"})
        v.push_back({name, {B * S, H, K}, bf, ws});
      v.push_back({"v", {B * S, HV, p.Int("v_dim")}, bf, ws});
    }
    // The intermediate cache has the pool's dtype (SGLang sizes both with mamba_ssm_dtype): with
    // fp32 a committed state equals sequential decode's; with bf16 it is rounded once per
    // verify instead of once per token (scenario S5).
    if (Verify(p))
      v.push_back({"intermediate", StateShape(p, B * S), ParseDType(p.Str("ssm_dtype")),
                   TensorRole::kOutput});
    v.push_back({"o", {B, S, HV, p.Int("v_dim")}, bf, TensorRole::kOutput});
    return v;
  }
  void FillInputs(const ParamValues& p, TensorMap& t, Rng& rng) const override {
    const std::vector<int64_t> slots = ShuffledSlots(Pool(p), rng);
    for (int64_t b = 0; b < p.Int("batch"); ++b)
      t["cache_indices"].Set(b, static_cast<double>(slots[b]));
    op_util::FillNormal(t["mix_qkv"], rng);
    op_util::FillNormal(t["a"], rng);
    op_util::FillNormal(t["b"], rng);
    op_util::FillUniform(t["A_log"], rng, -3.0, 0.0);
    op_util::FillNormal(t["dt_bias"], rng, 0.5);
    op_util::FillNormal(t["ssm_states"], rng, 0.3);
  }

  LaunchPlan Plan(const ParamValues& p, const DeviceConfig& d, GmMap& gm) const override {
    if (MultiOp(p)) return MultiOpPlan(p, d, gm);
    const int64_t B = p.Int("batch"), S = Tokens(p), HV = p.Int("heads_v");
    LaunchPlan plan;
    // 1. gating
    plan.launch = GatingLaunch(B * S, HV, !Fused(p), gm, d);
    // 2. recurrence
    recurrent_gdr::Tiling rt = recurrent_gdr::ComputeTiling(
        B, S, p.Int("heads_k"), HV, p.Int("k_dim"), p.Int("v_dim"),
        Fused(p) ? recurrent_gdr::Layout::kVK : recurrent_gdr::Layout::kKV, p.Int("block_v"),
        Verify(p), Fused(p), d);
    recurrent_gdr::Gm rg{&gm["mix_qkv"],
                         &gm["g"],
                         Fused(p) ? &gm["b"] : &gm["beta"],  // raw b: the AscendC op's sigmoid
                         &gm["ssm_states"],
                         &gm["cache_indices"],
                         Verify(p) ? &gm["intermediate"] : nullptr,
                         &gm["o"]};
    // The Triton kernel: a program per item, with Triton-Ascend's fixed launch and per-program
    // costs.
    if (!Fused(p)) rt.program_cycles = d.triton_program_cycles;
    plan.then.push_back(op_util::AivLaunch<recurrent_gdr::KernelRecurrentGdr>(
        Fused(p) ? "recurrent_gated_delta_rule" : "fused_recurrent_gated_delta_rule",
        rt.split.blocks, ParseDType(p.Str("ssm_dtype")), rg, rt));
    if (!Fused(p)) plan.then.back().start_delay_us = d.triton_launch_us;
    plan.tiling = {
        Kv("gating_block_dim", plan.launch.block_dim), Kv("recurrent_block_dim", rt.split.blocks),
        Kv("items", rt.split.total),
        Kv("state_tile", "[" + std::to_string(rt.rows) + ", " + std::to_string(rt.cols) + "]"),
        Kv("state_layout", Fused(p) ? "[HV, V, K]" : "[HV, K, V]")};
    return plan;
  }

  // fused_gdn_gating over `rows` token rows: with the sigmoid it writes g and a bf16 beta; without
  // it g only (the AscendC op applies the sigmoid to the raw b itself).
  static KernelLaunch GatingLaunch(int64_t rows, int64_t heads_v, bool with_sigmoid, GmMap& gm,
                                   const DeviceConfig& d) {
    const fused_gdn_gating::Tiling gt =
        fused_gdn_gating::ComputeTiling(rows, heads_v, with_sigmoid, 0, 2, d);
    GmBuffer *a = &gm["a"], *b = with_sigmoid ? &gm["b"] : nullptr, *alog = &gm["A_log"],
             *dtb = &gm["dt_bias"], *g = &gm["g"], *beta = with_sigmoid ? &gm["beta"] : nullptr;
    KernelLaunch l;
    l.name = with_sigmoid ? "fused_gdn_gating" : "fused_gdn_gating_without_sigmoid";
    l.block_dim = gt.split.blocks;
    l.core_type = CoreType::kAiv;
    l.body = [=] {
      fused_gdn_gating::KernelFusedGdnGating<ascendc::bfloat16_t> k;
      k.Init(a, b, alog, dtb, g, beta, gt);
      k.Process();
    };
    return l;
  }

  // vllm-ascend's seven launches, in its order: three view copies, gating, two L2 norms, the
  // recurrent op. Every launch is an AscendC-style AIV kernel; l2norm_fwd (FLA's Triton kernel
  // in vLLM) is timed as npusim's l2norm rows, with no Triton fixed cost: the measured seven
  // launches (C2's multi-op column) leave no room for triton.launch_us twice.
  LaunchPlan MultiOpPlan(const ParamValues& p, const DeviceConfig& d, GmMap& gm) const {
    const int64_t B = p.Int("batch"), S = Tokens(p), H = p.Int("heads_k"), HV = p.Int("heads_v");
    const int64_t K = p.Int("k_dim"), V = p.Int("v_dim"), rows = B * S;
    const int64_t width = 2 * H * K + HV * V;
    const DType bf = DType::kBFloat16;
    std::vector<KernelLaunch> launches;
    auto copy = [&](const char* what, int64_t cols, int64_t offset) {
      const strided_copy::Tiling t = strided_copy::ComputeTiling(rows, cols, width, offset, 2, d);
      launches.push_back(op_util::AivLaunch<strided_copy::KernelStridedCopy>(
          std::string("rearrange_mixed_qkv.") + what, t.split.blocks, bf, &gm["mix_qkv"], &gm[what],
          t));
    };
    copy("q", H * K, 0);
    copy("k", H * K, H * K);
    copy("v", HV * V, 2 * H * K);
    launches.push_back(GatingLaunch(rows, HV, true, gm, d));
    const int64_t gating_blocks = launches.back().block_dim;
    GmBuffer *g = &gm["g"], *beta = &gm["beta"], *none = nullptr;
    const rms_norm::Tiling nt =
        rms_norm::ComputeTiling(rms_norm::Variant::kL2, false, rows * H, K, 2, 1e-6, 0, 2, d, 0);
    for (const char* what : {"q", "k"}) {
      launches.push_back(op_util::AivLaunch<rms_norm::KernelRmsNorm>(
          std::string("l2norm_fwd.") + what, nt.split.blocks, bf, &gm[what], none, none, none,
          &gm[std::string(what) + "_norm"], none, nt));
    }
    recurrent_gdr::Tiling rt =
        recurrent_gdr::ComputeTiling(B, S, H, HV, K, V, recurrent_gdr::Layout::kVK, 0, Verify(p),
                                     /*sigmoid_beta=*/false, d);
    rt.normalise = false;
    recurrent_gdr::Gm rg{nullptr,
                         g,
                         beta,
                         &gm["ssm_states"],
                         &gm["cache_indices"],
                         Verify(p) ? &gm["intermediate"] : nullptr,
                         &gm["o"]};
    rg.q = &gm["q_norm"], rg.k = &gm["k_norm"], rg.v = &gm["v"];
    launches.push_back(op_util::AivLaunch<recurrent_gdr::KernelRecurrentGdr>(
        "npu_recurrent_gated_delta_rule", rt.split.blocks, ParseDType(p.Str("ssm_dtype")), rg, rt));
    LaunchPlan plan;
    plan.launch = std::move(launches.front());
    plan.then.assign(std::make_move_iterator(launches.begin() + 1),
                     std::make_move_iterator(launches.end()));
    plan.tiling = {Kv("launches", static_cast<int64_t>(launches.size())),
                   Kv("gating_block_dim", gating_blocks),
                   Kv("recurrent_block_dim", rt.split.blocks), Kv("items", rt.split.total),
                   Kv("state_layout", "[HV, V, K]")};
    return plan;
  }

  Expected Reference(const ParamValues& p, const TensorMap& in) const override {
    const int64_t B = p.Int("batch"), S = Tokens(p), H = p.Int("heads_k"), HV = p.Int("heads_v");
    const int64_t K = p.Int("k_dim"), V = p.Int("v_dim"), width = 2 * H * K + HV * V;
    const Tensor &qkv = in.at("mix_qkv"), &a = in.at("a"), &bt = in.at("b"), &alog = in.at("A_log"),
                 &dtb = in.at("dt_bias");
    const Tensor &pool = in.at("ssm_states"), &slots = in.at("cache_indices");
    const bool vk = Vk(p);
    auto at = [&](int64_t k, int64_t v) {
      return vk ? v * K + k : k * V + v;
    };  // logical S[k][v] -> physical
    std::vector<double> states = pool.ToDoubles(), o(static_cast<size_t>(B * S * HV * V)),
                        g(static_cast<size_t>(B * S * HV));
    std::vector<double> beta(g.size()),
        inter(Verify(p) ? static_cast<size_t>(B * S * HV * K * V) : 0);
    for (int64_t i = 0; i < B * S * HV; ++i) {
      g[i] = -std::exp(alog.At(i % HV)) * op_util::Softplus(a.At(i) + dtb.At(i % HV));
      beta[i] = op_util::Sigmoid(bt.At(i));
    }
    std::vector<double> st(static_cast<size_t>(K * V)), q(K), k(K), u(V);
    for (int64_t b = 0; b < B; ++b) {
      const int64_t slot = static_cast<int64_t>(slots.At(b));
      for (int64_t h = 0; h < HV; ++h) {
        const int64_t j = h / (HV / H), head = (slot * HV + h) * K * V;
        for (int64_t x = 0; x < K; ++x)
          for (int64_t y = 0; y < V; ++y) st[x * V + y] = pool.At(head + at(x, y));
        for (int64_t i = 0; i < S; ++i) {
          const int64_t tok = b * S + i;
          double nq = 0, nk = 0;
          for (int64_t x = 0; x < K; ++x) {
            q[x] = qkv.At(tok * width + j * K + x);
            k[x] = qkv.At(tok * width + (H + j) * K + x);
            nq += q[x] * q[x];
            nk += k[x] * k[x];
          }
          for (int64_t x = 0; x < K; ++x) {
            q[x] *= 1.0 / std::sqrt(nq + 1e-6) / std::sqrt(static_cast<double>(K));
            k[x] *= 1.0 / std::sqrt(nk + 1e-6);
          }
          const double decay = std::exp(g[tok * HV + h]), bb = beta[tok * HV + h];
          for (double& s : st) s *= decay;
          for (int64_t y = 0; y < V; ++y) {
            double sk = 0;
            for (int64_t x = 0; x < K; ++x) sk += st[x * V + y] * k[x];
            u[y] = bb * (qkv.At(tok * width + 2 * H * K + h * V + y) - sk);
          }
          for (int64_t x = 0; x < K; ++x)
            for (int64_t y = 0; y < V; ++y) st[x * V + y] += k[x] * u[y];
          for (int64_t y = 0; y < V; ++y) {
            double acc = 0;
            for (int64_t x = 0; x < K; ++x) acc += st[x * V + y] * q[x];
            o[(tok * HV + h) * V + y] = acc;
          }
          if (Verify(p))
            for (int64_t x = 0; x < K; ++x)
              for (int64_t y = 0; y < V; ++y)
                inter[(tok * HV + h) * K * V + at(x, y)] = st[x * V + y];
        }
        if (!Verify(p))
          for (int64_t x = 0; x < K; ++x)
            for (int64_t y = 0; y < V; ++y) states[head + at(x, y)] = st[x * V + y];
      }
    }
    Expected e{{"o", o}, {"ssm_states", states}, {"g", g}};
    if (!Fused(p)) e["beta"] = beta;
    if (Verify(p)) e["intermediate"] = inter;
    return e;
  }
};

}  // namespace

std::unique_ptr<Op> MakeRecurrentGatedDeltaRuleOp() {
  return std::make_unique<RecurrentGatedDeltaRuleOp>();
}

}  // namespace npusim
