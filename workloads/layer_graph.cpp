#include "workloads/layer_graph.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>

#include "model/config.h"
#include "model/error.h"
#include "ops/common/op_util.h"
#include "workloads/moe_routing.h"

namespace npusim {

namespace {

constexpr DType kBf = DType::kBFloat16;
constexpr int64_t kPage = 128;  // the functional KV cache's page size

std::string S(int64_t v) { return std::to_string(v); }

std::string List(const std::vector<int64_t>& v) {
  std::string s;
  for (int64_t x : v) s += (s.empty() ? "" : ",") + std::to_string(x);
  return s;
}

// Host glue between launches. The timing executor's tensors hold no data: glue passes them on
// as empty tensors.
bool Empty(const Tensor& t) { return t.bytes().empty(); }

Tensor Make(const std::string& name, const Shape& shape, DType dtype) {
  return Tensor(name, shape, dtype, true);
}

Tensor Reshape(const Tensor& t, const Shape& shape) {
  if (Empty(t)) return {};
  Tensor out = Make(t.name(), shape, t.dtype());
  if (out.nbytes() != t.nbytes())
    throw std::logic_error("reshape of " + t.name() + " changes its size");
  std::memcpy(out.data(), t.data(), t.nbytes());
  return out;
}

// Columns [c0, c0 + n) of a row-major [rows, width] tensor, as `shape` (rows x n elements).
Tensor Columns(const Tensor& t, int64_t rows, int64_t width, int64_t c0, int64_t n,
               const Shape& shape) {
  if (Empty(t)) return {};
  Tensor out = Make(t.name(), shape, t.dtype());
  const size_t es = SizeOf(t.dtype());
  for (int64_t r = 0; r < rows; ++r)
    std::memcpy(out.data() + r * n * es, t.data() + (r * width + c0) * es, n * es);
  return out;
}

// Rows `rows` of a row-major [*, width] tensor.
Tensor Rows(const Tensor& t, int64_t width, const std::vector<int64_t>& rows) {
  if (Empty(t)) return {};
  const int64_t R = static_cast<int64_t>(rows.size());
  Tensor out = Make(t.name(), {R, width}, t.dtype());
  const size_t es = SizeOf(t.dtype()), row = static_cast<size_t>(width) * es;
  for (int64_t r = 0; r < R; ++r)
    std::memcpy(out.data() + r * row, t.data() + rows[static_cast<size_t>(r)] * row, row);
  return out;
}

Tensor Ints(const std::string& name, const std::vector<int64_t>& v) {
  Tensor t = Make(name, {static_cast<int64_t>(v.size())}, DType::kInt32);
  for (size_t i = 0; i < v.size(); ++i) t.Set(static_cast<int64_t>(i), static_cast<double>(v[i]));
  return t;
}

Tensor Out(const TensorMap& outs, const std::string& name) {
  const auto it = outs.find(name);
  return it == outs.end() ? Tensor{} : it->second;
}

// The batch's new rows (`width` each, token-major in `rows`) appended to each request's per-slot
// cache after its prefix (a rerun of the same positions overwrites them).
void AppendRows(const ForwardBatch& b, const Tensor& rows, int64_t width,
                std::vector<std::vector<double>>& per_slot) {
  int64_t t0 = 0;
  for (int64_t r = 0; r < b.requests(); ++r) {
    auto& c = per_slot[static_cast<size_t>(b.slots[static_cast<size_t>(r)])];
    const int64_t n = b.tokens[static_cast<size_t>(r)];
    c.resize(static_cast<size_t>(b.prefixes[static_cast<size_t>(r)] * width));
    for (int64_t i = 0; i < n * width; ++i) c.push_back(rows.At(t0 * width + i));
    t0 += n;
  }
}

// Row r of `a` (wa wide) then row r of `b` (wb wide), for `rows` rows, in a [out_rows, wa + wb]
// tensor (out_rows >= rows: FIA's padded query); the functional executor's column concatenation.
Tensor JoinColumns(const std::string& name, const Tensor& a, int64_t wa, const Tensor& b,
                   int64_t wb, int64_t rows, const Shape& shape) {
  if (Empty(a)) return {};
  Tensor out = Make(name, shape, a.dtype());
  const size_t es = SizeOf(a.dtype());
  for (int64_t r = 0; r < rows; ++r) {
    std::memcpy(out.data() + r * (wa + wb) * es, a.data() + r * wa * es,
                static_cast<size_t>(wa) * es);
    std::memcpy(out.data() + (r * (wa + wb) + wa) * es, b.data() + r * wb * es,
                static_cast<size_t>(wb) * es);
  }
  return out;
}

// [T, heads, n] <-> [heads, T, n]: the token-major rows of a head GEMM's input and output.
Tensor SwapMajor(const Tensor& t, int64_t a, int64_t b, int64_t n) {
  if (Empty(t)) return {};
  Tensor out = Make(t.name(), {b, a, n}, t.dtype());
  const size_t es = SizeOf(t.dtype()), row = static_cast<size_t>(n) * es;
  for (int64_t i = 0; i < a; ++i)
    for (int64_t j = 0; j < b; ++j)
      std::memcpy(out.data() + (j * a + i) * row, t.data() + (i * b + j) * row, row);
  return out;
}

}  // namespace

const char* BlockName(Block b) {
  switch (b) {
    case Block::kGdn:
      return "gdn";
    case Block::kAttention:
      return "attention";
    case Block::kSliding:
      return "sliding";
    case Block::kMoe:
      return "moe";
    case Block::kDense:
      return "dense";
    case Block::kCommit:
      return "commit";
    case Block::kDraft:
      return "draft";
    default:
      return "head";
  }
}

const char* ForwardKindName(ForwardKind k) {
  switch (k) {
    case ForwardKind::kPrefill:
      return "prefill";
    case ForwardKind::kDecode:
      return "decode";
    case ForwardKind::kVerify:
      return "verify";
    case ForwardKind::kDraft:
      return "draft";
    default:
      return "draft_extend";
  }
}

std::vector<LayerSpec> DecoderLayers(const ModelConfig& m) {
  std::vector<LayerSpec> out;
  for (size_t l = 0; l < m.layers.size(); ++l)
    out.push_back({m.layers[l], l < m.moe_layer.size() && m.moe_layer[l],
                   l < m.swiglu_limits.size() ? m.swiglu_limits[l] : 0.0});
  return out;
}

LayerSpec DraftLayer(const ModelConfig& m) {
  const LayerKind mixer = m.count(LayerKind::kMla) ? LayerKind::kMla
                          : m.sliding.heads        ? LayerKind::kSlidingAttention
                                                   : LayerKind::kFullAttention;
  return {mixer, !m.moe_layer.empty() && m.moe_layer.back(), 0.0};
}

int64_t ForwardBatch::total_tokens() const {
  int64_t t = 0;
  for (int64_t n : tokens) t += n;
  return t;
}

int64_t ForwardBatch::max_tokens() const {
  return tokens.empty() ? 0 : *std::max_element(tokens.begin(), tokens.end());
}

bool ForwardBatch::recurrent() const {
  return kind == ForwardKind::kDecode || kind == ForwardKind::kVerify ||
         kind == ForwardKind::kDraft;
}

std::vector<int64_t> ForwardBatch::SampledRows() const {
  std::vector<int64_t> rows;
  int64_t at = 0;
  const bool all = recurrent();
  for (int64_t n : tokens) {
    for (int64_t i = all ? 0 : n - 1; i < n; ++i) rows.push_back(at + i);
    at += n;
  }
  return rows;
}

ForwardBatch UniformBatch(ForwardKind kind, int64_t batch, int64_t tokens, int64_t prefix) {
  ForwardBatch b;
  b.kind = kind;
  for (int64_t i = 0; i < batch; ++i) {
    b.slots.push_back(i + 1);
    b.tokens.push_back(tokens);
    b.prefixes.push_back(prefix);
  }
  return b;
}

LayerGraph::LayerGraph(const ModelConfig& m, const ParallelPlan& p, const GraphOptions& o,
                       GraphExecutor& x)
    : m_(m), p_(p), o_(o), x_(x), s_(ShapesPerRank(m, p)) {}

TensorMap LayerGraph::Run(Block where, const std::string& op, Kvs params, TensorMap inputs,
                          Kvs numerics) {
  Launch l;
  l.where = where;
  l.op = op;
  l.params = std::move(params);
  l.numerics = std::move(numerics);
  if (x_.functional()) l.inputs = std::move(inputs);
  return x_.Run(std::move(l));
}

std::string LayerGraph::SsmDtype() const { return SsmPoolDtype(o_.ssm_dtype, o_.gdn_impl, m_); }

void LayerGraph::Collective(Block where, const char* op, int64_t ranks, int64_t elements,
                            bool host_reads_result) {
  if (ranks <= 1 || elements <= 0) return;
  Launch l;
  l.where = where;
  l.op = op;
  l.params = {{"ranks", S(ranks)}, {"elements", S(elements)}};
  l.host_reads_result = host_reads_result;
  x_.Run(std::move(l));
}

Tensor LayerGraph::Linear(Block where, const Tensor& x, const Tensor& w, int64_t m, int64_t k,
                          int64_t n, bool quantise_input) {
  // bf16, or W8A8 dynamic: per-token int8 activations from dynamic_quant, unless the same input
  // was just quantised for the previous linear layer.
  if (o_.quant == WeightQuant::kNone)
    return Out(Run(where, "matmul", {{"m", S(m)}, {"k", S(k)}, {"n", S(n)}},
                   {{"x", Reshape(x, {m, k})}, {"w", w}}),
               "y");
  if (x_.functional())
    throw InputError("functional runs compute bf16 weights only (W8A8 is timing-only)");
  if (quantise_input) Run(where, "dynamic_quant", {{"tokens", S(m)}, {"hidden", S(k)}});
  Run(where, "quant_matmul", {{"m", S(m)}, {"k", S(k)}, {"n", S(n)}});
  return {};
}

Tensor LayerGraph::Norm(Block where, const Tensor& x, const Tensor& w, int64_t rows, int64_t hidden,
                        const Tensor* residual, Tensor* residual_out, bool timed) {
  TensorMap in{{"x", Reshape(x, {rows, hidden})}, {"weight", w}};
  if (residual) in["residual"] = Reshape(*residual, {rows, hidden});
  Launch l;
  l.where = where;
  l.op = "rms_norm";
  l.params = {{"tokens", S(rows)}, {"hidden", S(hidden)}};
  // The timed norms add the residual (the kernel's default); the first layer's has none.
  l.numerics = {{"eps", FormatNumber(m_.rms_norm_eps)}, {"residual", residual ? "1" : "0"}};
  l.timed = timed;
  if (x_.functional()) l.inputs = std::move(in);
  const TensorMap out = x_.Run(std::move(l));
  if (residual_out)
    *residual_out = residual ? Out(out, "residual_out") : Reshape(x, {rows, hidden});
  return Out(out, "y");
}

Tensor LayerGraph::Embed(const ForwardBatch& b, const std::vector<int64_t>& ids,
                         const Tensor& table) {
  // Vocab-parallel over the attention group (enable_dp_lm_head) or over all ranks, which then
  // see the tokens of every DP group; the partial rows are summed by an all-reduce.
  const int64_t T = b.total_tokens(), head_ranks = p_.dp_lm_head ? s_.attn_tp : p_.tp,
                head_T = p_.dp_lm_head ? T : T * p_.dp;
  const Tensor x = Out(Run(Block::kEmbedding, "embedding",
                           {{"tokens", S(head_T)},
                            {"hidden", S(m_.hidden)},
                            {"vocab", S(s_.vocab)},
                            {"total_vocab", S(m_.vocab)}},
                           {{"ids", Ints("ids", ids)}, {"table", table}}),
                       "out");
  Collective(Block::kEmbedding, "all_reduce", head_ranks, head_T * m_.hidden);
  return x;
}

Tensor LayerGraph::Decoder(const ForwardBatch& b, const std::vector<LayerSpec>& specs,
                           std::vector<LayerTensors>& layers, const Tensor& x, Tensor* residual) {
  Tensor delta = x;
  for (size_t l = 0; l < specs.size(); ++l)
    delta = Layer(b, specs[l], layers[l], delta, residual, l == 0);
  return delta;
}

Tensor LayerGraph::Layer(const ForwardBatch& b, const LayerSpec& spec, LayerTensors& L,
                         const Tensor& delta, Tensor* residual, bool first) {
  const int64_t T = b.total_tokens(), H = m_.hidden;
  const Block mixer = spec.mixer == LayerKind::kLinearAttention ? Block::kGdn
                      : spec.mixer == LayerKind::kFullAttention ? Block::kAttention
                                                                : Block::kSliding;
  Tensor res = *residual;
  const Tensor y = Norm(mixer, delta, L.in_norm, T, H, first ? nullptr : &res, residual);
  // EAGLE3's layer reads [norm(embedding) | norm(hidden)]: a second norm, a 2H-wide input.
  if (m_.eagle3) Norm(mixer, delta, L.in_norm, T, H, nullptr, nullptr);
  const Tensor mix = spec.mixer == LayerKind::kLinearAttention ? Gdn(b, L, y)
                     : spec.mixer == LayerKind::kMla           ? Mla(b, L, y)
                                                               : Attention(b, spec, L, y);
  // The MLP's own norm comes first in its block (after the MoE's gather, where there is one).
  res = *residual;
  const int64_t Tm = spec.moe && p_.a2a ? (T + s_.attn_tp - 1) / s_.attn_tp
                     : spec.moe         ? T * p_.dp
                                        : T;
  if (spec.moe && !p_.a2a) Collective(Block::kMoe, "all_gather", p_.dp, T * H);
  const Tensor y2 =
      Norm(spec.moe ? Block::kMoe : Block::kDense, mix, L.post_norm, Tm, H, &res, residual);
  return spec.moe ? Moe(spec, L, y2, T) : Mlp(spec, L, y2, T);
}

Tensor LayerGraph::Gdn(const ForwardBatch& b, LayerTensors& L, const Tensor& x) {
  const int64_t T = b.total_tokens(), H = m_.hidden, Hk = s_.lin_key_heads, HV = s_.lin_value_heads,
                K = m_.lin_key_dim, Vd = m_.lin_value_dim;
  const int64_t cd = s_.conv_dim, nq = 2 * Hk * K + 2 * HV * Vd;
  const Tensor qkvz = Linear(Block::kGdn, x, L.w_qkvz, T, H, nq);  // in_proj_qkvz = [q | k | v | z]
  const Tensor ba = Linear(Block::kGdn, x, L.w_ba, T, H, 2 * HV, false);  // in_proj_ba = [b | a]
  const Tensor mixed = Columns(qkvz, T, nq, 0, cd, {T, cd});
  const Tensor z = Columns(qkvz, T, nq, cd, HV * Vd, {T, HV, Vd});
  const Tensor bb = Columns(ba, T, 2 * HV, 0, HV, {T, HV}),
               a = Columns(ba, T, 2 * HV, HV, HV, {T, HV});
  const Tensor o =
      b.recurrent() ? GdnRecurrent(b, L, mixed, a, bb) : GdnChunked(b, L, mixed, a, bb);
  const Tensor normed =
      Out(Run(Block::kGdn, "rms_norm_gated", {{"tokens", S(T)}, {"heads", S(HV)}, {"v_dim", S(Vd)}},
              {{"o", Reshape(o, {T, HV, Vd})}, {"z", z}, {"weight", L.gdn_norm}},
              {{"eps", FormatNumber(m_.rms_norm_eps)}}),
          "y");
  const Tensor y =
      Linear(Block::kGdn, Reshape(normed, {T, HV * Vd}), L.w_out, T, HV * Vd, H);  // out_proj
  // Attention and GDN are TP within a DP-attention group: their partial sums reduce over it.
  Collective(Block::kGdn, "all_reduce", s_.attn_tp, T * H);
  return y;
}

struct GdnDims {
  int64_t B, Lt;                  // requests, longest query
  int64_t Hk, HV, K, Vd, kw, cd;  // key / value heads, head dims, conv width, conv channels
  int64_t pool;                   // state pool slots
};

GdnDims LayerGraph::GdnSizes(const ForwardBatch& b) const {
  return {b.requests(),     b.max_tokens(), s_.lin_key_heads, s_.lin_value_heads, m_.lin_key_dim,
          m_.lin_value_dim, m_.conv_kernel, s_.conv_dim,      o_.pool_slots};
}

// Decode: one token per request, or the d draft tokens of a verify in one call; the conv and the
// recurrence update the pools in place.
Tensor LayerGraph::GdnRecurrent(const ForwardBatch& b, LayerTensors& L, const Tensor& mixed,
                                const Tensor& a, const Tensor& bb) {
  const GdnDims d = GdnSizes(b);
  const int64_t B = d.B, Lt = d.Lt, cd = d.cd, pool = d.pool;
  const bool F = x_.functional();
  Tensor o;
  TensorMap out =
      Run(Block::kGdn, "causal_conv1d_update",
          {{"requests", S(B)}, {"draft_tokens", S(Lt)}, {"dim", S(cd)}, {"kw", S(d.kw)}},
          {{"x", Reshape(mixed, {B, Lt, cd})},
           {"weight", L.conv_w},
           {"conv_states", L.conv_pool},
           {"cache_indices", Ints("slots", b.slots)}},
          {{"pool_size", S(pool)}});
  if (F) L.conv_pool = Out(out, "conv_states");
  const bool verify = b.kind == ForwardKind::kVerify;
  out = Run(Block::kGdn, "recurrent_gated_delta_rule",
            {{"impl", o_.gdn_impl},
             {"mode", verify ? "verify" : "decode"},
             {"batch", S(B)},
             {"draft_tokens", S(Lt)},
             {"heads_k", S(d.Hk)},
             {"heads_v", S(d.HV)},
             {"k_dim", S(d.K)},
             {"v_dim", S(d.Vd)},
             {"ssm_dtype", SsmDtype()}},
            {{"mix_qkv", Out(out, "y")},
             {"a", a},
             {"b", bb},
             {"A_log", L.a_log},
             {"dt_bias", L.dt_bias},
             {"ssm_states", L.ssm_pool},
             {"cache_indices", Ints("slots", b.slots)}},
            {{"pool_size", S(pool)}});
  o = Out(out, "o");
  if (F && verify)
    L.intermediate = Out(out, "intermediate");
  else if (F)
    L.ssm_pool = Out(out, "ssm_states");
  return o;
}

// Prefill / extend: the chunked path.
Tensor LayerGraph::GdnChunked(const ForwardBatch& b, LayerTensors& L, const Tensor& mixed,
                              const Tensor& a, const Tensor& bb) {
  const GdnDims d = GdnSizes(b);
  const int64_t B = d.B, Lt = d.Lt, Hk = d.Hk, HV = d.HV, K = d.K, Vd = d.Vd, kw = d.kw, cd = d.cd,
                pool = d.pool, T = b.total_tokens();
  const bool F = x_.functional();
  std::vector<int64_t> qsl = {0}, init;
  for (size_t i = 0; i < b.tokens.size(); ++i) {
    qsl.push_back(qsl.back() + b.tokens[i]);
    init.push_back(b.prefixes[i] > 0 ? 1 : 0);
  }
  Tensor o;
  // The chunked path: gating (Triton: SGLang's NPU backend calls sgl-kernel-npu's
  // fused_gdn_gating_npu), the varlen conv, q/k L2 norms, the chunk-64 pipeline. A functional
  // batch gives its requests' own lengths; the step graph's are uniform.
  const std::string initial = b.prefixes.empty() || b.prefixes[0] == 0 ? "none" : "all";
  TensorMap out =
      Run(Block::kGdn, "fused_gdn_gating", {{"tokens", S(T)}, {"heads", S(HV)}, {"impl", "triton"}},
          {{"a", a}, {"b", bb}, {"A_log", L.a_log}, {"dt_bias", L.dt_bias}});
  const Tensor g = Reshape(Out(out, "g"), {T, HV}), beta = Reshape(Out(out, "beta"), {T, HV});
  const TensorMap seq = {{"query_start_loc", Ints("qsl", qsl)},
                         {"cache_indices", Ints("slots", b.slots)},
                         {"has_initial_state", Ints("init", init)}};
  TensorMap conv_in = seq;
  conv_in["x"] = mixed;
  conv_in["weight"] = L.conv_w;
  conv_in["conv_states"] = L.conv_pool;
  const int64_t extra = F ? L.conv_pool.shape()[1] - (kw - 1) : 0;  // the MTP window's d - 1 rows
  out = Run(
      Block::kGdn, "causal_conv1d_fn",
      {{"requests", S(B)}, {"seq_len", S(Lt)}, {"initial", initial}, {"dim", S(cd)}, {"kw", S(kw)}},
      std::move(conv_in),
      {{"seq_lens", List(b.tokens)},
       {"extra_rows", S(extra)},
       {"pool_size", S(pool)},
       {"fault", o_.fault == "conv_state_shift" ? "mixed_batch_state_shift" : "none"}});
  const Tensor y = Out(out, "y");
  if (F) L.conv_pool = Out(out, "conv_states");
  auto l2 = [&](int64_t c0) {
    return Out(Run(Block::kGdn, "l2norm", {{"tokens", S(T)}, {"heads", S(Hk)}, {"head_dim", S(K)}},
                   {{"x", Columns(y, T, cd, c0, Hk * K, {T, Hk, K})}}),
               "y");
  };
  const Tensor q = l2(0), k = l2(Hk * K), v = Columns(y, T, cd, 2 * Hk * K, HV * Vd, {T, HV, Vd});
  TensorMap chunk_in = seq;
  for (auto& [n, t] : TensorMap{
           {"q", q}, {"k", k}, {"v", v}, {"g", g}, {"beta", beta}, {"ssm_states", L.ssm_pool}})
    chunk_in[n] = t;
  Kvs chunk_params = {{"requests", S(B)},
                      {"tokens", S(Lt)},
                      {"initial", initial},
                      {"heads", S(HV)},
                      {"key_heads", S(Hk)},
                      {"k_dim", S(K)},
                      {"v_dim", S(Vd)},
                      {"ssm_dtype", SsmDtype()},
                      {"launch", o_.gdn_prefill == "triton" ? "staged" : o_.gdn_prefill}};
  if (o_.gdn_prefill == "triton")  // the stages that have a Triton form take it
    for (const char* stage : {"kkt", "wy_fast", "chunk_h", "chunk_o"})
      chunk_params.emplace_back(stage, "triton");
  out = Run(Block::kGdn, "chunk_gated_delta_rule", std::move(chunk_params), std::move(chunk_in),
            {{"seq_lens", List(b.tokens)},
             {"state_layout", o_.gdn_impl == "fused" ? "vk" : "kv"},
             {"pool_size", S(pool)}});
  o = Out(out, "o");
  if (F) L.ssm_pool = Out(out, "ssm_states");
  return o;
}

Tensor LayerGraph::Attention(const ForwardBatch& b, const LayerSpec& spec, LayerTensors& L,
                             const Tensor& x) {
  const bool sliding = spec.mixer == LayerKind::kSlidingAttention, F = x_.functional();
  const Block where = sliding ? Block::kSliding : Block::kAttention;
  const AttentionShape& shape = sliding ? m_.sliding : m_.full;
  const int64_t T = b.total_tokens(), H = m_.hidden, D = shape.head_dim;
  const int64_t Nq = sliding ? s_.swa_q_heads : s_.q_heads,
                Nkv = sliding ? s_.swa_kv_heads : s_.kv_heads;
  const int64_t qw = m_.q_proj_width(Nq, D), width = qw + 2 * Nkv * D;
  // q (+ elementwise gate) | k | v in one GEMM.
  const Tensor qkv = Linear(where, x, L.w_qkv, T, m_.attn_input_width(), width);
  Tensor gate;
  if (m_.g_proj_width(Nq))
    gate =
        Linear(where, x, L.w_g, T, H, m_.g_proj_width(Nq), false);  // Step-3.5's head-wise g_proj
  else if (m_.gate == AttentionGate::kElementwise)
    gate = Columns(qkv, T, width, Nq * D, Nq * D, {T, Nq * D});
  Tensor q = Columns(qkv, T, width, 0, Nq * D, {T, Nq * D}),
         k = Columns(qkv, T, width, qw, Nkv * D, {T, Nkv * D});
  Tensor v = Columns(qkv, T, width, qw + Nkv * D, Nkv * D, {T, Nkv * D});
  if (m_.qkv_bias) AddQkvBias(where, q, k, v, L);
  if (m_.qk_norm) {
    // Timed as one launch over the q and k rows (the production op normalises both in one call);
    // computed with each one's weight.
    Launch ql;
    ql.where = where;
    ql.op = "rms_norm";
    ql.params = {{"tokens", S(T * (Nq + Nkv))}, {"hidden", S(D)}, {"residual", "0"}};
    ql.numerics = {{"tokens", S(T * Nq)}, {"eps", FormatNumber(m_.rms_norm_eps)}};
    if (F) ql.inputs = {{"x", Reshape(q, {T * Nq, D})}, {"weight", L.q_norm}};
    q = Out(x_.Run(std::move(ql)), "y");
    k = Norm(where, k, L.k_norm, T * Nkv, D, nullptr, nullptr, false);
  }
  std::vector<int64_t> pos;  // functional only (a timed prefill would list every token)
  for (size_t i = 0; F && i < b.tokens.size(); ++i)
    for (int64_t t = 0; t < b.tokens[i]; ++t) pos.push_back(b.prefixes[i] + t);
  const RopeScaling& rs = shape.rope_scaling;
  TensorMap out =
      Run(where, "rotary_embedding",
          {{"tokens", S(T)},
           {"heads", S(Nq)},
           {"kv_heads", S(Nkv)},
           {"head_dim", S(D)},
           {"rotary_dim", S(static_cast<int64_t>(static_cast<double>(D) * shape.partial_rotary))}},
          {{"q", Reshape(q, {T, Nq, D})},
           {"k", Reshape(k, {T, Nkv, D})},
           {"positions", Ints("positions", pos)}},
          {{"theta", FormatNumber(shape.rope_theta)},
           {"max_position", "4096"},
           {"scaling_factor", FormatNumber(rs.factor)},
           {"low_freq_factor", FormatNumber(rs.low_freq_factor)},
           {"high_freq_factor", FormatNumber(rs.high_freq_factor)},
           {"original_max_position", S(rs.original_max_position)}});
  const Tensor attn =
      AttentionCall(b, sliding, Nq, Nkv, D, L, Out(out, "q_out"), Out(out, "k_out"), v);
  Tensor rows = Columns(attn, T, Nq * D, 0, Nq * D, {T, Nq * D});
  if (m_.gate != AttentionGate::kNone)
    rows = Out(Run(where, "attention_gate",
                   {{"tokens", S(T)},
                    {"heads", S(Nq)},
                    {"head_dim", S(D)},
                    {"mode", m_.gate == AttentionGate::kHeadwise ? "headwise" : "elementwise"}},
                   {{"attn", rows}, {"gate", gate}}),
               "out");
  const Tensor y = Linear(where, rows, L.w_o, T, Nq * D, H);  // o_proj
  Collective(where, "all_reduce", s_.attn_tp, T * H);
  return y;
}

void LayerGraph::AddQkvBias(Block where, Tensor& q, Tensor& k, Tensor& v, const LayerTensors& L) {
  auto bias = [&](const Tensor& y, const Tensor& w) {
    if (!x_.functional()) return y;
    const int64_t rows = y.shape()[0], n = w.numel();
    Tensor bt = Make("bias", {rows * n}, y.dtype());
    for (int64_t r = 0; r < rows; ++r)
      std::memcpy(bt.data() + r * n * SizeOf(y.dtype()), w.data(), w.nbytes());
    Launch l;
    l.where = where;
    l.op = "add";
    l.params = {{"n", S(rows * n)}, {"dtype", "bfloat16"}};
    l.timed = false;
    l.inputs = {{"x", Reshape(y, {rows * n})}, {"y", bt}};
    return Reshape(Out(x_.Run(std::move(l)), "z"), {rows, n});
  };
  q = bias(q, L.b_q);
  k = bias(k, L.b_k);
  v = bias(v, L.b_v);
}

Tensor LayerGraph::AttentionCall(const ForwardBatch& b, bool sliding, int64_t Nq, int64_t Nkv,
                                 int64_t D, LayerTensors& L, const Tensor& q, const Tensor& k,
                                 const Tensor& v) {
  const bool F = x_.functional();
  const Block where = sliding ? Block::kSliding : Block::kAttention;
  const int64_t B = b.requests(), Lt = b.max_tokens();
  // Full layers: causal (rightDownCausal), or none for one query. Sliding layers: SGLang's band
  // call (sparse_mode 4, pre_tokens = window), plus for decode the explicit window mask that
  // fixed S4 — without it (fault swa_without_mask) CANN 8.5 ignores the band for one query.
  Kvs fia = {{"batch", S(B)},
             {"q_len", S(Lt)},
             {"context", S(b.prefixes.empty() ? 0 : b.prefixes[0])},
             {"heads", S(Nq)},
             {"kv_heads", S(Nkv)},
             {"head_dim", S(D)},
             {"sparse_mode", sliding   ? "4"
                             : Lt == 1 ? "0"
                                       : "3"}};
  if (sliding) {
    fia.push_back({"window", S(m_.sliding_window)});
    if (Lt == 1 && o_.fault != "swa_without_mask") fia.push_back({"mask", "swa"});
  }
  TensorMap fia_in;
  if (F) {
    // The paged KV write (host side here), then one FIA call over the batch with pages laid out
    // request after request and each request's queries padded to the longest.
    const int64_t row = Nkv * D;
    AppendRows(b, k, row, L.k_cache);
    AppendRows(b, v, row, L.v_cache);
    Tensor table;
    std::vector<int64_t> ql, kvl;
    const Tensor kcache = PagedCache(b, L.k_cache, row, "key_cache", &table, &ql, &kvl);
    const Tensor vcache = PagedCache(b, L.v_cache, row, "value_cache", nullptr, nullptr, nullptr);
    Tensor query = Make("query", {B * Lt, Nq, D}, kBf);
    std::memcpy(query.data(), q.data(), q.nbytes());
    fia_in = {{"query", query},
              {"key_cache", kcache},
              {"value_cache", vcache},
              {"block_table", table},
              {"actual_seq_lengths", Ints("ql", ql)},
              {"actual_seq_lengths_kv", Ints("kvl", kvl)}};
  }
  return Out(Run(where, "fused_infer_attention_score", fia, std::move(fia_in),
                 {{"context_lens", List(b.prefixes)}, {"layout", "TND"}}),
             "attention_out");
}

Tensor LayerGraph::PagedCache(const ForwardBatch& b,
                              const std::vector<std::vector<double>>& per_slot, int64_t width,
                              const std::string& name, Tensor* table, std::vector<int64_t>* q_lens,
                              std::vector<int64_t>* kv_lens) const {
  const int64_t B = b.requests(), Lt = b.max_tokens();
  std::vector<int64_t> pages_of, kvl;
  int64_t pages = 1, max_blocks = 0, cum = 0;  // page 0 unused
  for (int64_t r = 0; r < B; ++r) {
    const int64_t n = b.tokens[static_cast<size_t>(r)],
                  np = (b.prefixes[static_cast<size_t>(r)] + Lt + kPage - 1) / kPage;
    cum += n;
    if (q_lens) q_lens->push_back(cum);
    kvl.push_back(b.prefixes[static_cast<size_t>(r)] + n);
    pages_of.push_back(pages);
    pages += np;
    max_blocks = std::max(max_blocks, np);
  }
  Tensor cache = Make(name, {pages, kPage, width}, kBf);
  if (table) *table = Make("block_table", {B, max_blocks}, DType::kInt32);
  for (int64_t r = 0; r < B; ++r) {
    const auto& c = per_slot[static_cast<size_t>(b.slots[static_cast<size_t>(r)])];
    const int64_t base = pages_of[static_cast<size_t>(r)] * kPage * width;
    for (size_t i = 0; i < c.size(); ++i) cache.Set(base + static_cast<int64_t>(i), c[i]);
    for (int64_t j = 0; table && j < (kvl[static_cast<size_t>(r)] + kPage - 1) / kPage; ++j)
      table->Set(r * max_blocks + j, static_cast<double>(pages_of[static_cast<size_t>(r)] + j));
  }
  if (kv_lens) *kv_lens = kvl;
  return cache;
}

Tensor LayerGraph::HeadGemm(const Tensor& x, const Tensor& w, int64_t T, int64_t heads, int64_t k,
                            int64_t n) {
  const Tensor y =
      Out(Run(Block::kAttention, "grouped_matmul",
              {{"rows", S(T * heads)},
               {"experts", S(heads)},
               {"k", S(k)},
               {"n", S(n)},
               {"skew", "0"},
               {"quant", "none"}},
              {{"x", Reshape(SwapMajor(x, T, heads, k), {T * heads, k})},
               {"w", w},
               {"group_list",
                Ints("group_list", std::vector<int64_t>(static_cast<size_t>(heads), T))}}),
          "y");
  return SwapMajor(Reshape(y, {heads, T, n}), heads, T, n);
}

// DeepSeek's multi-head latent attention. The latent cache holds per token the normed kv_lora
// latent and the roped key part, one row for every head. Decode, verify and draft steps run the
// absorbed form (SGLang's forward_mla: q_nope through W_uk into the latent space, attention over
// the latent rows as one KV head with V their first kv_lora columns, the output back through W_uv);
// prefill and extend decompress the request's latents through kv_b_proj into per-head K and V
// (forward_normal's MHA; its prefix too). The projections and norms are separate launches, as
// the unfused path issues them (CANN's fused mla_prolog is not modelled: see the README).
struct MlaDims {
  int64_t T, B, H, Lt, Nq;  // tokens, requests, hidden, longest query, query heads
  int64_t dn, dr, dv, kvl, lat,
      dq;  // nope / rope / value head dims, latent rank, cache row, q head
};

MlaDims LayerGraph::MlaSizes(const ForwardBatch& b) const {
  const MlaShape& a = m_.mla;
  return {b.total_tokens(),
          b.requests(),
          m_.hidden,
          b.max_tokens(),
          s_.q_heads,
          a.qk_nope_head_dim,
          a.qk_rope_head_dim,
          a.v_head_dim,
          a.kv_lora_rank,
          a.latent_per_token(),
          a.qk_nope_head_dim + a.qk_rope_head_dim};
}

// FIA's block table and lengths, in functional runs.
void LayerGraph::AddLengths(TensorMap& in, const Tensor& table, const std::vector<int64_t>& ql,
                            const std::vector<int64_t>& kvlens) {
  if (!x_.functional()) return;
  in["block_table"] = table;
  in["actual_seq_lengths"] = Ints("ql", ql);
  in["actual_seq_lengths_kv"] = Ints("kvl", kvlens);
}

// yarn's attention scale (DeepSeek: 0.1 mscale_all_dim ln(factor) + 1, squared) on 1/sqrt(nope +
// rope)
static double MlaScale(const ModelConfig& m, int64_t dq) {
  const RopeScaling& rs = m.full.rope_scaling;
  double scale = 1.0 / std::sqrt(static_cast<double>(dq));
  if (rs.type == "yarn" && rs.factor > 1 && rs.mscale_all_dim > 0)
    scale *= std::pow(0.1 * rs.mscale_all_dim * std::log(rs.factor) + 1.0, 2);
  return scale;
}

Tensor LayerGraph::Mla(const ForwardBatch& b, LayerTensors& L, const Tensor& x) {
  const MlaDims d = MlaSizes(b);
  const bool absorbed = b.recurrent(), fused = absorbed && o_.mla_prolog == "fused";
  const Block where = Block::kAttention;
  if (o_.mla_prolog == "fused" && m_.mla.q_lora_rank == 0)
    throw InputError(
        "mla_prolog fused needs a q_lora_rank (DeepSeek-V2-Lite's MLA has none; CANN's MlaProlog "
        "takes W_dq)");
  Tensor q, q_rope;
  // fused: the projections, norms, rope and cache write are mla_prolog's (MlaAbsorbed)
  if (!fused) MlaProject(b, d, L, x, q, q_rope);
  const Kvs fia = {{"batch", S(d.B)},
                   {"q_len", S(d.Lt)},
                   {"context", S(b.prefixes.empty() ? 0 : b.prefixes[0])},
                   {"sparse_mode", d.Lt == 1 ? "0" : "3"},
                   {"scale", FormatNumber(MlaScale(m_, d.dq))}};
  const Tensor o = absorbed ? MlaAbsorbed(b, d, L, x, q, q_rope, fia)  // [T, Nq, dv]
                            : MlaDecompressed(b, d, L, q, q_rope, fia);
  const Tensor y = Linear(where, Columns(o, d.T, d.Nq * d.dv, 0, d.Nq * d.dv, {d.T, d.Nq * d.dv}),
                          L.w_o, d.T, d.Nq * d.dv, d.H);  // o_proj
  Collective(where, "all_reduce", s_.attn_tp, d.T * d.H);
  return y;
}

// The unfused preprocessing: q (through the q LoRA when the model has one), the normed latent and
// the roped key; functionally the latent rows go into the cache.
void LayerGraph::MlaProject(const ForwardBatch& b, const MlaDims& d, LayerTensors& L,
                            const Tensor& x, Tensor& q, Tensor& q_rope) {
  const MlaShape& a = m_.mla;
  const Block where = Block::kAttention;
  const bool F = x_.functional();
  const int64_t T = d.T, Nq = d.Nq, dn = d.dn, dr = d.dr, kvl = d.kvl, lat = d.lat, dq = d.dq;
  if (a.q_lora_rank > 0) {
    const Tensor qa = Norm(where, Linear(where, x, L.w_q_a, T, d.H, a.q_lora_rank), L.q_a_norm, T,
                           a.q_lora_rank, nullptr, nullptr);
    q = Linear(where, qa, L.w_q_b, T, a.q_lora_rank, Nq * dq);
  } else {
    q = Linear(where, x, L.w_q_b, T, d.H, Nq * dq);
  }
  const Tensor kva = Linear(where, x, L.w_kv_a, T, d.H, lat,
                            false);  // the same x as q's projection: quantised once
  const Tensor ckv =
      Norm(where, Columns(kva, T, lat, 0, kvl, {T, kvl}), L.kv_a_norm, T, kvl, nullptr, nullptr);
  std::vector<int64_t> pos;
  for (size_t i = 0; F && i < b.tokens.size(); ++i)
    for (int64_t t = 0; t < b.tokens[i]; ++t) pos.push_back(b.prefixes[i] + t);
  const TensorMap rope =
      Run(where, "rotary_embedding",
          {{"tokens", S(T)},
           {"heads", S(Nq)},
           {"kv_heads", "1"},
           {"head_dim", S(dr)},
           {"rotary_dim", S(dr)}},
          {{"q", Columns(q, T * Nq, dq, dn, dr, {T, Nq, dr})},
           {"k", Columns(kva, T, lat, kvl, dr, {T, 1, dr})},
           {"positions", Ints("positions", pos)}},
          {{"theta", FormatNumber(m_.full.rope_theta)}, {"max_position", "4096"}});
  q_rope = Out(rope, "q_out");
  // [normed latent | roped key]: the rows the cache keeps
  if (F)
    AppendRows(b, JoinColumns("latent", ckv, kvl, Out(rope, "k_out"), dr, T, {T, lat}), lat,
               L.k_cache);
}

// Decode / verify / draft: attention over the latent cache as one KV head (q absorbed through
// W_uk), the result back to per-head values through W_uv.
Tensor LayerGraph::MlaAbsorbed(const ForwardBatch& b, const MlaDims& d, LayerTensors& L,
                               const Tensor& x, const Tensor& q, const Tensor& q_rope, Kvs fia) {
  const bool fused = o_.mla_prolog == "fused";
  const int64_t T = d.T, Nq = d.Nq, kvl = d.kvl, lat = d.lat;
  for (const auto& kv : Kvs{{"heads", S(Nq)},
                            {"kv_heads", "1"},
                            {"head_dim", S(lat)},
                            {"value_dim", S(kvl)},
                            {"kv_cache", "latent"}})
    fia.push_back(kv);
  TensorMap fia_in;
  Tensor table;
  std::vector<int64_t> ql, kvlens;
  if (fused) {
    fia_in = MlaProlog(b, L, x, &table, &ql, &kvlens);
  } else {
    const Tensor q_lat =
        HeadGemm(Columns(q, T * Nq, d.dq, 0, d.dn, {T, Nq, d.dn}), L.w_uk, T, Nq, d.dn, kvl);
    if (x_.functional()) {
      // each request's queries padded to the longest, as FIA takes them
      fia_in["query"] =
          JoinColumns("query", q_lat, kvl, q_rope, d.dr, T * Nq, {d.B * d.Lt, Nq, lat});
      fia_in["key_cache"] = PagedCache(b, L.k_cache, lat, "key_cache", &table, &ql, &kvlens);
    }
  }
  AddLengths(fia_in, table, ql, kvlens);
  const Tensor attn =
      Out(Run(Block::kAttention, "fused_infer_attention_score", fia, std::move(fia_in),
              {{"context_lens", List(b.prefixes)}, {"layout", "TND"}}),
          "attention_out");
  return HeadGemm(attn, L.w_uv, T, Nq, kvl, d.dv);
}

// Prefill / extend: every KV token of the batch's requests (prefix and new) through kv_b_proj:
// K = [k nope | the shared roped key] and V per head, then multi-head attention (Dv != D).
Tensor LayerGraph::MlaDecompressed(const ForwardBatch& b, const MlaDims& d, LayerTensors& L,
                                   const Tensor& q, const Tensor& q_rope, Kvs fia) {
  const bool F = x_.functional();
  const int64_t T = d.T, B = d.B, Nq = d.Nq, dn = d.dn, dr = d.dr, dv = d.dv, kvl = d.kvl,
                lat = d.lat, dq = d.dq;
  int64_t R = 0;
  for (int64_t r = 0; r < B; ++r)
    R += b.prefixes[static_cast<size_t>(r)] + b.tokens[static_cast<size_t>(r)];
  Tensor lat_rows;
  if (F) {
    lat_rows = Make("ckv", {R, kvl}, kBf);
    int64_t at = 0;
    for (int64_t r = 0; r < B; ++r)
      for (double e : L.k_cache[static_cast<size_t>(b.slots[static_cast<size_t>(r)])]) {
        if (at % lat < kvl) lat_rows.Set(at / lat * kvl + at % lat, e);
        ++at;
      }
  }
  const Tensor kvb =
      Out(Run(Block::kAttention, "matmul", {{"m", S(R)}, {"k", S(kvl)}, {"n", S(Nq * (dn + dv))}},
              {{"x", lat_rows}, {"w", L.w_kv_b}}),
          "y");
  for (const auto& kv :
       Kvs{{"heads", S(Nq)}, {"kv_heads", S(Nq)}, {"head_dim", S(dq)}, {"value_dim", S(dv)}})
    fia.push_back(kv);
  TensorMap fia_in;
  Tensor table;
  std::vector<int64_t> ql, kvlens;
  if (F) {
    std::vector<std::vector<double>> kc(L.k_cache.size()), vc(L.k_cache.size());
    int64_t row = 0;
    for (int64_t r = 0; r < B; ++r) {
      const auto slot = static_cast<size_t>(b.slots[static_cast<size_t>(r)]);
      const auto& cached = L.k_cache[slot];
      for (int64_t t = 0; t < b.prefixes[static_cast<size_t>(r)] + b.tokens[static_cast<size_t>(r)];
           ++t, ++row)
        for (int64_t h = 0; h < Nq; ++h) {
          for (int64_t i = 0; i < dn; ++i)
            kc[slot].push_back(kvb.At((row * Nq + h) * (dn + dv) + i));
          for (int64_t i = 0; i < dr; ++i)
            kc[slot].push_back(cached[static_cast<size_t>(t * lat + kvl + i)]);
          for (int64_t i = 0; i < dv; ++i)
            vc[slot].push_back(kvb.At((row * Nq + h) * (dn + dv) + dn + i));
        }
    }
    fia_in["query"] = JoinColumns("query", Columns(q, T * Nq, dq, 0, dn, {T * Nq, dn}), dn, q_rope,
                                  dr, T * Nq, {B * d.Lt, Nq, dq});
    fia_in["key_cache"] = PagedCache(b, kc, Nq * dq, "key_cache", &table, &ql, &kvlens);
    fia_in["value_cache"] = PagedCache(b, vc, Nq * dv, "value_cache", nullptr, nullptr, nullptr);
  }
  AddLengths(fia_in, table, ql, kvlens);
  return Out(Run(Block::kAttention, "fused_infer_attention_score", fia, std::move(fia_in),
                 {{"context_lens", List(b.prefixes)}, {"layout", "TND"}}),
             "attention_out");
}

// mla_prolog over the batch: W8A8 quantises x per token first (the fused op takes int8 x with its
// scales). Functionally the latent cache is paged first, the op writes the batch's new rows into
// their slots (cache_index) and FIA reads that cache; the rows then join the per-slot cache.
// Every request's tokens are its query rows (the absorbed steps have one length per batch).
TensorMap LayerGraph::MlaProlog(const ForwardBatch& b, LayerTensors& L, const Tensor& x,
                                Tensor* table, std::vector<int64_t>* q_lens,
                                std::vector<int64_t>* kv_lens) {
  const MlaShape& a = m_.mla;
  const int64_t T = b.total_tokens(), B = b.requests(), Lt = b.max_tokens(), Nq = s_.q_heads,
                dr = a.qk_rope_head_dim, lat = a.latent_per_token();
  const bool F = x_.functional(), int8 = o_.quant != WeightQuant::kNone;
  if (int8) Run(Block::kAttention, "dynamic_quant", {{"tokens", S(T)}, {"hidden", S(m_.hidden)}});
  // `pages` of the cache the op writes into (timing: as many as the batch's new rows fill)
  auto params = [&](int64_t pages) -> Kvs {
    return {{"tokens", S(T)},
            {"hidden", S(m_.hidden)},
            {"q_lora_rank", S(a.q_lora_rank)},
            {"heads", S(Nq)},
            {"nope_dim", S(a.qk_nope_head_dim)},
            {"rope_dim", S(dr)},
            {"kv_lora_rank", S(a.kv_lora_rank)},
            {"pages", S(pages)},
            {"page_size", S(kPage)},
            {"quant", int8 ? "w8a8" : "none"}};
  };
  if (!F) {
    Run(Block::kAttention, "mla_prolog", params((T + kPage - 1) / kPage), {},
        {{"eps", FormatNumber(m_.rms_norm_eps)}});
    return {};
  }
  if (int8) throw InputError("functional runs compute bf16 weights only (W8A8 is timing-only)");
  // The cache with room for the new rows, their slots, and the cos / sin rows of their positions
  // (the rotary_embedding kernel's cache: theta^(-2i / rope_dim), no scaling).
  // (Rows past a request's prefix are dropped first, as AppendRows would replace them.)
  for (int64_t r = 0; r < B; ++r)
    L.k_cache[static_cast<size_t>(b.slots[static_cast<size_t>(r)])].resize(
        static_cast<size_t>(b.prefixes[static_cast<size_t>(r)] * lat));
  Tensor cache = PagedCache(b, L.k_cache, lat, "kv_cache", table, q_lens, kv_lens);
  const int64_t max_blocks = table->shape()[1];
  std::vector<int64_t> slot;
  Tensor cs = Make("cos_sin", {T, dr}, DType::kFloat32);
  for (int64_t r = 0, row = 0; r < B; ++r)
    for (int64_t t = 0; t < b.tokens[static_cast<size_t>(r)]; ++t, ++row) {
      const int64_t pos = b.prefixes[static_cast<size_t>(r)] + t;
      slot.push_back(static_cast<int64_t>(table->At(r * max_blocks + pos / kPage)) * kPage +
                     pos % kPage);
      for (int64_t i = 0; i < dr / 2; ++i) {
        const double ang =
            static_cast<double>(pos) * op_util::RopeInvFreq(m_.full.rope_theta, i, dr);
        cs.Set(row * dr + i, std::cos(ang));
        cs.Set(row * dr + dr / 2 + i, std::sin(ang));
      }
    }
  // The zero-centred norm weights of the unfused path (1 + w) as the op's plain gammas.
  auto plain = [](const Tensor& w) {
    Tensor g = Make(w.name(), w.shape(), w.dtype());
    for (int64_t i = 0; i < w.numel(); ++i) g.Set(i, 1.0 + w.At(i));
    return g;
  };
  const TensorMap out = Run(Block::kAttention, "mla_prolog", params(cache.shape()[0]),
                            {{"x", Reshape(x, {T, m_.hidden})},
                             {"w_dq", L.w_q_a},
                             {"gamma_cq", plain(L.q_a_norm)},
                             {"w_uq_qr", L.w_q_b},
                             {"w_uk", L.w_uk},
                             {"w_dkv_kr", L.w_kv_a},
                             {"gamma_ckv", plain(L.kv_a_norm)},
                             {"cos_sin", cs},
                             {"cache_index", Ints("cache_index", slot)},
                             {"kv_cache", cache}},
                            {{"eps", FormatNumber(m_.rms_norm_eps)}});
  const Tensor written = Out(out, "kv_cache");
  AppendRows(b, Rows(Reshape(written, {written.numel() / lat, lat}), lat, slot), lat, L.k_cache);
  return {{"query", Reshape(Out(out, "query"), {B * Lt, Nq, lat})}, {"key_cache", written}};
}

Tensor LayerGraph::Swiglu(Block where, const LayerSpec& spec, const Tensor& x, int64_t rows,
                          int64_t inter) {
  // Step-3.5's clamped SwiGLU where the layer has a limit (and not the S4 fault that drops it).
  if (spec.swiglu_limit > 0 && o_.fault != "no_swiglu_clamp")
    return Out(Run(where, "swiglustep", {{"tokens", S(rows)}, {"inter", S(inter)}}, {{"x", x}},
                   {{"limit", FormatNumber(spec.swiglu_limit)}}),
               "out");
  return Out(Run(where, "swiglu", {{"tokens", S(rows)}, {"inter", S(inter)}}, {{"x", x}}), "out");
}

Tensor LayerGraph::Mlp(const LayerSpec& spec, LayerTensors& L, const Tensor& x, int64_t T) {
  const int64_t H = m_.hidden, I = s_.dense_intermediate;
  const Tensor up = Linear(Block::kDense, x, L.w_gu, T, H, 2 * I);
  const Tensor y = Linear(Block::kDense, Swiglu(Block::kDense, spec, up, T, I), L.w_down, T, I, H);
  Collective(Block::kDense, "all_reduce", s_.attn_tp, T * H);
  return y;
}

// DeepEP's dispatch (the host reads its receive counts) or combine of `rows` rows per rank, every
// rank at the busiest rank's count: in normal mode (the prefill's, timing only) row by row as its
// kernels run it, in low-latency mode as the relay all_to_all. Nothing without DeepEP.
void LayerGraph::DeepEp(bool dispatch, int64_t rows) {
  if (!p_.a2a || p_.ep <= 1) return;
  const int64_t H = m_.hidden, top = m_.top_k;
  if (o_.deepep_normal.empty() || x_.functional()) {
    Collective(Block::kMoe, "all_to_all", p_.ep, rows * H, dispatch);
    return;
  }
  Launch l;
  l.where = Block::kMoe;
  l.op = dispatch ? "moe_dispatch_normal" : "moe_combine_normal";
  l.params = {{"ranks", S(p_.ep)},
              {"tokens", S((rows + top - 1) / top)},
              {"hidden", S(H)},
              {"top_k", S(top)},
              {"experts", S(m_.experts)}};
  if (dispatch) l.params.push_back({"quant", o_.deepep_normal == "int8" ? "int8" : "none"});
  l.host_reads_result = dispatch;
  x_.Run(std::move(l));
}

// Router (softmax, or sigmoid + correction bias), top-k, permute by expert, the experts' grouped
// GEMMs, unpermute with the routing weights and add the (gated) shared expert. DeepEP (a2a): the
// group's tokens split over its ranks, dispatched to the experts' ranks and combined back by
// all-to-all (balanced routing: a rank receives as many rows as it sends), then gathered within
// the group for the next layer. Otherwise MoE TP/EP over all ranks: every DP group's tokens
// gathered (in Layer, before the norm), partial sums all-reduced.
Tensor LayerGraph::Moe(const LayerSpec& spec, LayerTensors& L, const Tensor& x, int64_t T) {
  const int64_t H = m_.hidden, E = m_.experts, top = m_.top_k, Ie = s_.moe_intermediate;
  const int64_t Tm = p_.a2a ? (T + s_.attn_tp - 1) / s_.attn_tp : T * p_.dp, rows = Tm * top;
  const bool int8 = o_.quant != WeightQuant::kNone, F = x_.functional();
  const Tensor logits = Out(Run(Block::kMoe, "matmul", {{"m", S(Tm)}, {"k", S(H)}, {"n", S(E)}},
                                {{"x", x}, {"w", L.w_router}}),
                            "y");  // router, bf16
  TensorMap gin{{"logits", logits}};
  if (m_.sigmoid_router) gin["router_bias"] = L.router_bias;
  const TensorMap route = Run(Block::kMoe, "moe_gating_topk",
                              {{"tokens", S(Tm)},
                               {"experts", S(E)},
                               {"top_k", S(top)},
                               {"scoring", m_.sigmoid_router ? "sigmoid" : "softmax"},
                               {"bias", m_.sigmoid_router ? "1" : "0"}},
                              std::move(gin),
                              {{"renormalize", m_.norm_topk ? "1" : "0"},
                               {"scaling", FormatNumber(m_.routed_scaling)},
                               {"dtype", "bfloat16"}});
  const TensorMap perm =
      Run(Block::kMoe, "moe_init_routing",
          {{"tokens", S(Tm)}, {"hidden", S(H)}, {"top_k", S(top)}, {"experts", S(E)}},
          {{"x", x}, {"topk_ids", Out(route, "topk_ids")}});
  // DeepEP: the rank that receives the most rows holds every other back at both all-to-alls,
  // so its rows are the ones timed (moe_routing.h: a router without preference). A functional
  // run computes one rank's own rows.
  const int64_t busy =
      p_.a2a && p_.ep > 1 && !F ? BusiestRankRows(Tm * p_.ep, top, E, p_.ep) : rows;
  DeepEp(true, busy);
  // The experts' GEMMs: bf16, or W8A8 with the expanded rows quantised per row first.
  auto experts = [&](const Tensor& in, const Tensor& w, int64_t k, int64_t n) {
    if (int8) Run(Block::kMoe, "dynamic_quant", {{"tokens", S(busy)}, {"hidden", S(k)}});
    return Out(Run(Block::kMoe, "grouped_matmul",
                   {{"rows", S(busy)},
                    {"experts", S(s_.experts)},
                    {"k", S(k)},
                    {"n", S(n)},
                    {"skew", "0"},
                    {"quant", !int8                            ? "none"
                              : o_.quant == WeightQuant::kW4A8 ? "w4a8"
                                                               : "w8a8"}},
                   {{"x", in}, {"w", w}, {"group_list", Out(perm, "expert_tokens")}}),
               "y");
  };
  const Tensor act =
      Swiglu(Block::kMoe, spec, experts(Out(perm, "expanded_x"), L.w_egu, H, 2 * Ie), busy, Ie);
  const Tensor down = experts(act, L.w_edown, Ie, H);
  DeepEp(false, busy);
  TensorMap fin{{"expanded_y", down},
                {"expanded_row_idx", Out(perm, "expanded_row_idx")},
                {"topk_weights", Out(route, "topk_weights")}};
  const std::string shared = SharedExpert(spec, L, x, Tm, fin);
  const Tensor y = Out(Run(Block::kMoe, "moe_finalize_routing",
                           {{"tokens", S(Tm)},
                            {"hidden", S(H)},
                            {"top_k", S(top)},
                            {"experts", S(E)},
                            {"shared", shared}},
                           std::move(fin)),
                       "y");
  if (p_.a2a)
    Collective(Block::kMoe, "all_gather", s_.attn_tp, Tm * H);
  else
    Collective(Block::kMoe, "all_reduce", p_.tp, Tm * H);
  return y;
}

// The shared expert: linear layers like the rest, over the MoE's tokens; its output (and gate)
// go to moe_finalize_routing. Returns finalize's `shared` mode.
std::string LayerGraph::SharedExpert(const LayerSpec& spec, LayerTensors& L, const Tensor& x,
                                     int64_t Tm, TensorMap& fin) {
  const int64_t H = m_.hidden, Is = s_.shared_intermediate;
  const bool F = x_.functional();
  if (Is == 0) return "none";
  std::string shared = "plain";
  const Tensor up = Linear(Block::kMoe, x, L.w_sgu, Tm, H, 2 * Is);
  fin["shared_out"] =
      Linear(Block::kMoe, Swiglu(Block::kMoe, spec, up, Tm, Is), L.w_sdown, Tm, Is, H);
  if (m_.shared_gated) {
    // Its [H, 1] gate: a GEMV the step graph does not time (a few us next to the experts).
    Launch gl;
    gl.where = Block::kMoe;
    gl.op = "matmul";
    gl.params = {{"m", S(Tm)}, {"k", S(H)}, {"n", "1"}};
    gl.timed = false;
    if (F) gl.inputs = {{"x", x}, {"w", L.w_sg}};
    const Tensor logit = Out(x_.Run(std::move(gl)), "y");
    if (F) {
      Tensor g = Make("shared_gate", {Tm}, DType::kFloat32);
      for (int64_t t = 0; t < Tm; ++t) g.Set(t, logit.At(t));
      fin["shared_gate"] = g;
    }
    shared = "gated";
  }
  return shared;
}

Tensor LayerGraph::Head(const ForwardBatch& b, const Tensor& delta, const Tensor& residual,
                        const Tensor& final_norm, const Tensor& lm_head, Tensor* hidden,
                        Tensor* logits) {
  // Verify needs the logits of every draft position; without the DP lm_head every group's rows.
  const std::vector<int64_t> rows = b.SampledRows();
  const int64_t H = m_.hidden, R = static_cast<int64_t>(rows.size()) * (p_.dp_lm_head ? 1 : p_.dp);
  const Tensor d = Rows(delta, H, rows), r = Rows(residual, H, rows);
  const Tensor normed = Norm(Block::kHead, d, final_norm, R, H, &r, hidden);
  const TensorMap out = Run(Block::kHead, "lm_head_argmax",
                            {{"tokens", S(R)}, {"hidden", S(H)}, {"vocab", S(s_.vocab)}},
                            {{"hidden_states", normed}, {"weight", lm_head}});
  if (logits) *logits = Out(out, "logits");
  return Out(out, "next_token");
}

Tensor LayerGraph::Draft(const ForwardBatch& b, const std::vector<int64_t>& ids,
                         const Tensor& table, const Tensor& target_hidden, DraftTensors& w,
                         const Tensor& lm_head, Tensor* hidden) {
  const int64_t T = b.total_tokens(), H = m_.hidden;
  Tensor x = Embed(b, ids, table);
  if (!m_.eagle3) {
    // The two input norms are not timed (a few us beside the layer; the step graph never had them).
    const Tensor ne = Norm(Block::kEmbedding, x, w.norm_e, T, H, nullptr, nullptr, false);
    const Tensor nh =
        Norm(Block::kEmbedding, target_hidden, w.norm_h, T, H, nullptr, nullptr, false);
    Tensor cat;
    if (x_.functional()) {
      cat = Make("cat", {T, 2 * H}, kBf);
      const size_t row = static_cast<size_t>(H) * 2;
      for (int64_t t = 0; t < T; ++t) {
        std::memcpy(cat.data() + t * 2 * row, ne.data() + t * row, row);
        std::memcpy(cat.data() + t * 2 * row + row, nh.data() + t * row, row);
      }
    }
    x = Linear(Block::kEmbedding, cat, w.fc, T, 2 * H, H);
  } else if (b.max_tokens() > 1) {
    x = Linear(Block::kEmbedding, target_hidden, w.fc, T, 3 * m_.target_hidden, H);
  }
  Tensor residual;
  const Tensor delta = Layer(b, DraftLayer(m_), w.layer, x, &residual, true);
  return Head(b, delta, residual, w.final_norm, lm_head, hidden, nullptr);
}

void LayerGraph::Commit(const ForwardBatch& b, std::vector<LayerTensors*> gdn,
                        const std::vector<int64_t>& last_steps) {
  const int64_t B = b.requests(), d = b.max_tokens();
  Launch accept;
  accept.where = Block::kHead;
  accept.op = "verify_greedy";
  accept.params = {{"batch", S(B)}, {"draft_tokens", S(d)}};
  accept.computed = false;  // the functional run compares the draft with the target's argmax itself
  x_.Run(std::move(accept));
  const int64_t Lg = m_.count(LayerKind::kLinearAttention);
  if (!Lg) return;
  const int64_t HV = s_.lin_value_heads, K = m_.lin_key_dim, Vd = m_.lin_value_dim,
                cd = s_.conv_dim, slots = o_.pool_slots;
  const bool F = x_.functional();
  const int64_t st = HV * K * Vd, W = F ? gdn[0]->conv_pool.shape()[1] : 0;
  const std::string ssm = SsmDtype();
  const size_t es = SizeOf(ParseDType(ssm));
  TensorMap mv, cv;
  if (F) {
    // The commit kernels take every GDN layer's caches at once: [layers, ...] views built here.
    Tensor inter = Make("intermediate", {Lg, B, d, HV, Vd, K}, ParseDType(ssm)),
           pool = Make("ssm_states", {Lg, slots, HV, Vd, K}, ParseDType(ssm));
    Tensor conv = Make("conv_states", {Lg, slots, W, cd}, kBf);
    for (int64_t l = 0; l < Lg; ++l) {
      const LayerTensors& L = *gdn[static_cast<size_t>(l)];
      std::memcpy(inter.data() + l * B * d * st * es, L.intermediate.data(),
                  static_cast<size_t>(B * d * st) * es);
      std::memcpy(pool.data() + l * slots * st * es, L.ssm_pool.data(),
                  static_cast<size_t>(slots * st) * es);
      std::memcpy(conv.data() + l * slots * W * cd * 2, L.conv_pool.data(),
                  static_cast<size_t>(slots * W * cd) * 2);
    }
    mv = {{"intermediate", inter},
          {"ssm_states", pool},
          {"cache_indices", Ints("slots", b.slots)},
          {"last_steps", Ints("last", last_steps)}};
    cv = {{"conv_states", conv},
          {"cache_indices", Ints("slots", b.slots)},
          {"last_steps", Ints("last", last_steps)}};
  }
  const Tensor new_pool = Out(Run(Block::kCommit, "move_intermediate_cache",
                                  {{"layers", S(Lg)},
                                   {"requests", S(B)},
                                   {"draft_tokens", S(d)},
                                   {"heads", S(HV)},
                                   {"k_dim", S(K)},
                                   {"v_dim", S(Vd)},
                                   {"ssm_dtype", ssm}},
                                  std::move(mv), {{"pool_size", S(slots)}}),
                              "ssm_states");
  const Tensor new_conv = Out(Run(Block::kCommit, "conv_state_rollback",
                                  {{"layers", S(Lg)},
                                   {"requests", S(B)},
                                   {"draft_tokens", S(d)},
                                   {"conv_kernel", S(m_.conv_kernel)},
                                   {"conv_dim", S(cd)}},
                                  std::move(cv), {{"pool_size", S(slots)}}),
                              "conv_states");
  if (!F) return;
  for (int64_t l = 0; l < Lg; ++l) {
    LayerTensors& L = *gdn[static_cast<size_t>(l)];
    std::memcpy(L.ssm_pool.data(), new_pool.data() + l * slots * st * es,
                static_cast<size_t>(slots * st) * es);
    std::memcpy(L.conv_pool.data(), new_conv.data() + l * slots * W * cd * 2,
                static_cast<size_t>(slots * W * cd) * 2);
  }
}

}  // namespace npusim
