// `chunk_gated_delta_rule`: registration, inputs, the nine launches and the fp64 reference
// (kernels.md §3.1 recurrence; §3.2 chunked algorithm; §3.5 state layouts; scenario S3).
#include <algorithm>
#include <cmath>

#include "model/error.h"
#include "ops/chunk_gated_delta_rule/chunk_gdr_kernels.h"
#include "ops/chunk_gated_delta_rule/chunk_gdr_torch.h"
#include "ops/common/batched_matmul.h"
#include "ops/common/op_util.h"
#include "ops/common/pointwise.h"
#include "ops/state_pool.h"

namespace npusim {

namespace {

using op_util::Kv;

// The cube stages' GEMMs as batched problems, per chunk and head: K K^T (kkt), the WY products
// (wy_fast: W and U), Q K^T and Q h (chunk_o_qk), P V_new (chunk_o_pv).
struct StageGemms {
  batched_matmul::Batch kkt, wy, qk_qh, pv;
};

StageGemms ChunkGemms(const chunk_gdr::Dims& d, const chunk_gdr::Gm& g) {
  const auto H = static_cast<uint32_t>(d.H), HV = static_cast<uint32_t>(d.HV),
             K = static_cast<uint32_t>(d.K), V = static_cast<uint32_t>(d.V),
             C = static_cast<uint32_t>(d.C);
  StageGemms s;
  s.wy.out_fp32 = false;
  for (int64_t c = 0; c < d.NC(); ++c) {
    const chunk_gdr::Chunk& ch = d.chunks[static_cast<size_t>(c)];
    const auto L = static_cast<uint32_t>(ch.len);
    for (uint32_t j = 0; j < H; ++j) {
      const uint64_t k_at = static_cast<uint64_t>(ch.start) * H * K + j * K,
                     cj = (static_cast<uint64_t>(c) * H + j) * C * C;
      s.qk_qh.problems.push_back(
          {g.q, g.k, g.qk, k_at, k_at, cj, H * K, H * K, C, false, true, L, L, K});
    }
    for (uint32_t h = 0; h < HV; ++h) {
      const uint64_t cu = static_cast<uint64_t>(c) * HV + h,
                     q_at = static_cast<uint64_t>(ch.start) * H * K + h / (HV / H) * K;
      // K^ K^T per value head, as the production kernels compute it (beta and the decay are per
      // value head; the measured kkt time scales with the value heads, calibration.md C1), though
      // the G value heads of a key head get the same product. q_at is also this head's k row.
      s.kkt.problems.push_back(
          {g.k, g.k, g.kkt, q_at, q_at, cu * C * C, H * K, H * K, C, false, true, L, L, K});
      // T and P have zero columns beyond a partial chunk, Kb/Vb/V_new zero rows.
      s.wy.problems.push_back(
          {g.tm, g.kb, g.w, cu * C * C, cu * C * K, cu * C * K, C, K, K, false, false, L, K, C});
      s.wy.problems.push_back(
          {g.tm, g.vb, g.u, cu * C * C, cu * C * V, cu * C * V, C, V, V, false, false, L, V, C});
      s.qk_qh.problems.push_back({g.q, g.h, g.qh, q_at, cu * K * V, cu * C * V, H * K, d.vk ? K : V,
                                  V, false, d.vk, L, V, K});
      s.pv.problems.push_back(
          {g.p, g.vnew, g.pv, cu * C * C, cu * C * V, cu * C * V, C, V, V, false, false, L, V, C});
    }
  }
  return s;
}

// launch=torch: a torch op as the generic launch that moves its words (fp32 words: a bf16 or bool
// op moves fewer), operands in torch_x, results in torch_y.
int64_t Words(int64_t elements, int64_t bytes) { return (elements * bytes + 3) / 4; }

pointwise::Spec PointwiseSpec(const chunk_gdr::TorchOp& o, GmBuffer* x, GmBuffer* y) {
  pointwise::Spec s{x, y, Words(o.out, o.bytes), Words(o.in, o.bytes)};
  if (o.row > 0) {
    s.row = Words(o.row, o.bytes);
    s.stride = std::max(s.row, Words(o.stride, o.bytes));
    s.in = s.out = o.in / o.row * s.row;
    s.span = std::max(s.in, Words(o.span, o.bytes));
    s.strided_write = o.strided_write;
  }
  return s;
}

batched_matmul::Batch MatmulBatch(const chunk_gdr::TorchOp& o, GmBuffer* x, GmBuffer* y) {
  batched_matmul::Batch b;
  b.base_k = 64;  // fp32 operands: a 128 x 128 B tile would not fit L0B twice
  const auto m = static_cast<uint32_t>(o.m), n = static_cast<uint32_t>(o.n),
             k = static_cast<uint32_t>(o.k);
  const uint64_t a_words = static_cast<uint64_t>(o.batch) * m * k;
  for (int64_t i = 0; i < o.batch; ++i) {
    const auto u = static_cast<uint64_t>(i);
    b.problems.push_back({x, x, y, u * m * k, a_words + u * k * n, u * m * n, k, o.trans_b ? k : n,
                          n, false, o.trans_b, m, n, k});
  }
  return b;
}

// Words of torch_x and torch_y the largest op needs.
std::pair<int64_t, int64_t> TorchWorkspaceWords(const chunk_gdr::Dims& d) {
  int64_t x = 1, y = 1;
  for (const chunk_gdr::TorchOp& o : chunk_gdr::TorchForm(d)) {
    if (o.kind == chunk_gdr::TorchOp::Kind::kMatmul) {
      x = std::max(x, o.batch * (o.m * o.k + o.k * o.n));
      y = std::max(y, o.batch * o.m * o.n);
    } else {
      const pointwise::Spec s = PointwiseSpec(o, nullptr, nullptr);
      x = std::max(x, pointwise::SrcWords(s));
      y = std::max(y, pointwise::DstWords(s));
    }
  }
  return {x, y};
}

class ChunkGatedDeltaRuleOp : public Op {
 public:
  std::string name() const override { return "chunk_gated_delta_rule"; }
  std::string summary() const override {
    return "GDN prefill/extend, chunk 64 (or 128) WY/UT algorithm: cube products, vector "
           "gating/solve, AIC->AIV via GM (§3.2)";
  }
  std::vector<OpParam> params() const override {
    using K = OpParam::Kind;
    std::vector<OpParam> list = {
        {"requests", K::kInt, "1", "requests in the batch", 1, 65535},
        {"tokens", K::kInt, "4096", "tokens per request (unless seq_lens is given)", 0, 1e7},
        {"seq_lens", K::kString, "",
         "comma-separated tokens per request, overrides requests/tokens"},
        {"initial",
         K::kString,
         "none",
         "which requests continue from a pool state: all, none, mixed (even ones)",
         0,
         0,
         {"mixed", "all", "none"}},
        {"heads", K::kInt, "8", "value heads HV per rank", 1, 1024},
        {"key_heads", K::kInt, "4", "q/k heads H per rank (HV a multiple of H)", 1, 1024},
        {"k_dim", K::kInt, "128", "key head dim K (a multiple of 16, at most 128)", 16, 128},
        {"v_dim", K::kInt, "128", "value head dim V (a multiple of 32, at most 128)", 32, 128},
        {"ssm_dtype", K::kString, "float32", "state pool dtype", 0, 0, {"float32", "bfloat16"}},
        {"state_layout",
         K::kString,
         "kv",
         "physical state layout of the pool: kv = [HV, K, V], vk = [HV, V, K]",
         0,
         0,
         {"kv", "vk"}},
        {"fault",
         K::kString,
         "none",
         "transposed_state: read and write the pool in the other layout (scenario S3; needs K = V, "
         "else the shape error)",
         0,
         0,
         {"none", "transposed_state"}},
        {"pool_size", K::kInt, "0", "ssm pool slots incl. dummy slot 0 (0 = requests + 1)", 0, 1e9},
        {"cumsum",
         K::kString,
         "ascendc",
         "stage 1's kernel: ascendc (a chunk's rows added as whole rows of all heads, "
         "double-buffered across "
         "AIVs) or pto (megagdn-pto's chunk_cumsum: a row-by-row chain with a vector->scalar sync "
         "per row, one AIV per "
         "AI core, load/compute/store in sequence; calibration.md C1's PTO column)",
         0,
         0,
         {"ascendc", "pto"}},
        {"launch",
         K::kString,
         "staged",
         "staged: one launch per stage (9); mega: the stages in one kernel, a device-wide barrier "
         "between them (the PTO mega kernel's form); torch: sgl-kernel-npu's PyTorch-op form of "
         "2025-12 (chunk_gdr_torch.h), each op an eager launch; timing-only",
         0,
         0,
         {"staged", "mega", "torch"}},
        {"chunk",
         K::kInt,
         "64",
         "tokens per chunk (the kernels' BT): 64, or 128 as sgl-kernel-npu's Triton stages can "
         "run (launch=staged only; the AscendC solve stage's UB budget is sized for 64: at 128 it "
         "fits only when kkt and wy_fast are triton and it neither gates A nor scales K and V)",
         64,
         128,
         {"64", "128"}}};
    for (OpParam& form : StageForms()) list.push_back(std::move(form));
    return list;
  }

  // The stages with a second form: the production Triton kernel's (calibration.md C1's Triton
  // column), chosen one by one.
  static std::vector<OpParam> StageForms() {
    using K = OpParam::Kind;
    return {
        {"kkt",
         K::kString,
         "ascendc",
         "stage 2's kernel: ascendc (K K^T per chunk and value head, gated in stage 3) or triton "
         "(sgl-kernel-npu's Triton kernel: a program per chunk over the value heads, K K^T gated "
         "into A there; calibration.md C1's Triton column)",
         0,
         0,
         {"ascendc", "triton"}},
        {"wy_fast",
         K::kString,
         "ascendc",
         "stage 4's kernel: ascendc (batched T Kb, T Vb; stage 3 scales K and V) or triton "
         "(sgl-kernel-npu's Triton kernel: a program per chunk over the value heads, its AIVs "
         "casting T and scaling K and V to fp32 for the AIC's fp32 products; calibration.md C1's "
         "Triton column)",
         0,
         0,
         {"ascendc", "triton"}},
        {"chunk_h",
         K::kString,
         "ascendc",
         "stage 5's kernel: ascendc (each AIV of a group holds half the state's V columns, both "
         "halves per hand-off) or triton (sgl-kernel-npu's Triton kernel: a program per request "
         "and value head, its two V halves one after the other with a round of hand-offs each, "
         "Triton's launch and program costs; calibration.md C1's Triton column)",
         0,
         0,
         {"ascendc", "triton"}},
        {"chunk_o",
         K::kString,
         "ascendc",
         "stages 6-9: ascendc (four launches: Q K^T and Q h, the mask, P V, the output) or triton "
         "(sgl-kernel-npu's Triton chunk_o kernel: one mixed launch, a program per request and "
         "value head walking its chunks, Triton's launch and program costs; calibration.md C1's "
         "Triton column)",
         0,
         0,
         {"ascendc", "triton"}}};
  }

  static std::vector<int64_t> Lens(const ParamValues& p) {
    if (!p.Str("seq_lens").empty()) return SeqLens(p);
    return std::vector<int64_t>(static_cast<size_t>(p.Int("requests")), p.Int("tokens"));
  }
  static int64_t Pool(const ParamValues& p) {
    return p.Int("pool_size") > 0 ? p.Int("pool_size") : static_cast<int64_t>(Lens(p).size()) + 1;
  }

  chunk_gdr::Dims DimsOf(const ParamValues& p) const {
    chunk_gdr::Dims d;
    d.C = p.Int("chunk");
    if (d.C != chunk_gdr::kChunk && p.Str("launch") != "staged")
      throw InputError("chunk=" + std::to_string(d.C) + " with launch=" + p.Str("launch") +
                       ": only the staged form takes a chunk size (the mega and torch forms are "
                       "chunk 64)");
    chunk_gdr::BuildChunks(Lens(p), d);
    d.H = p.Int("key_heads");
    d.HV = p.Int("heads");
    d.K = p.Int("k_dim");
    d.V = p.Int("v_dim");
    if (d.HV % d.H)
      throw InputError("parameter 'heads' (" + std::to_string(d.HV) +
                       ") must be a multiple of 'key_heads'");
    if (d.K % 16 || d.V % 32)
      throw InputError("k_dim must be a multiple of 16 and v_dim of 32 (32 B rows per AIV half)");
    if (Pool(p) < d.B + 1)
      throw InputError(
          "parameter 'pool_size' must be at least requests + 1 (slot 0 is the dummy slot)");
    const bool fault = p.Str("fault") == "transposed_state";
    if (fault && d.K != d.V)
      throw InputError(
          "fault=transposed_state: the state transposed to [V, K] = [" + std::to_string(d.V) +
          ", " + std::to_string(d.K) +
          "] does not fit the pool's [K, V] view; with K != V the S3 fault is a shape error");
    d.vk = (p.Str("state_layout") == "vk") != fault;
    d.ssm = ParseDType(p.Str("ssm_dtype"));
    d.scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(d.K)));
    d.triton_h = p.Str("chunk_h") == "triton";
    d.triton_o = p.Str("chunk_o") == "triton";
    d.triton_kkt = p.Str("kkt") == "triton";
    d.triton_wy = p.Str("wy_fast") == "triton";
    if (p.Str("launch") != "staged" && (d.triton_h || d.triton_o || d.triton_kkt || d.triton_wy))
      throw InputError("launch=" + p.Str("launch") +
                       " has no stages to put in their Triton forms (kkt, wy_fast, chunk_h, "
                       "chunk_o = triton): use launch=staged with them");
    if (d.triton_h && d.V % 64)
      throw InputError(
          "chunk_h=triton: v_dim must be a multiple of 64 (each AIV takes a quarter "
          "of V in 32 B rows), got " +
          std::to_string(d.V));
    return d;
  }

  std::vector<TensorSpec> tensors(const ParamValues& p) const override {
    const chunk_gdr::Dims d = DimsOf(p);
    const DType bf = DType::kBFloat16, f32 = DType::kFloat32;
    const int64_t T = d.T, NC = d.NC(), H = d.H, HV = d.HV, K = d.K, V = d.V, B = d.B, C = d.C;
    const Shape state =
        p.Str("state_layout") == "vk" ? Shape{Pool(p), HV, V, K} : Shape{Pool(p), HV, K, V};
    const auto ws = TensorRole::kWorkspace;
    // The chunk table (and the reference) follow the seq_lens parameter, not this tensor.
    TensorSpec qsl{"query_start_loc", {B + 1}, DType::kInt32, TensorRole::kInput, true, 0, T, true};
    qsl.fixed_by_params = true;
    std::vector<TensorSpec> specs = {
        {"q", {T, H, K}, bf},
        {"k", {T, H, K}, bf},
        {"v", {T, HV, V}, bf},
        {"g", {T, HV}, f32, TensorRole::kInput},
        {"beta", {T, HV}, bf, TensorRole::kInput},
        {"ssm_states", state, d.ssm, TensorRole::kInOut},
        qsl,
        {"cache_indices", {B}, DType::kInt32, TensorRole::kInput, true, 0, Pool(p) - 1},
        {"has_initial_state", {B}, DType::kInt32, TensorRole::kInput, true, 0, 1},
        {"o", {T, HV, V}, bf, TensorRole::kOutput},
        {"G", {T, HV}, f32, ws},
        {"kkt", {NC, HV, C, C}, f32, ws},
        {"t_inv", {NC, HV, C, C}, bf, ws},
        {"kb", {NC, HV, C, K}, bf, ws},
        {"vb", {NC, HV, C, V}, bf, ws},
        {"w", {NC, HV, C, K}, bf, ws},
        {"u", {NC, HV, C, V}, bf, ws},
        {"h", {NC, HV, K, V}, bf, ws},
        {"v_new", {NC, HV, C, V}, bf, ws},
        {"w_h", {B * HV, C, V}, f32, ws},
        {"vs", {B * HV, C, V}, bf, ws},
        {"kv", {B * HV, K, V}, f32, ws},
        {"qk", {NC, H, C, C}, f32, ws},
        {"qh", {NC, HV, C, V}, f32, ws},
        {"p", {NC, HV, C, C}, bf, ws},
        {"pv", {NC, HV, C, V}, f32, ws}};
    if (p.Str("wy_fast") == "triton") specs.push_back({"kb_f32", {NC, HV, C, K}, f32, ws});
    if (p.Str("launch") == "torch") {  // the torch ops' operands and results
      const auto [x, y] = TorchWorkspaceWords(d);
      specs.push_back({"torch_x", {x}, f32, ws});
      specs.push_back({"torch_y", {y}, f32, ws});
    }
    return specs;
  }

  void FillInputs(const ParamValues& p, TensorMap& t, Rng& rng) const override {
    const chunk_gdr::Dims d = DimsOf(p);
    const std::vector<int64_t> lens = Lens(p);
    const std::vector<int64_t> slots = ShuffledSlots(Pool(p), rng);
    int64_t at = 0;
    for (int64_t b = 0; b < d.B; ++b) {
      t["query_start_loc"].Set(b, static_cast<double>(at));
      at += lens[static_cast<size_t>(b)];
      t["cache_indices"].Set(b, static_cast<double>(slots[static_cast<size_t>(b)]));
      t["has_initial_state"].Set(b, HasInitial(p, b) ? 1 : 0);
    }
    t["query_start_loc"].Set(d.B, static_cast<double>(at));
    for (const char* name :
         {"q", "k"}) {  // L2-normalised per head, as the l2norm kernel hands them over
      Tensor& x = t[name];
      if (!x.materialised()) continue;
      std::vector<double> row(static_cast<size_t>(d.K));
      for (int64_t r = 0; r < d.T * d.H; ++r) {
        double ss = 0;
        for (auto& e : row) {
          e = rng.Normal();
          ss += e * e;
        }
        for (int64_t i = 0; i < d.K; ++i)
          x.Set(r * d.K + i, row[static_cast<size_t>(i)] / std::sqrt(ss + 1e-6));
      }
    }
    op_util::FillNormal(t["v"], rng);
    op_util::FillUniform(t["g"], rng, -1.0,
                         -0.01);  // log decays: -exp(A_log) softplus(a + dt_bias) < 0
    op_util::FillUniform(t["beta"], rng, 0.05, 0.95);  // sigmoid(b)
    op_util::FillNormal(t["ssm_states"], rng, 0.5);
  }

  // Long prefills (requests of one length, more than kLongPrefill tokens each) are timed launch
  // by launch from probes of kProbeTokens and twice that (ops/runner.cpp TimeChainFromProbes):
  // every stage walks the chunks of each (request, head) pair, so each launch's busiest core
  // grows linearly with the tokens once the hand-offs miss L2 (above 16384 tokens of 48 heads:
  // 131072 tokens on 910B2 extrapolate to 48894.7 us, simulate to 48893.1 us). Mixed initial
  // states and faults are simulated as given.
  static constexpr int64_t kProbeTokens = 16384, kLongPrefill = 4 * kProbeTokens;
  std::optional<Extrapolation> Extrapolate(const ParamValues& p, const DeviceConfig&,
                                           GmMap&) const override {
    if (!p.Str("seq_lens").empty() || p.Str("fault") != "none" || p.Str("initial") == "mixed" ||
        p.Int("tokens") <= kLongPrefill || p.Str("launch") == "torch")
      return std::nullopt;
    Extrapolation ex;
    ex.work_name = "token of each request";
    for (int64_t tokens : {kProbeTokens, 2 * kProbeTokens}) {
      ParamValues probe = p;
      probe.Set("tokens", std::to_string(tokens));
      ex.probes.push_back(probe);
      ex.probe_sizes.push_back(static_cast<double>(tokens));
    }
    ex.size = static_cast<double>(p.Int("tokens"));
    return ex;
  }

  // Stage 1 in the form `cumsum` asks for.
  KernelLaunch CumsumLaunch(const ParamValues& p, const DeviceConfig& dev, const chunk_gdr::Gm& g,
                            const chunk_gdr::Dims& d) const {
    using ascendc::bfloat16_t;
    const std::string stage = name() + ".cumsum";
    if (p.Str("cumsum") == "pto") {
      const auto tiles =
          static_cast<int64_t>(chunk_gdr::KernelCumsumPto<bfloat16_t>::Tiles(d).size());
      return op_util::LaunchOf<chunk_gdr::KernelCumsumPto>(
          stage, std::min<int64_t>(std::max<int64_t>(tiles, 1), dev.aic_count), CoreType::kAiv,
          DType::kBFloat16, g, d);
    }
    return op_util::LaunchOf<chunk_gdr::KernelCumsum>(
        stage, std::min<int64_t>(std::max<int64_t>(d.NC(), 1), dev.aiv_count), CoreType::kAiv,
        DType::kBFloat16, g, d);
  }

  LaunchPlan Plan(const ParamValues& p, const DeviceConfig& dev, GmMap& gm) const override {
    chunk_gdr::Dims d = DimsOf(p);
    if (p.Str("launch") == "torch") return TorchPlan(d, dev, gm);
    if (d.triton_h || d.triton_o || d.triton_kkt || d.triton_wy)
      d.program_cycles = dev.triton_program_cycles;
    const int32_t* slots = reinterpret_cast<const int32_t*>(gm["cache_indices"].data);
    const int32_t* init = reinterpret_cast<const int32_t*>(gm["has_initial_state"].data);
    for (int64_t b = 0; b < d.B; ++b) {
      d.slots.push_back(slots[b]);
      d.has_initial.push_back(init[b] != 0);
    }
    chunk_gdr::Gm g{&gm["q"],  &gm["k"],  &gm["v"],   &gm["g"],     &gm["beta"], &gm["ssm_states"],
                    &gm["o"],  &gm["G"],  &gm["kkt"], &gm["t_inv"], &gm["kb"],   &gm["vb"],
                    &gm["w"],  &gm["u"],  &gm["h"],   &gm["v_new"], &gm["w_h"],  &gm["vs"],
                    &gm["kv"], &gm["qk"], &gm["qh"],  &gm["p"],     &gm["pv"]};
    if (d.triton_wy) g.kb_f32 = &gm["kb_f32"];
    using ascendc::bfloat16_t;
    const StageGemms gemms = ChunkGemms(d, g);
    const int64_t units = d.NC() * d.HV,
                  aiv = std::min<int64_t>(std::max<int64_t>(units, 1), dev.aiv_count);
    auto stage = [&](const std::string& what) { return name() + "." + what; };
    const DType bf = DType::kBFloat16;
    LaunchPlan plan;
    plan.launch = CumsumLaunch(p, dev, g, d);
    // A Triton launch: a program per chunk (kkt, wy_fast) or per (request, value head), mixed.
    auto triton = [&](KernelLaunch l) {
      l.start_delay_us = dev.triton_launch_us;
      plan.then.push_back(std::move(l));
    };
    const int64_t chunk_programs = std::min<int64_t>(std::max<int64_t>(d.NC(), 1), dev.aic_count);
    if (d.triton_kkt)
      triton(op_util::LaunchOf<chunk_gdr::KernelKktTriton>(stage("kkt"), chunk_programs,
                                                           CoreType::kMix, bf, g, d));
    else
      plan.then.push_back(
          batched_matmul::Launch<bfloat16_t>(name() + ".kkt", gemms.kkt, dev.aic_count));
    plan.then.push_back(op_util::LaunchOf<chunk_gdr::KernelPrepare>(stage("solve_tril"), aiv,
                                                                    CoreType::kAiv, bf, g, d));
    if (d.triton_wy)
      triton(op_util::LaunchOf<chunk_gdr::KernelWyFastTriton>(stage("wy_fast"), chunk_programs,
                                                              CoreType::kMix, bf, g, d));
    else
      plan.then.push_back(
          batched_matmul::Launch<bfloat16_t>(name() + ".wy_fast", gemms.wy, dev.aic_count));
    const int64_t unit_programs = std::min<int64_t>(d.B * d.HV, dev.aic_count);
    auto chunk_h = op_util::LaunchOf<chunk_gdr::KernelChunkH>(stage("chunk_h"), unit_programs,
                                                              CoreType::kMix, bf, g, d);
    if (d.triton_h)
      triton(std::move(chunk_h));
    else
      plan.then.push_back(std::move(chunk_h));
    if (d.triton_o) {
      triton(op_util::LaunchOf<chunk_gdr::KernelChunkOTriton>(stage("chunk_o"), unit_programs,
                                                              CoreType::kMix, bf, g, d));
    } else {
      plan.then.push_back(
          batched_matmul::Launch<bfloat16_t>(name() + ".chunk_o_qk", gemms.qk_qh, dev.aic_count));
      plan.then.push_back(op_util::LaunchOf<chunk_gdr::KernelMask>(stage("chunk_o_mask"), aiv,
                                                                   CoreType::kAiv, bf, g, d));
      plan.then.push_back(
          batched_matmul::Launch<bfloat16_t>(name() + ".chunk_o_pv", gemms.pv, dev.aic_count));
      plan.then.push_back(op_util::LaunchOf<chunk_gdr::KernelOutput>(stage("chunk_o"), aiv,
                                                                     CoreType::kAiv, bf, g, d));
    }
    const bool mega = p.Str("launch") == "mega";
    if (mega) {  // one kernel: the first stage's launch is the kernel's, the rest follow a barrier
      plan.launch.name = name() + ".mega";
      for (KernelLaunch& l : plan.then) l.same_kernel = true;
    }
    plan.tiling = {Kv("chunk", d.C), Kv("chunks", d.NC()),
                   Kv("launches", mega ? 1 : static_cast<int64_t>(plan.then.size()) + 1),
                   Kv("state_orientation", d.vk ? "vk" : "kv")};
    return plan;
  }

  // launch=torch: every op of the PyTorch composite its own launch, in issue order. Timing-only:
  // the launches move each op's words but do not compute them (the form's numbers are the
  // chunked algorithm's, which the other forms compute and test).
  LaunchPlan TorchPlan(const chunk_gdr::Dims& d, const DeviceConfig& dev, GmMap& gm) const {
    GmBuffer *x = &gm["torch_x"], *y = &gm["torch_y"];
    LaunchPlan plan;
    bool first = true;
    for (const chunk_gdr::TorchOp& o : chunk_gdr::TorchForm(d)) {
      KernelLaunch l = o.kind == chunk_gdr::TorchOp::Kind::kMatmul
                           ? batched_matmul::Launch<float>(name() + ".torch." + o.name,
                                                           MatmulBatch(o, x, y), dev.aic_count)
                           : pointwise::Launch(name() + ".torch." + o.name, PointwiseSpec(o, x, y),
                                               dev.aiv_count);
      l.torch_op = true;
      if (first)
        plan.launch = std::move(l);
      else
        plan.then.push_back(std::move(l));
      first = false;
    }
    plan.tiling = {Kv("chunk", d.C), Kv("chunks", d.NC()),
                   Kv("launches", static_cast<int64_t>(plan.then.size()) + 1)};
    return plan;
  }
  std::string TimingOnly(const ParamValues& p) const override {
    return p.Str("launch") == "torch"
               ? "launch=torch times sgl-kernel-npu's PyTorch-op form, each op a generic launch "
                 "that moves its data without computing it (the other forms compute the same "
                 "chunked algorithm)"
               : "";
  }

  // The canonical recurrence of §3.1 in fp64 per request and value head (q, k as given: they
  // are already L2-normalised), from the pool state in its declared layout.
  Expected Reference(const ParamValues& p, const TensorMap& in) const override {
    chunk_gdr::Dims d = DimsOf(p);
    const bool vk = p.Str("state_layout") == "vk";
    const Tensor &q = in.at("q"), &k = in.at("k"), &v = in.at("v"), &g = in.at("g"),
                 &beta = in.at("beta");
    const Tensor &pool = in.at("ssm_states"), &slots = in.at("cache_indices"),
                 &init = in.at("has_initial_state");
    const int64_t H = d.H, HV = d.HV, K = d.K, V = d.V;
    const double scale = 1.0 / std::sqrt(static_cast<double>(K));
    std::vector<double> o(static_cast<size_t>(d.T * HV * V)), st(static_cast<size_t>(pool.numel()));
    for (int64_t i = 0; i < pool.numel(); ++i) st[static_cast<size_t>(i)] = pool.At(i);
    auto at = [&](int64_t slot, int64_t h, int64_t kk, int64_t vv) {
      return static_cast<size_t>(((slot * HV + h) * (vk ? V : K) + (vk ? vv : kk)) * (vk ? K : V) +
                                 (vk ? kk : vv));
    };
    const std::vector<int64_t> lens = Lens(p);
    int64_t start = 0;
    // Each row of S is swept once per pass with the value index innermost (it vectorises); every
    // sum still runs over k in increasing order, as the textbook loops with k innermost do.
    std::vector<double> S(static_cast<size_t>(K * V)), kv(static_cast<size_t>(V)),
        acc(static_cast<size_t>(V));
    std::vector<double> kr(static_cast<size_t>(K)), qr(static_cast<size_t>(K));
    for (int64_t b = 0; b < d.B; ++b) {
      const auto slot = static_cast<int64_t>(slots.At(b));
      for (int64_t h = 0; h < HV; ++h) {
        const int64_t j = h / (HV / H);
        for (int64_t kk = 0; kk < K; ++kk)
          for (int64_t vv = 0; vv < V; ++vv)
            S[static_cast<size_t>(kk * V + vv)] = init.At(b) != 0 ? st[at(slot, h, kk, vv)] : 0.0;
        for (int64_t t = start; t < start + lens[static_cast<size_t>(b)]; ++t) {
          const double decay = std::exp(g.At(t * HV + h)), bt = beta.At(t * HV + h);
          for (int64_t kk = 0; kk < K; ++kk) {
            kr[static_cast<size_t>(kk)] = k.At((t * H + j) * K + kk);
            qr[static_cast<size_t>(kk)] = q.At((t * H + j) * K + kk);
          }
          std::fill(kv.begin(), kv.end(), 0.0);  // S^T k, after the decay
          for (int64_t kk = 0; kk < K; ++kk) {
            double* row = &S[static_cast<size_t>(kk * V)];
            for (int64_t vv = 0; vv < V; ++vv) {
              row[vv] *= decay;
              kv[static_cast<size_t>(vv)] += row[vv] * kr[static_cast<size_t>(kk)];
            }
          }
          for (int64_t vv = 0; vv < V; ++vv)  // u = beta (v - S^T k)
            kv[static_cast<size_t>(vv)] =
                bt * (v.At((t * HV + h) * V + vv) - kv[static_cast<size_t>(vv)]);
          std::fill(acc.begin(), acc.end(), 0.0);  // S += k u^T, then o = S^T q
          for (int64_t kk = 0; kk < K; ++kk) {
            double* row = &S[static_cast<size_t>(kk * V)];
            const double kt = kr[static_cast<size_t>(kk)], qt = qr[static_cast<size_t>(kk)];
            for (int64_t vv = 0; vv < V; ++vv) {
              row[vv] += kt * kv[static_cast<size_t>(vv)];
              acc[static_cast<size_t>(vv)] += row[vv] * qt;
            }
          }
          for (int64_t vv = 0; vv < V; ++vv)
            o[static_cast<size_t>((t * HV + h) * V + vv)] = acc[static_cast<size_t>(vv)] * scale;
        }
        if (lens[static_cast<size_t>(b)] > 0)
          for (int64_t kk = 0; kk < K; ++kk)
            for (int64_t vv = 0; vv < V; ++vv)
              st[at(slot, h, kk, vv)] = S[static_cast<size_t>(kk * V + vv)];
      }
      start += lens[static_cast<size_t>(b)];
    }
    return {{"o", o}, {"ssm_states", st}};
  }
};

}  // namespace

std::unique_ptr<Op> MakeChunkGatedDeltaRuleOp() {
  return std::make_unique<ChunkGatedDeltaRuleOp>();
}

}  // namespace npusim
