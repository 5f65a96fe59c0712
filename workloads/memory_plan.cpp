#include "workloads/memory_plan.h"

#include <algorithm>

#include "model/dtype.h"
#include "model/error.h"

namespace npusim {

namespace {

int64_t Split(int64_t n, int64_t parts, const std::string& what) {
  if (parts <= 0 || n % parts)
    throw InputError(what + " (" + std::to_string(n) + ") does not divide over " +
                     std::to_string(parts) + " ranks");
  return n / parts;
}

// Heads split over the attention TP group; KV heads fewer than the group are replicated.
int64_t KvSplit(int64_t kv, int64_t tp, const std::string& what) {
  if (kv >= tp) return Split(kv, tp, what);
  if (tp % kv)
    throw InputError(what + " (" + std::to_string(kv) +
                     ") neither divides nor is replicated evenly over " + std::to_string(tp) +
                     " ranks");
  return 1;
}

}  // namespace

RankShapes ShapesPerRank(const ModelConfig& m, const ParallelPlan& p) {
  RankShapes s;
  s.attn_tp = Split(p.tp, p.dp, "tp_size over dp_size");
  s.moe_tp = Split(p.tp, p.ep, "tp_size over ep_size");
  s.q_heads = Split(m.full.heads, s.attn_tp, "num_attention_heads");
  s.kv_heads = KvSplit(m.full.kv_heads, s.attn_tp, "num_key_value_heads");
  if (m.count(LayerKind::kSlidingAttention)) {
    s.swa_q_heads = Split(m.sliding.heads, s.attn_tp, "sliding num_attention_heads");
    s.swa_kv_heads = KvSplit(m.sliding.kv_heads, s.attn_tp, "sliding num_attention_groups");
  }
  if (m.count(LayerKind::kLinearAttention)) {
    s.lin_key_heads = Split(m.lin_key_heads, s.attn_tp, "linear_num_key_heads");
    s.lin_value_heads = Split(m.lin_value_heads, s.attn_tp, "linear_num_value_heads");
    s.conv_dim = 2 * s.lin_key_heads * m.lin_key_dim + s.lin_value_heads * m.lin_value_dim;
  }
  if (m.experts) {
    s.experts = Split(m.experts, p.ep, "num_experts");
    s.moe_intermediate = Split(m.moe_intermediate, s.moe_tp, "moe_intermediate_size");
    s.shared_intermediate = m.shared_intermediate ? Split(m.shared_intermediate, p.tp,
                                                          "shared expert intermediate size")
                                                  : 0;
  }
  s.dense_intermediate =
      m.dense_intermediate ? Split(m.dense_intermediate, p.tp, "intermediate_size") : 0;
  const int64_t vocab_ranks = p.dp_lm_head ? s.attn_tp : p.tp;
  s.vocab =
      (m.vocab + vocab_ranks - 1) / vocab_ranks;  // vocab-parallel shards, the last one padded
  return s;
}

std::vector<std::pair<std::string, int64_t>> MemoryPlan::Breakdown() const {
  return {{"weights", weights},
          {"mtp_weights", mtp_weights},
          {"mamba_state_pool", slots * mamba_per_request},
          {"mtp_spec_caches", spec_slots * spec_per_request},
          {"swa_kv", spec_slots * swa_kv_per_request},
          {"kv_pool", kv_pool},
          {"workspace", workspace},
          {"budget (mem_fraction_static x HBM)", budget},
          {"hbm", hbm}};
}

WeightQuant ParseWeightQuant(const std::string& q) {
  if (q.empty()) return WeightQuant::kNone;
  if (q == "w8a8_dynamic") return WeightQuant::kW8A8;
  if (q == "w4a8_dynamic") return WeightQuant::kW4A8;
  throw InputError("quantization '" + q +
                   "' is not supported (use w8a8_dynamic, w4a8_dynamic or leave it empty)");
}

namespace {

using Q = WeightQuant;
constexpr int64_t kBf = 2;  // bytes of a bf16 element

// Bytes of one rank's weights, part by part, under a weight quantisation.
class WeightBytes {
 public:
  WeightBytes(const ModelConfig& m, const RankShapes& s) : m_(m), s_(s), H_(m.hidden) {}

  // A linear [in -> out] on this rank: bf16, or int8 with an fp32 scale per output channel.
  static int64_t Linear(int64_t in, int64_t out, Q q) {
    return q != Q::kNone ? in * out + out * 4 : in * out * kBf;
  }
  // A routed expert's linear: int4 packed two per byte with W4A8, else as the other linears.
  static int64_t ExpertLinear(int64_t in, int64_t out, Q q) {
    return q == Q::kW4A8 ? in * out / 2 + out * 4 : Linear(in, out, q);
  }
  int64_t Layer(LayerKind k, bool moe, Q w) const {
    int64_t b = 2 * H_ * kBf;
    if (k == LayerKind::kLinearAttention)
      b += Gdn(w);
    else if (k == LayerKind::kMla)
      b += Mla(w);
    else if (k == LayerKind::kSlidingAttention)
      b += Attention(m_.sliding, s_.swa_q_heads, s_.swa_kv_heads, w);
    else
      b += Attention(m_.full, s_.q_heads, s_.kv_heads, w);
    return b + Mlp(moe, w);
  }

 private:
  int64_t Attention(const AttentionShape& a, int64_t q, int64_t kv, Q w) const {
    const int64_t D = a.head_dim;
    const int64_t gate = m_.g_proj_width(q) ? Linear(H_, m_.g_proj_width(q), Q::kNone) : 0;
    const int64_t bias = m_.qkv_bias ? (q + 2 * kv) * D * kBf : 0,
                  qk_norm = m_.qk_norm ? 2 * D * kBf : 0;
    return Linear(H_, m_.q_proj_width(q, D), w) + 2 * Linear(H_, kv * D, w) + Linear(q * D, H_, w) +
           gate + bias + qk_norm;
  }
  int64_t Gdn(Q w) const {
    const int64_t hv = s_.lin_value_heads,
                  qkvz = 2 * s_.lin_key_heads * m_.lin_key_dim + 2 * hv * m_.lin_value_dim;
    return Linear(H_, qkvz, w) + Linear(H_, 2 * hv, w) + s_.conv_dim * m_.conv_kernel * kBf +
           2 * hv * 4 + m_.lin_value_dim * kBf + Linear(hv * m_.lin_value_dim, H_, w);
  }
  // MLA as SGLang splits it: q_a and kv_a (to the latent and the rope key) replicated, q_b and
  // kv_b by heads, o_proj by its input.
  int64_t Mla(Q w) const {
    const MlaShape& a = m_.mla;
    const int64_t q = s_.q_heads, qk = m_.full.head_dim;
    const int64_t q_part = a.q_lora_rank > 0 ? Linear(H_, a.q_lora_rank, w) + a.q_lora_rank * kBf +
                                                   Linear(a.q_lora_rank, q * qk, w)
                                             : Linear(H_, q * qk, w);
    return q_part + Linear(H_, a.latent_per_token(), w) + a.kv_lora_rank * kBf +
           Linear(a.kv_lora_rank, q * (a.qk_nope_head_dim + a.v_head_dim), w) +
           Linear(q * a.v_head_dim, H_, w);
  }
  int64_t Mlp(bool moe, Q w) const {
    if (!moe) return 3 * Linear(H_, s_.dense_intermediate, w);
    return s_.experts * 3 * ExpertLinear(H_, s_.moe_intermediate, w) +
           3 * Linear(H_, s_.shared_intermediate, w) + H_ * m_.experts * kBf +
           (m_.shared_gated ? H_ * kBf : 0) + (m_.score_bias ? m_.experts * 4 : 0);
  }

  const ModelConfig& m_;
  const RankShapes& s_;
  int64_t H_;
};

// The model's weights, and the draft's: its MTP layers, or the EAGLE3 draft model split like
// the target (`ds`: its shapes; its embedding is the target's).
void PlanWeights(const ModelConfig& m, const ParallelPlan& p, const RankShapes& s,
                 const RankShapes& ds, const MemoryOptions& o, MemoryPlan& plan) {
  const WeightBytes w(m, s);
  const Q quant = ParseWeightQuant(o.quantization),
          draft_quant = ParseWeightQuant(o.draft_quantization);
  const int64_t H = m.hidden;
  plan.weights = (m.tied_embeddings ? 1 : 2) * s.vocab * H * kBf + H * kBf;
  for (size_t l = 0; l < m.layers.size(); ++l)
    plan.weights += w.Layer(m.layers[l], m.moe_layer[l], quant);
  if (o.draft_tokens > 0)  // unquantised unless the draft's quantisation says otherwise
    for (int64_t i = 0; i < m.mtp_layers; ++i)
      plan.mtp_weights += WeightBytes::Linear(2 * H, H, draft_quant) / p.tp + 2 * H * kBf +
                          w.Layer(m.count(LayerKind::kMla) ? LayerKind::kMla
                                  : m.sliding.heads        ? LayerKind::kSlidingAttention
                                                           : LayerKind::kFullAttention,
                                  m.experts > 0, draft_quant);
  if (o.eagle3_draft) {
    const ModelConfig& dm = *o.eagle3_draft;
    const int64_t Hd = dm.hidden, D = dm.full.head_dim, in = dm.attn_input_width();
    const int64_t vocab_ranks = p.dp_lm_head ? ds.attn_tp : p.tp;
    auto linear = [&](int64_t i, int64_t out) { return WeightBytes::Linear(i, out, draft_quant); };
    plan.mtp_weights = linear(in, (ds.q_heads + 2 * ds.kv_heads) * D) + linear(ds.q_heads * D, Hd) +
                       3 * linear(Hd, ds.dense_intermediate) + linear(3 * dm.target_hidden, Hd) +
                       (dm.draft_vocab + vocab_ranks - 1) / vocab_ranks * Hd * kBf + 4 * Hd * kBf;
  }
}

// The GDN state pool: per request the conv window (kw-1, +d-1 rows with MTP) and ssm state per
// GDN layer; with MTP the intermediate caches hold d ssm states and d conv windows per layer.
// Returns the slots the pool gives each running request.
int64_t PlanStatePool(const ModelConfig& m, const RankShapes& s, const MemoryOptions& o,
                      MemoryPlan& plan) {
  const int64_t gdn_layers = m.count(LayerKind::kLinearAttention),
                d_tok = std::max<int64_t>(o.draft_tokens, 0);
  const int64_t ssm_bytes =
      static_cast<int64_t>(SizeOf(ParseDType(SsmPoolDtype(o.ssm_dtype, o.gdn_decode_impl, m))));
  const int64_t conv_rows = m.conv_kernel - 1 + (d_tok > 0 ? d_tok - 1 : 0);
  const int64_t ssm_state = s.lin_value_heads * m.lin_key_dim * m.lin_value_dim * ssm_bytes;
  plan.mamba_per_request = gdn_layers * (conv_rows * s.conv_dim * kBf + ssm_state);
  plan.spec_per_request =
      d_tok > 0 ? gdn_layers * d_tok * (ssm_state + (m.conv_kernel - 1) * s.conv_dim * kBf) : 0;
  plan.max_running = o.max_running_requests;
  int64_t ratio = 1;
  if (gdn_layers == 0) {
    plan.slots = o.max_running_requests +
                 1;  // an attention-only model has no state pool (its per-request sizes are 0)
  } else {
    // SGLang's mamba pool (model_runner_kv_cache_mixin.py, Ascend/sglang @59cd2cdb): without the
    // radix cache one slot per running request; with it `ratio` slots per running request (3:
    // the request's own and room for cached states, +2 ping-pong track buffers with extra_buffer
    // and the overlap scheduler), the pool sized by --max-mamba-cache-size or else given
    // mamba_full_memory_ratio / (1 + ratio) of the memory left after the weights, and the running
    // requests capped at slots / ratio.
    const int64_t track = o.radix_cache && o.extra_buffer ? 2 : 0;
    ratio = o.radix_cache ? 3 + track : 1;
    if (o.mamba_slots > 0) {
      plan.slots = o.mamba_slots;
    } else if (!o.radix_cache) {
      plan.slots = o.max_running_requests + 1;  // + SGLang's padding slot
    } else {
      const double rest =
          static_cast<double>(plan.budget - plan.weights - plan.mtp_weights - plan.workspace);
      const double share = o.mamba_full_memory_ratio / (1 + o.mamba_full_memory_ratio);
      const double per = static_cast<double>(plan.mamba_per_request) +
                         static_cast<double>(plan.spec_per_request) / static_cast<double>(ratio);
      plan.slots = rest > 0 ? static_cast<int64_t>(rest * share / per) : 0;
    }
    if (o.radix_cache) plan.max_running = std::min(o.max_running_requests, plan.slots / ratio);
    plan.snapshot_slots =
        o.radix_cache ? std::max<int64_t>(0, plan.slots - plan.max_running * (1 + track)) : 0;
  }
  plan.spec_slots = plan.max_running + 1;
  plan.mamba_pool = plan.slots * plan.mamba_per_request + plan.spec_slots * plan.spec_per_request;
  return ratio;
}

}  // namespace

MemoryPlan PlanMemory(const ModelConfig& m, const ParallelPlan& p, const DeviceConfig& d,
                      const MemoryOptions& o) {
  const RankShapes s = ShapesPerRank(m, p);
  const RankShapes ds = o.eagle3_draft ? ShapesPerRank(*o.eagle3_draft, p) : RankShapes{};
  MemoryPlan plan;
  plan.hbm = d.hbm_bytes;
  plan.budget = static_cast<int64_t>(o.mem_fraction_static * static_cast<double>(d.hbm_bytes));
  PlanWeights(m, p, s, ds, o, plan);
  plan.workspace = o.workspace_bytes;
  const int64_t mamba_ratio = PlanStatePool(m, s, o, plan);
  // MLA caches one latent (kv_lora + rope key) per token and layer, the same on every rank.
  plan.kv_per_token = m.count(LayerKind::kFullAttention) * 2 * s.kv_heads * m.full.head_dim * kBf +
                      m.count(LayerKind::kMla) * m.mla.latent_per_token() * kBf;
  // SGLang gives the EAGLE3 draft a KV pool of as many tokens as the target's. (The NEXTN layer's
  // own KV is not counted yet.)
  if (o.eagle3_draft) plan.kv_per_token += 2 * ds.kv_heads * o.eagle3_draft->full.head_dim * kBf;
  plan.swa_kv_per_request = m.count(LayerKind::kSlidingAttention) * 2 * s.swa_kv_heads *
                            m.sliding.head_dim * kBf * m.sliding_window;

  const int64_t fixed = plan.weights + plan.mtp_weights + plan.workspace + plan.mamba_pool +
                        (o.max_running_requests + 1) * plan.swa_kv_per_request;
  const int64_t page_bytes = plan.kv_per_token * o.page_size;
  if (fixed + page_bytes > plan.budget) {
    std::string msg = "out of memory on one rank: weights, state pools and workspace need " +
                      std::to_string(fixed) +
                      " B plus one KV page, mem_fraction_static x HBM gives " +
                      std::to_string(plan.budget) + " B";
    for (const auto& [k, v] : plan.Breakdown()) msg += "\n  " + k + ": " + std::to_string(v) + " B";
    throw SimFailure("out_of_memory", msg);
  }
  // After the check above, which names the breakdown when the weights themselves do not fit.
  if (plan.max_running <= 0)
    throw SimFailure(
        "out_of_memory",
        "the hybrid state cache is too small to serve any request: " + std::to_string(plan.slots) +
            " mamba slots, " + std::to_string(mamba_ratio) +
            " per running request (raise max_mamba_cache_size or mem_fraction_static)");
  plan.kv_tokens = page_bytes > 0 ? (plan.budget - fixed) / page_bytes * o.page_size : 0;
  if (o.max_total_tokens > 0)
    plan.kv_tokens = std::min(plan.kv_tokens,
                              std::max<int64_t>(1, o.max_total_tokens / o.page_size) * o.page_size);
  plan.kv_pool = plan.kv_tokens * plan.kv_per_token;
  return plan;
}

}  // namespace npusim
