#include "workloads/step_graph.h"

#include <algorithm>
#include <map>

#include <spdlog/spdlog.h>

#include "model/error.h"
#include "ops/runner.h"
#include "workloads/kernel_cache.h"

namespace npusim {

namespace {

using Kvs = std::vector<std::pair<std::string, std::string>>;
std::string S(int64_t v) { return std::to_string(v); }

}  // namespace

const char* ForwardKindName(ForwardKind k) {
  switch (k) {
    case ForwardKind::kPrefill: return "prefill";
    case ForwardKind::kDecode: return "decode";
    case ForwardKind::kVerify: return "verify";
    case ForwardKind::kDraft: return "draft";
    default: return "draft_extend";
  }
}

std::vector<KernelCall> StepKernels(const ModelConfig& m, const ParallelPlan& p, const StepShape& o) {
  const RankShapes s = ShapesPerRank(m, p);
  const int64_t B = o.batch, L = o.tokens, T = B * L, H = m.hidden;
  const bool decode = L == 1 || o.verify;  // the recurrent kernels: one token, or d in verify mode
  const bool int8 = o.quant != WeightQuant::kNone;  // every linear layer int8 (experts int4 with W4A8)
  std::vector<KernelCall> calls;
  auto add = [&](const std::string& where, int64_t count, const std::string& op, Kvs kv) {
    if (count > 0) calls.push_back({op, std::move(kv), count, where});
  };
  // Collectives over `ranks` chips of `elements` per rank (none for one rank).
  auto collective = [&](const std::string& where, int64_t count, const char* op, int64_t ranks, int64_t elements) {
    const bool added = ranks > 1 && elements > 0 && count > 0;
    if (added) add(where, count, op, {{"ranks", S(ranks)}, {"elements", S(elements)}});
    return added;
  };
  // Attention and GDN are TP within a DP-attention group: their partial sums reduce over it.
  auto all_reduce = [&](const std::string& where, int64_t count) { collective(where, count, "all_reduce", s.attn_tp, T * H); };
  // Embedding and lm_head: vocab-parallel over the group (enable_dp_lm_head) or over all ranks,
  // which then see the tokens of every DP group.
  const int64_t head_ranks = p.dp_lm_head ? s.attn_tp : p.tp, head_T = p.dp_lm_head ? T : T * p.dp;
  // A linear layer over the step's T tokens: bf16, or W8A8 dynamic (per-token int8 activations
  // from dynamic_quant, unless the same input was just quantised for the previous linear).
  auto matmul = [&](const std::string& where, int64_t count, int64_t k, int64_t n, bool quantise_input = true, int64_t rows = -1) {
    const int64_t m_rows = rows < 0 ? T : rows;
    if (!int8) {
      add(where, count, "matmul", {{"m", S(m_rows)}, {"k", S(k)}, {"n", S(n)}});
      return;
    }
    if (quantise_input) add(where, count, "dynamic_quant", {{"tokens", S(m_rows)}, {"hidden", S(k)}});
    add(where, count, "quant_matmul", {{"m", S(m_rows)}, {"k", S(k)}, {"n", S(n)}});
  };
  add("head", 1, "embedding", {{"tokens", S(head_T)}, {"hidden", S(H)}, {"vocab", S(s.vocab)}, {"total_vocab", S(m.vocab)}});
  collective("head", 1, "all_reduce", head_ranks, head_T * H);

  const int64_t gdn = m.count(LayerKind::kLinearAttention);
  if (gdn) {
    add("gdn", gdn, "rms_norm", {{"tokens", S(T)}, {"hidden", S(H)}});
    matmul("gdn", gdn, H, 2 * s.lin_key_heads * m.lin_key_dim + 2 * s.lin_value_heads * m.lin_value_dim);  // in_proj_qkvz
    matmul("gdn", gdn, H, 2 * s.lin_value_heads, false);                                                    // in_proj_ba
    if (decode) {
      const std::string ssm = o.ssm_dtype.empty() ? (o.gdn_impl == "fused" ? "bfloat16" : m.mamba_ssm_dtype) : o.ssm_dtype;
      add("gdn", gdn, "causal_conv1d_update", {{"requests", S(B)}, {"draft_tokens", S(L)}, {"dim", S(s.conv_dim)}, {"kw", S(m.conv_kernel)}});
      add("gdn", gdn, "recurrent_gated_delta_rule",
          {{"impl", o.gdn_impl}, {"mode", o.verify ? "verify" : "decode"}, {"batch", S(B)}, {"draft_tokens", S(L)},
           {"heads_k", S(s.lin_key_heads)}, {"heads_v", S(s.lin_value_heads)}, {"k_dim", S(m.lin_key_dim)},
           {"v_dim", S(m.lin_value_dim)}, {"ssm_dtype", ssm}});
    } else {  // chunked path: gating, q/k L2 norms, varlen conv, the chunk-64 pipeline
      const std::string initial = o.prefix > 0 ? "all" : "none";
      add("gdn", gdn, "fused_gdn_gating", {{"tokens", S(T)}, {"heads", S(s.lin_value_heads)}});
      add("gdn", 2 * gdn, "l2norm", {{"tokens", S(T)}, {"heads", S(s.lin_key_heads)}, {"head_dim", S(m.lin_key_dim)}});
      add("gdn", gdn, "causal_conv1d_fn", {{"requests", S(B)}, {"seq_len", S(L)}, {"initial", initial}, {"dim", S(s.conv_dim)},
                                           {"kw", S(m.conv_kernel)}});
      add("gdn", gdn, "chunk_gated_delta_rule",
          {{"requests", S(B)}, {"tokens", S(L)}, {"initial", initial}, {"heads", S(s.lin_value_heads)}, {"key_heads", S(s.lin_key_heads)},
           {"k_dim", S(m.lin_key_dim)}, {"v_dim", S(m.lin_value_dim)},
           {"ssm_dtype", o.ssm_dtype.empty() ? m.mamba_ssm_dtype : o.ssm_dtype}, {"launch", o.gdn_prefill}});
    }
    add("gdn", gdn, "rms_norm_gated", {{"tokens", S(T)}, {"heads", S(s.lin_value_heads)}, {"v_dim", S(m.lin_value_dim)}});
    matmul("gdn", gdn, s.lin_value_heads * m.lin_value_dim, H);  // out_proj
    all_reduce("gdn", gdn);
  }
  auto attention = [&](const std::string& where, int64_t n, const AttentionShape& a, int64_t q, int64_t kv, bool sliding) {
    if (!n) return;
    const int64_t D = a.head_dim;
    add(where, n, "rms_norm", {{"tokens", S(T)}, {"hidden", S(H)}});
    // EAGLE3's layer reads [norm(embedding) | norm(hidden)]: a second norm, a 2H-wide GEMM input.
    if (m.eagle3) add(where, n, "rms_norm", {{"tokens", S(T)}, {"hidden", S(H)}});
    // q (+ gate), k, v in one GEMM; a q/k/v bias rides in the GEMM's epilogue (no launch of its own)
    matmul(where, n, m.attn_input_width(), m.q_proj_width(q, D) + 2 * kv * D);
    if (m.g_proj_width(q)) matmul(where, n, H, m.g_proj_width(q), false);  // g_proj
    if (m.qk_norm) add(where, n, "rms_norm", {{"tokens", S(T * (q + kv))}, {"hidden", S(D)}, {"residual", "0"}});
    add(where, n, "rotary_embedding", {{"tokens", S(T)}, {"heads", S(q)}, {"kv_heads", S(kv)}, {"head_dim", S(D)},
                                       {"rotary_dim", S(static_cast<int64_t>(static_cast<double>(D) * a.partial_rotary))}});
    Kvs fia = {{"batch", S(B)}, {"q_len", S(L)}, {"context", S(o.prefix)}, {"heads", S(q)}, {"kv_heads", S(kv)}, {"head_dim", S(D)},
               {"sparse_mode", sliding ? "4" : L == 1 ? "0" : "3"}};
    if (sliding) {
      fia.push_back({"window", S(m.sliding_window)});
      if (L == 1) fia.push_back({"mask", "swa"});  // the S4 fix: an explicit mask for one query
    }
    add(where, n, "fused_infer_attention_score", fia);
    if (m.gate != AttentionGate::kNone)
      add(where, n, "attention_gate", {{"tokens", S(T)}, {"heads", S(q)}, {"head_dim", S(D)},
                                       {"mode", m.gate == AttentionGate::kHeadwise ? "headwise" : "elementwise"}});
    matmul(where, n, q * D, H);  // o_proj
    all_reduce(where, n);
  };
  attention("attention", m.count(LayerKind::kFullAttention), m.full, s.q_heads, s.kv_heads, false);
  attention("sliding", m.count(LayerKind::kSlidingAttention), m.sliding, s.swa_q_heads, s.swa_kv_heads, true);

  int64_t moe = 0;
  for (bool b : m.moe_layer) moe += b;
  const int64_t dense = static_cast<int64_t>(m.layers.size()) - moe;
  if (moe) {
    // Tokens this rank feeds its experts. DeepEP (a2a): the group's tokens split over its ranks,
    // dispatched to the experts' ranks and combined back by all-to-all (balanced routing: a rank
    // receives as many rows as it sends), then gathered within the group for the next layer.
    // Otherwise MoE TP/EP over all ranks: every DP group's tokens gathered, partial sums all-reduced.
    const int64_t Tm = p.a2a ? (T + s.attn_tp - 1) / s.attn_tp : T * p.dp, rows = Tm * m.top_k;
    if (!p.a2a) collective("moe", moe, "all_gather", p.dp, T * H);
    add("moe", moe, "rms_norm", {{"tokens", S(Tm)}, {"hidden", S(H)}});
    add("moe", moe, "matmul", {{"m", S(Tm)}, {"k", S(H)}, {"n", S(m.experts)}});  // router
    add("moe", moe, "moe_gating_topk", {{"tokens", S(Tm)}, {"experts", S(m.experts)}, {"top_k", S(m.top_k)},
                                        {"scoring", m.sigmoid_router ? "sigmoid" : "softmax"}, {"bias", m.sigmoid_router ? "1" : "0"}});
    add("moe", moe, "moe_init_routing", {{"tokens", S(Tm)}, {"hidden", S(H)}, {"top_k", S(m.top_k)}, {"experts", S(m.experts)}});
    if (p.a2a && collective("moe", moe, "all_to_all", p.ep, rows * H)) calls.back().host_reads_result = true;  // dispatch
    // The experts' GEMMs: bf16, or W8A8 with the expanded rows quantised per row first (the
    // memory plan counts int8 experts; the timing reads them as int8 too).
    auto experts = [&](int64_t k, int64_t n) {
      if (int8) add("moe", moe, "dynamic_quant", {{"tokens", S(rows)}, {"hidden", S(k)}});
      add("moe", moe, "grouped_matmul", {{"rows", S(rows)}, {"experts", S(s.experts)}, {"k", S(k)}, {"n", S(n)}, {"skew", "0"},
                                         {"quant", !int8 ? "none" : o.quant == WeightQuant::kW4A8 ? "w4a8" : "w8a8"}});
    };
    experts(H, 2 * s.moe_intermediate);
    add("moe", moe, "swiglu", {{"tokens", S(rows)}, {"inter", S(s.moe_intermediate)}});
    experts(s.moe_intermediate, H);
    if (p.a2a) collective("moe", moe, "all_to_all", p.ep, rows * H);  // combine
    if (s.shared_intermediate) {  // the shared expert: linear layers like the rest, over the MoE's tokens
      matmul("moe", moe, H, 2 * s.shared_intermediate, true, Tm);
      add("moe", moe, "swiglu", {{"tokens", S(Tm)}, {"inter", S(s.shared_intermediate)}});
      matmul("moe", moe, s.shared_intermediate, H, true, Tm);
    }
    add("moe", moe, "moe_finalize_routing", {{"tokens", S(Tm)}, {"hidden", S(H)}, {"top_k", S(m.top_k)}, {"experts", S(m.experts)},
                                             {"shared", !s.shared_intermediate ? "none" : m.shared_gated ? "gated" : "plain"}});
    if (p.a2a)
      collective("moe", moe, "all_gather", s.attn_tp, Tm * H);
    else
      collective("moe", moe, "all_reduce", p.tp, Tm * H);
  }
  if (dense) {
    add("dense", dense, "rms_norm", {{"tokens", S(T)}, {"hidden", S(H)}});
    matmul("dense", dense, H, 2 * s.dense_intermediate);
    add("dense", dense, "swiglu", {{"tokens", S(T)}, {"inter", S(s.dense_intermediate)}});
    matmul("dense", dense, s.dense_intermediate, H);
    all_reduce("dense", dense);
  }
  // Verify needs the logits of every draft position; without the DP lm_head every group's tokens.
  const int64_t sampled = (o.verify ? T : B) * (p.dp_lm_head ? 1 : p.dp);
  add("head", 1, "rms_norm", {{"tokens", S(sampled)}, {"hidden", S(H)}});
  add("head", 1, "lm_head_argmax", {{"tokens", S(sampled)}, {"hidden", S(H)}, {"vocab", S(s.vocab)}});
  if (o.verify) {  // greedy acceptance, then commit the accepted token's ssm state and roll the conv window back
    add("head", 1, "verify_greedy", {{"batch", S(B)}, {"draft_tokens", S(L)}});
    if (gdn) {
      const std::string ssm = o.ssm_dtype.empty() ? (o.gdn_impl == "fused" ? "bfloat16" : m.mamba_ssm_dtype) : o.ssm_dtype;
      add("commit", 1, "move_intermediate_cache", {{"layers", S(gdn)}, {"requests", S(B)}, {"draft_tokens", S(L)},
                                                  {"heads", S(s.lin_value_heads)}, {"k_dim", S(m.lin_key_dim)},
                                                  {"v_dim", S(m.lin_value_dim)}, {"ssm_dtype", ssm}});
      add("commit", 1, "conv_state_rollback", {{"layers", S(gdn)}, {"requests", S(B)}, {"draft_tokens", S(L)},
                                               {"conv_kernel", S(m.conv_kernel)}, {"conv_dim", S(s.conv_dim)}});
    }
  }
  return calls;
}

namespace {

// A draft forward: the step graph of a one-layer model, unquantised (drafts are served
// unquantised, kernels.md §7.4), never in verify mode (tokens > 1: the extend over the prompt or
// the accepted tokens), with `fc` (an m x k -> n matmul) before the layer or after it; every
// call labelled "draft".
std::vector<KernelCall> DraftForward(const ModelConfig& one, const ParallelPlan& p, const StepShape& o, int64_t fc_k, bool fc_first) {
  StepShape s = o;
  s.verify = false;
  s.quant = WeightQuant::kNone;
  std::vector<KernelCall> calls = StepKernels(one, p, s);
  if (fc_k > 0) {
    const KernelCall fc{"matmul", {{"m", S(o.batch * o.tokens)}, {"k", S(fc_k)}, {"n", S(one.hidden)}}, 1, "draft"};
    calls.insert(fc_first ? std::find_if(calls.begin(), calls.end(), [](const KernelCall& c) { return c.where != "head"; }) : calls.end(), fc);
  }
  for (KernelCall& c : calls) c.where = "draft";
  return calls;
}

}  // namespace

std::vector<KernelCall> DraftStepKernels(const ModelConfig& m, const ParallelPlan& p, const StepShape& o) {
  // The draft layer is one decoder layer of the model's attention kind with its MLP, then the fc
  // over [embedding | hidden].
  ModelConfig one = m;
  one.layers = {m.sliding.heads ? LayerKind::kSlidingAttention : LayerKind::kFullAttention};
  one.moe_layer = {!m.moe_layer.empty() && m.moe_layer.back()};  // the MLP kind of the decoder's last layer
  return DraftForward(one, p, o, 2 * m.hidden, false);
}

std::vector<KernelCall> Eagle3DraftKernels(const ModelConfig& d, const ParallelPlan& p, const StepShape& o) {
  ModelConfig one = d;
  one.vocab = d.draft_vocab;  // the lm_head's rows; the embedding gather does not depend on them
  // The extend over the target's tokens first folds its low / middle / high hidden states.
  return DraftForward(one, p, o, o.tokens > 1 ? 3 * d.target_hidden : 0, true);
}

KernelProfile ProfileOf(const KernelRun& r, const DeviceConfig& d) {
  KernelProfile p;
  p.us = r.launch.time_us;
  p.launches = std::max<int64_t>(1, static_cast<int64_t>(r.launch_times.size()));
  p.roofline_us = r.roofline_us;
  p.bound = RooflineBound(r);
  p.cube_flops = r.launch.cube_flops;
  p.hbm_bytes = static_cast<double>(r.launch.hbm_read_bytes + r.launch.hbm_write_bytes);
  for (int side = 0; side < 2; ++side) {
    const auto& usage = side == 0 ? r.launch.aic : r.launch.aiv;
    for (int i = 0; i < kNumPipes; ++i)
      if (usage[i].cores > 0) p.busy_us[side * kNumPipes + i] = d.CyclesToUs(static_cast<double>(usage[i].busy_cycles) / usage[i].cores);
  }
  return p;
}

std::string ProfilePipeName(int i) {
  return std::string(i < kNumPipes ? "aic." : "aiv.") + PipeName(static_cast<Pipe>(i % kNumPipes));
}

StepTime TimeStep(const ModelConfig& m, const ParallelPlan& p, const DeviceConfig& d, const StepShape& o) {
  return TimeCalls(StepKernels(m, p, o), d);
}

StepTime TimeCalls(const std::vector<KernelCall>& calls, const DeviceConfig& d) {
  StepTime t;
  RunOptions ro;
  ro.mode = ModeChoice::kTimingOnly;
  for (const KernelCall& c : calls) {
    const Op& op = FindOp(c.op);
    ParamValues pv(op.params());
    for (const auto& [k, v] : c.params) pv.Set(k, v);
    // NPUSIM_KERNEL_CACHE (kernel_cache.h); the key costs a device fingerprint, so only with a cache.
    const std::string key = KernelCacheDir().empty() ? std::string() : c.op + "|" + pv.Canonical() + "|" + DeviceFingerprint(d);
    std::optional<KernelProfile> p = key.empty() ? std::nullopt : CachedProfile(key);
    if (!p) {
      spdlog::debug("timing {} ({})", c.op, pv.Canonical());
      const KernelRun r = RunKernel(op, pv, d, ro);  // memoised by op, parameters and device
      if (r.status != "ok") throw SimFailure(r.status, c.op + " (" + pv.Canonical() + "): " + r.message);
      p = ProfileOf(r, d);
      if (!key.empty()) StoreProfile(key, *p);
    }
    t.calls.push_back({c, p->us});
    t.profiles.push_back(*p);
    t.total_us += p->us * static_cast<double>(c.count);
  }
  return t;
}

}  // namespace npusim
