#include "workloads/functional_model.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "model/error.h"
#include "model/rng.h"
#include "ops/runner.h"

namespace npusim {

namespace {

constexpr DType kBf = DType::kBFloat16;
// Scale of the layers' output projections relative to a unit-variance residual: large enough that
// greedy tokens depend on the computed state, small enough that the successor structure below
// keeps the MTP draft right often enough to exercise multi-token commits.
constexpr double kOutScale = 1.0;
constexpr double kSuccessor = 0.4;  // weight of the t -> t+1 direction in lm_head

Tensor Make(const std::string& name, const Shape& shape, DType dtype) {
  return Tensor(name, shape, dtype, true);
}

}  // namespace

Tensor FunctionalModel::Weight(const std::string& name, Shape shape, double scale) {
  Rng rng(o_.seed * 1000003 + ++draw_);
  Tensor t = Make(name, shape, kBf);
  for (int64_t i = 0; i < t.numel(); ++i) t.Set(i, rng.Normal() * scale);
  return t;
}

double FunctionalModel::InScale() const { return 1.0 / std::sqrt(static_cast<double>(m_.hidden)); }

FunctionalModel::FunctionalModel(const ModelConfig& m, const DeviceConfig& d,
                                 const FunctionalOptions& o)
    : m_(m), d_(d), o_(o) {
  const int64_t H = m.hidden, V = m.vocab;
  const double in_scale = InScale();
  // lm_head row j leans towards embedding row j-1 (kSuccessor): the model often continues
  // t -> t+1 and the layers bend it, so greedy tokens depend on the state and an MTP draft
  // (whose fc passes the embedding through) agrees often enough to matter.
  embed_ = Weight("embed", {V, H}, 1.0);
  lm_head_ = Weight("lm_head", {V, H}, in_scale);
  for (int64_t j = 0; j < V; ++j)
    for (int64_t c = 0; c < H; ++c)
      lm_head_.Set(j * H + c, lm_head_.At(j * H + c) +
                                  kSuccessor * embed_.At(((j + V - 1) % V) * H + c) * in_scale);
  final_norm_ = Weight("final_norm", {H}, 0.05);
  if (m.eagle3)
    throw InputError(m.file +
                     ": an EAGLE3 draft model runs timing-only (no functional EAGLE3 draft)");
  specs_ = DecoderLayers(m);
  for (const LayerSpec& spec : specs_) {
    const LayerKind kind = spec.mixer;
    LayerTensors L;
    L.in_norm = Weight("in_norm", {H}, 0.05);
    L.post_norm = Weight("post_norm", {H}, 0.05);
    if (kind == LayerKind::kLinearAttention)
      InitGdn(L);
    else if (kind == LayerKind::kMla)
      InitMla(L);
    else
      InitAttention(L, kind == LayerKind::kSlidingAttention);
    InitMlp(L, spec.moe);
    layers_.push_back(std::move(L));
  }
  if (o.draft_tokens > 0) InitDraft();
}

void FunctionalModel::InitGdn(LayerTensors& L) {
  const ModelConfig& m = m_;
  const int64_t H = m.hidden, Hk = m.lin_key_heads, HV = m.lin_value_heads, K = m.lin_key_dim,
                Vd = m.lin_value_dim, kw = m.conv_kernel;
  const int64_t window = kw - 1 + (o_.draft_tokens > 0 ? o_.draft_tokens - 1 : 0);
  L.w_qkvz = Weight("w_qkvz", {H, 2 * Hk * K + 2 * HV * Vd}, InScale());
  L.w_ba = Weight("w_ba", {H, 2 * HV}, InScale());
  L.conv_w = Weight("conv_w", {kw, m.conv_dim()}, 0.5);
  L.a_log = Make("A_log", {HV}, DType::kFloat32);
  // Mamba-style gate init: A in [1, 16], dt log-uniform in [1e-3, 0.1] through dt_bias =
  // softplus^-1(dt), so most heads remember over tens to hundreds of tokens.
  L.dt_bias = Make("dt_bias", {HV}, kBf);
  Rng rng(o_.seed + 77 + layers_.size());
  for (int64_t h = 0; h < HV; ++h) {
    L.a_log.Set(h, std::log(rng.Uniform(1, 16)));
    const double dt = std::exp(rng.Uniform(std::log(1e-3), std::log(0.1)));
    L.dt_bias.Set(h, std::log(std::expm1(dt)));
  }
  L.gdn_norm = Make("gdn_norm", {Vd}, kBf);
  for (int64_t i = 0; i < Vd; ++i) L.gdn_norm.Set(i, 1.0);
  L.w_out = Weight("w_out", {HV * Vd, H}, kOutScale / std::sqrt(static_cast<double>(HV * Vd)));
  L.conv_pool = Make("conv_states", {o_.slots, window, m.conv_dim()}, kBf);
  L.ssm_pool =
      Make("ssm_states",
           o_.gdn_impl == "fused" ? Shape{o_.slots, HV, Vd, K} : Shape{o_.slots, HV, K, Vd},
           ParseDType(o_.ssm_dtype));
}

void FunctionalModel::InitAttention(LayerTensors& L, bool sliding) {
  const ModelConfig& m = m_;
  const int64_t H = m.hidden;
  const double in_scale = InScale();
  const AttentionShape& a = sliding ? m.sliding : m.full;
  const int64_t Nq = a.heads, Nkv = a.kv_heads, D = a.head_dim, qw = m.q_proj_width(Nq, D);
  const Tensor w_q = Weight("w_q", {H, qw}, in_scale);
  if (m.g_proj_width(Nq)) L.w_g = Weight("w_g", {H, m.g_proj_width(Nq)}, in_scale);
  const Tensor w_k = Weight("w_k", {H, Nkv * D}, in_scale),
               w_v = Weight("w_v", {H, Nkv * D}, in_scale);
  // One [H, q | k | v] projection, the graph's layout.
  const int64_t width = qw + 2 * Nkv * D;
  L.w_qkv = Make("w_qkv", {H, width}, kBf);
  for (int64_t r = 0; r < H; ++r) {
    std::memcpy(L.w_qkv.data() + r * width * 2, w_q.data() + r * qw * 2,
                static_cast<size_t>(qw) * 2);
    std::memcpy(L.w_qkv.data() + (r * width + qw) * 2, w_k.data() + r * Nkv * D * 2,
                static_cast<size_t>(Nkv * D) * 2);
    std::memcpy(L.w_qkv.data() + (r * width + qw + Nkv * D) * 2, w_v.data() + r * Nkv * D * 2,
                static_cast<size_t>(Nkv * D) * 2);
  }
  L.w_o = Weight("w_o", {Nq * D, H}, kOutScale / std::sqrt(static_cast<double>(Nq * D)));
  if (m.qk_norm) {
    L.q_norm = Weight("q_norm", {D}, 0.05);
    L.k_norm = Weight("k_norm", {D}, 0.05);
  }
  if (m.qkv_bias) {
    L.b_q = Weight("b_q", {Nq * D}, 0.1);
    L.b_k = Weight("b_k", {Nkv * D}, 0.1);
    L.b_v = Weight("b_v", {Nkv * D}, 0.1);
  }
  L.k_cache.resize(static_cast<size_t>(o_.slots));
  L.v_cache.resize(static_cast<size_t>(o_.slots));
}

// MLA: kv_b_proj once, and the per-head W_uk / W_uv of the absorbed form read out of it, so the
// two forms compute with the same numbers.
void FunctionalModel::InitMla(LayerTensors& L) {
  const ModelConfig& m = m_;
  const int64_t H = m.hidden;
  const double in_scale = InScale();
  const MlaShape& a = m.mla;
  const int64_t Nq = m.full.heads, dn = a.qk_nope_head_dim, dr = a.qk_rope_head_dim,
                dv = a.v_head_dim, kvl = a.kv_lora_rank;
  if (m.full.rope_scaling.type == "yarn")
    throw InputError(m.file +
                     ": functional MLA runs apply no yarn rope (rotary_embedding has no yarn); "
                     "yarn models run timing-only");
  if (a.q_lora_rank > 0) {
    L.w_q_a = Weight("w_q_a", {H, a.q_lora_rank}, in_scale);
    L.q_a_norm = Weight("q_a_norm", {a.q_lora_rank}, 0.05);
    L.w_q_b = Weight("w_q_b", {a.q_lora_rank, Nq * (dn + dr)},
                     1.0 / std::sqrt(static_cast<double>(a.q_lora_rank)));
  } else {
    L.w_q_b = Weight("w_q_b", {H, Nq * (dn + dr)}, in_scale);
  }
  L.w_kv_a = Weight("w_kv_a", {H, kvl + dr}, in_scale);
  L.kv_a_norm = Weight("kv_a_norm", {kvl}, 0.05);
  L.w_kv_b = Weight("w_kv_b", {kvl, Nq * (dn + dv)}, 1.0 / std::sqrt(static_cast<double>(kvl)));
  L.w_uk = Make("w_uk", {Nq, dn, kvl}, kBf);
  L.w_uv = Make("w_uv", {Nq, kvl, dv}, kBf);
  for (int64_t h = 0; h < Nq; ++h)
    for (int64_t c = 0; c < kvl; ++c) {
      const int64_t row = c * Nq * (dn + dv) + h * (dn + dv);
      for (int64_t i = 0; i < dn; ++i) L.w_uk.Set((h * dn + i) * kvl + c, L.w_kv_b.At(row + i));
      for (int64_t j = 0; j < dv; ++j)
        L.w_uv.Set((h * kvl + c) * dv + j, L.w_kv_b.At(row + dn + j));
    }
  L.w_o = Weight("w_o", {Nq * dv, H}, kOutScale / std::sqrt(static_cast<double>(Nq * dv)));
  L.k_cache.resize(static_cast<size_t>(o_.slots));
}

void FunctionalModel::InitMlp(LayerTensors& L, bool moe) {
  const ModelConfig& m = m_;
  const int64_t H = m.hidden, I = m.dense_intermediate;
  const double in_scale = InScale();
  if (!moe) {
    L.w_gu = Weight("w_gu", {H, 2 * I}, in_scale);
    L.w_down = Weight("w_down", {I, H}, kOutScale / std::sqrt(static_cast<double>(I)));
    return;
  }
  const int64_t E = m.experts, Ie = m.moe_intermediate, Is = m.shared_intermediate;
  L.w_router = Weight("w_router", {H, E}, in_scale);
  if (m.sigmoid_router)
    L.router_bias = Make("router_bias", {E}, DType::kFloat32);  // zero correction bias
  L.w_egu = Weight("w_egu", {E, H, 2 * Ie}, in_scale);
  L.w_edown = Weight("w_edown", {E, Ie, H}, kOutScale / std::sqrt(static_cast<double>(Ie)));
  if (Is > 0) {
    L.w_sgu = Weight("w_sgu", {H, 2 * Is}, in_scale);
    L.w_sdown = Weight("w_sdown", {Is, H}, kOutScale / std::sqrt(static_cast<double>(Is)));
    if (m.shared_gated) L.w_sg = Weight("w_sg", {H, 1}, in_scale);
  }
}

// fc passes the token's normalised embedding through (identity block) and mixes in the hidden
// state weakly: the draft guesses the same successor the target mostly predicts.
void FunctionalModel::InitDraft() {
  const int64_t H = m_.hidden;
  draft_.fc = Weight("draft_fc", {2 * H, H}, 0.1 / std::sqrt(static_cast<double>(2 * H)));
  for (int64_t i = 0; i < H; ++i) draft_.fc.Set(i * H + i, draft_.fc.At(i * H + i) + 1.0);
  draft_.norm_e = Weight("draft_norm_e", {H}, 0.05);
  draft_.norm_h = Weight("draft_norm_h", {H}, 0.05);
  draft_.final_norm = Weight("draft_final_norm", {H}, 0.05);
  draft_.layer.in_norm = Weight("in_norm", {H}, 0.05);
  draft_.layer.post_norm = Weight("post_norm", {H}, 0.05);
  const LayerSpec spec = DraftLayer(m_);
  if (spec.mixer == LayerKind::kMla)
    InitMla(draft_.layer);
  else
    InitAttention(draft_.layer, spec.mixer == LayerKind::kSlidingAttention);
  InitMlp(draft_.layer, spec.moe);
}

// The functional executor: each launch through the kernel set on its tensors, checked against
// the kernel's own fp64 reference.
class FunctionalModel::Executor : public GraphExecutor {
 public:
  Executor(FunctionalModel& fm) : fm_(fm) {}
  bool functional() const override { return true; }
  TensorMap Run(Launch l) override {
    if (l.timed) fm_.timed_.push_back(std::string(BlockName(l.where)) + ":" + l.op);
    if (!l.computed) return {};
    const Op& kernel = FindOp(l.op);
    ParamValues pv(kernel.params());
    for (const auto& [k, v] : l.params) pv.Set(k, v);
    for (const auto& [k, v] : l.numerics) pv.Set(k, v);
    RunOptions ro;
    ro.mode = ModeChoice::kFunctional;
    ro.use_cache = false;
    ro.inputs = &l.inputs;
    KernelRun r;
    try {
      r = RunKernel(kernel, pv, fm_.d_, ro);
    } catch (const InputError& e) {
      // The model's shapes reach the kernel as data: a mismatch is the simulated program's error.
      throw SimFailure("shape_error", l.op + " (" + pv.Canonical() + "): " + e.what());
    }
    if (r.status != "ok")
      throw SimFailure(r.status, l.op + " (" + pv.Canonical() + "): " + r.message);
    ++fm_.calls_[l.op];
    for (const auto& [name, e] : r.numerics)
      fm_.errors_[l.op] = std::max(fm_.errors_[l.op], e.norm_err);
    return std::move(r.outputs);
  }

 private:
  FunctionalModel& fm_;
};

GraphOptions FunctionalModel::Options() const {
  GraphOptions g;
  g.gdn_impl = o_.gdn_impl;
  g.ssm_dtype = o_.ssm_dtype;
  g.fault = o_.fault;
  g.pool_slots = o_.slots;
  g.mla_prolog = o_.mla_prolog;
  return g;
}

ForwardBatch FunctionalModel::Batch(const std::vector<Entry>& batch, ForwardKind kind) const {
  ForwardBatch b;
  b.kind = kind;
  for (const Entry& e : batch) {
    b.slots.push_back(e.slot);
    b.tokens.push_back(static_cast<int64_t>(e.tokens.size()));
    b.prefixes.push_back(e.prefix);
  }
  return b;
}

// Scenario S3 as it happened: the chunk kernel's final-state store wrote [V, K] while every
// reader (the next chunk, decode) reads the pool as [K, V]. Injected after the forward, on the
// slots it just wrote; with K != V the stored block cannot be read back as [K, V] at all.
void FunctionalModel::TransposeStoredStates(LayerTensors& L, const std::vector<int64_t>& slots) {
  const int64_t HV = m_.lin_value_heads, K = m_.lin_key_dim, Vd = m_.lin_value_dim;
  if (K != Vd)
    throw SimFailure(
        "shape_error",
        "chunk_gated_delta_rule (fault transposed_state): the final state stored as [V, K] = [" +
            std::to_string(Vd) + ", " + std::to_string(K) +
            "] cannot be read back as the pool's [K, V] = [" + std::to_string(K) + ", " +
            std::to_string(Vd) + "]: with K != V the S3 fault is a shape error, not silent drift");
  for (int64_t slot : slots)
    for (int64_t h = 0; h < HV; ++h) {
      const int64_t base = (slot * HV + h) * K * K;
      for (int64_t x = 0; x < K; ++x)
        for (int64_t y = x + 1; y < K; ++y) {
          const double a = L.ssm_pool.At(base + x * K + y), b = L.ssm_pool.At(base + y * K + x);
          L.ssm_pool.Set(base + x * K + y, b);
          L.ssm_pool.Set(base + y * K + x, a);
        }
    }
}

FunctionalModel::Output FunctionalModel::Forward(const std::vector<Entry>& batch,
                                                 ForwardKind kind) {
  const int64_t H = m_.hidden;
  Executor x(*this);
  LayerGraph g(m_, ParallelPlan{}, Options(), x);
  const ForwardBatch b = Batch(batch, kind);
  std::vector<int64_t> ids;
  for (const Entry& e : batch) ids.insert(ids.end(), e.tokens.begin(), e.tokens.end());
  Tensor residual, hidden, logits;
  const Tensor delta = g.Decoder(b, specs_, layers_, g.Embed(b, ids, embed_), &residual);
  if (kind == ForwardKind::kPrefill && o_.fault == "transposed_state")
    for (size_t l = 0; l < layers_.size(); ++l)
      if (specs_[l].mixer == LayerKind::kLinearAttention)
        TransposeStoredStates(layers_[l], b.slots);
  const Tensor next = g.Head(b, delta, residual, final_norm_, lm_head_, &hidden, &logits);
  // Per entry its sampled rows (every position in decode / verify, the last in extend).
  Output o;
  int64_t ri = 0;
  for (const Entry& e : batch) {
    const int64_t sampled =
        kind == ForwardKind::kPrefill ? 1 : static_cast<int64_t>(e.tokens.size());
    std::vector<int32_t> toks;
    std::vector<float> lg(static_cast<size_t>(m_.vocab));
    std::vector<double> h(static_cast<size_t>(H * sampled));
    for (int64_t i = 0; i < sampled; ++i, ++ri) {
      toks.push_back(static_cast<int32_t>(next.At(ri)));
      for (int64_t c = 0; c < H; ++c) h[static_cast<size_t>(i * H + c)] = hidden.At(ri * H + c);
      if (i == sampled - 1)
        for (int64_t v = 0; v < m_.vocab; ++v)
          lg[static_cast<size_t>(v)] = static_cast<float>(logits.At(ri * m_.vocab + v));
    }
    o.next.push_back(std::move(toks));
    o.logits.push_back(std::move(lg));
    o.hidden.push_back(std::move(h));
  }
  return o;
}

FunctionalModel::Output FunctionalModel::Extend(const std::vector<Entry>& batch) {
  return Forward(batch, ForwardKind::kPrefill);
}

FunctionalModel::Output FunctionalModel::Decode(const std::vector<Entry>& batch, bool verify) {
  const size_t n = batch.front().tokens.size();
  for (const Entry& e : batch)
    if (e.tokens.size() != n)
      throw std::logic_error("decode/verify entries need the same token count");
  if (!verify && n != 1) throw std::logic_error("decode takes one token per entry");
  return Forward(batch, verify ? ForwardKind::kVerify : ForwardKind::kDecode);
}

void FunctionalModel::Commit(const std::vector<Entry>& batch,
                             const std::vector<int64_t>& last_steps) {
  Executor x(*this);
  LayerGraph g(m_, ParallelPlan{}, Options(), x);
  std::vector<LayerTensors*> gdn;
  for (size_t l = 0; l < layers_.size(); ++l)
    if (specs_[l].mixer == LayerKind::kLinearAttention) gdn.push_back(&layers_[l]);
  g.Commit(Batch(batch, ForwardKind::kVerify), gdn, last_steps);
  // Rejected positions leave the KV cache.
  for (size_t l = 0; l < layers_.size(); ++l) {
    if (specs_[l].mixer == LayerKind::kLinearAttention) continue;
    for (size_t b = 0; b < batch.size(); ++b)
      KeepKv(layers_[l], specs_[l].mixer, batch[b].slot, batch[b].prefix + last_steps[b] + 1);
  }
}

// A slot's cached K and V (MLA: its latent rows) cut back to `tokens` tokens.
void FunctionalModel::KeepKv(LayerTensors& L, LayerKind kind, int64_t slot, int64_t tokens) const {
  const AttentionShape& a = kind == LayerKind::kSlidingAttention ? m_.sliding : m_.full;
  const auto keep = static_cast<size_t>(
      tokens * (kind == LayerKind::kMla ? m_.mla.latent_per_token() : a.kv_heads * a.head_dim));
  for (auto* cache : {&L.k_cache, &L.v_cache})
    if (static_cast<size_t>(slot) < cache->size() &&
        (*cache)[static_cast<size_t>(slot)].size() > keep)
      (*cache)[static_cast<size_t>(slot)].resize(keep);
}

int32_t FunctionalModel::Draft(int64_t slot, int32_t token, const std::vector<double>& hidden,
                               int64_t position, std::vector<double>* draft_hidden) {
  const int64_t H = m_.hidden;
  Executor x(*this);
  LayerGraph g(m_, ParallelPlan{}, Options(), x);
  Tensor h = Make("hidden", {1, H}, kBf);
  for (int64_t i = 0; i < H; ++i) h.Set(i, hidden[static_cast<size_t>(i)]);
  ForwardBatch b;
  b.kind = ForwardKind::kDraft;
  b.slots = {slot};
  b.tokens = {1};
  b.prefixes = {position};
  Tensor pre;
  const Tensor next = g.Draft(b, {token}, embed_, h, draft_, lm_head_, &pre);
  if (draft_hidden) {
    draft_hidden->resize(static_cast<size_t>(H));
    for (int64_t i = 0; i < H; ++i) (*draft_hidden)[static_cast<size_t>(i)] = pre.At(i);
  }
  return static_cast<int32_t>(next.At(0));
}

void FunctionalModel::TruncateDraft(int64_t slot, int64_t tokens) {
  KeepKv(draft_.layer, DraftLayer(m_).mixer, slot, tokens);
}

// One slot's part of a per-layer pool, every layer that has the pool, as doubles.
std::vector<double> FunctionalModel::SlotOf(Tensor LayerTensors::*pool, int64_t slot) const {
  std::vector<double> out;
  for (const LayerTensors& L : layers_) {
    const Tensor& t = L.*pool;
    if (!t.numel()) continue;
    const int64_t n = t.numel() / o_.slots;
    for (int64_t i = 0; i < n; ++i) out.push_back(t.At(slot * n + i));
  }
  return out;
}

std::vector<double> FunctionalModel::SsmState(int64_t slot) const {
  return SlotOf(&LayerTensors::ssm_pool, slot);
}
std::vector<double> FunctionalModel::ConvState(int64_t slot) const {
  return SlotOf(&LayerTensors::conv_pool, slot);
}

void FunctionalModel::ResetSlot(int64_t slot) {
  for (LayerTensors& L : layers_) {
    for (Tensor* t : {&L.ssm_pool, &L.conv_pool}) {
      if (!t->numel()) continue;
      const int64_t n = t->numel() / o_.slots;
      std::memset(t->data() + slot * n * SizeOf(t->dtype()), 0,
                  static_cast<size_t>(n) * SizeOf(t->dtype()));
    }
    if (!L.k_cache.empty())
      L.k_cache[static_cast<size_t>(slot)].clear(), L.v_cache[static_cast<size_t>(slot)].clear();
  }
  if (!draft_.layer.k_cache.empty())
    draft_.layer.k_cache[static_cast<size_t>(slot)].clear(),
        draft_.layer.v_cache[static_cast<size_t>(slot)].clear();
}

}  // namespace npusim
