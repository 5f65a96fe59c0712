#include "workloads/functional_model.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "model/error.h"
#include "model/rng.h"
#include "ops/runner.h"

namespace npusim {

namespace {

using Kvs = std::vector<std::pair<std::string, std::string>>;
constexpr DType kBf = DType::kBFloat16;
constexpr int64_t kPage = 128;
// Scale of the layers' output projections relative to a unit-variance residual: large enough that
// greedy tokens depend on the computed state, small enough that the successor structure below
// keeps the MTP draft right often enough to exercise multi-token commits.
constexpr double kOutScale = 1.0;
constexpr double kSuccessor = 0.4;  // weight of the t -> t+1 direction in lm_head

std::string S(int64_t v) { return std::to_string(v); }

Tensor Make(const std::string& name, const Shape& shape, DType dtype) { return Tensor(name, shape, dtype, true); }

// Same bytes, another shape (row-major views of one buffer).
Tensor Reshape(const Tensor& t, const Shape& shape) {
  Tensor out = Make(t.name(), shape, t.dtype());
  if (out.nbytes() != t.nbytes()) throw std::logic_error("reshape of " + t.name() + " changes its size");
  std::memcpy(out.data(), t.data(), t.nbytes());
  return out;
}

// Columns [c0, c0 + n) of a row-major [rows, width] tensor, as `shape` (rows x n elements).
Tensor Columns(const Tensor& t, int64_t rows, int64_t width, int64_t c0, int64_t n, const Shape& shape) {
  Tensor out = Make(t.name(), shape, t.dtype());
  const size_t es = SizeOf(t.dtype());
  for (int64_t r = 0; r < rows; ++r) std::memcpy(out.data() + r * n * es, t.data() + (r * width + c0) * es, n * es);
  return out;
}

Tensor Ints(const std::string& name, const std::vector<int64_t>& v) {
  Tensor t = Make(name, {static_cast<int64_t>(v.size())}, DType::kInt32);
  for (size_t i = 0; i < v.size(); ++i) t.Set(static_cast<int64_t>(i), static_cast<double>(v[i]));
  return t;
}

std::string List(const std::vector<int64_t>& v) {
  std::string s;
  for (int64_t x : v) s += (s.empty() ? "" : ",") + std::to_string(x);
  return s;
}

}  // namespace

Tensor FunctionalModel::Weight(const std::string& name, Shape shape, double scale) {
  Rng rng(o_.seed * 1000003 + ++draw_);
  Tensor t = Make(name, shape, kBf);
  for (int64_t i = 0; i < t.numel(); ++i) t.Set(i, rng.Normal() * scale);
  return t;
}

FunctionalModel::FunctionalModel(const ModelConfig& m, const DeviceConfig& d, const FunctionalOptions& o) : m_(m), d_(d), o_(o) {
  const int64_t H = m.hidden, V = m.vocab, I = m.dense_intermediate;
  const double in_scale = 1.0 / std::sqrt(static_cast<double>(H));
  // lm_head row j leans towards embedding row j-1 (kSuccessor): the model often continues
  // t -> t+1 and the layers bend it, so greedy tokens depend on the state and an MTP draft
  // (whose fc passes the embedding through) agrees often enough to matter.
  embed_ = Weight("embed", {V, H}, 1.0);
  lm_head_ = Weight("lm_head", {V, H}, in_scale);
  for (int64_t j = 0; j < V; ++j)
    for (int64_t c = 0; c < H; ++c)
      lm_head_.Set(j * H + c, lm_head_.At(j * H + c) + kSuccessor * embed_.At(((j + V - 1) % V) * H + c) * in_scale);
  final_norm_ = Weight("final_norm", {H}, 0.05);
  const int64_t Hk = m.lin_key_heads, HV = m.lin_value_heads, K = m.lin_key_dim, Vd = m.lin_value_dim, kw = m.conv_kernel;
  const int64_t window = kw - 1 + (o.draft_tokens > 0 ? o.draft_tokens - 1 : 0);
  const DType ssm = ParseDType(o.ssm_dtype);
  auto attention = [&](Layer& L) {
    const AttentionShape& a = L.sliding ? m.sliding : m.full;
    const int64_t Nq = a.heads, Nkv = a.kv_heads, D = a.head_dim;
    L.w_q = Weight("w_q", {H, m.q_proj_width(Nq, D)}, in_scale);
    if (m.g_proj_width(Nq)) L.w_g = Weight("w_g", {H, m.g_proj_width(Nq)}, in_scale);
    L.w_k = Weight("w_k", {H, Nkv * D}, in_scale);
    L.w_v = Weight("w_v", {H, Nkv * D}, in_scale);
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
    L.k_cache.resize(static_cast<size_t>(o.slots));
    L.v_cache.resize(static_cast<size_t>(o.slots));
  };
  auto mlp = [&](Layer& L, bool moe) {
    L.moe = moe;
    if (!moe) {
      L.w_gu = Weight("w_gu", {H, 2 * I}, in_scale);
      L.w_down = Weight("w_down", {I, H}, kOutScale / std::sqrt(static_cast<double>(I)));
      return;
    }
    const int64_t E = m.experts, Ie = m.moe_intermediate, Is = m.shared_intermediate;
    L.w_router = Weight("w_router", {H, E}, in_scale);
    if (m.sigmoid_router) L.router_bias = Make("router_bias", {E}, DType::kFloat32);  // zero correction bias
    L.w_egu = Weight("w_egu", {E, H, 2 * Ie}, in_scale);
    L.w_edown = Weight("w_edown", {E, Ie, H}, kOutScale / std::sqrt(static_cast<double>(Ie)));
    if (Is > 0) {
      L.w_sgu = Weight("w_sgu", {H, 2 * Is}, in_scale);
      L.w_sdown = Weight("w_sdown", {Is, H}, kOutScale / std::sqrt(static_cast<double>(Is)));
      if (m.shared_gated) L.w_sg = Weight("w_sg", {H, 1}, in_scale);
    }
  };
  for (LayerKind kind : m.layers) {
    Layer L;
    L.sliding = kind == LayerKind::kSlidingAttention;
    if (layers_.size() < m.swiglu_limits.size()) L.limit = m.swiglu_limits[layers_.size()];
    L.in_norm = Weight("in_norm", {H}, 0.05);
    L.post_norm = Weight("post_norm", {H}, 0.05);
    if (kind == LayerKind::kLinearAttention) {
      L.w_qkvz = Weight("w_qkvz", {H, 2 * Hk * K + 2 * HV * Vd}, in_scale);
      L.w_ba = Weight("w_ba", {H, 2 * HV}, in_scale);
      L.conv_w = Weight("conv_w", {kw, m.conv_dim()}, 0.5);
      L.a_log = Make("A_log", {HV}, DType::kFloat32);
      // Mamba-style gate init: A in [1, 16], dt log-uniform in [1e-3, 0.1] through dt_bias =
      // softplus^-1(dt), so most heads remember over tens to hundreds of tokens.
      L.dt_bias = Make("dt_bias", {HV}, kBf);
      Rng rng(o.seed + 77 + layers_.size());
      for (int64_t h = 0; h < HV; ++h) {
        L.a_log.Set(h, std::log(rng.Uniform(1, 16)));
        const double dt = std::exp(rng.Uniform(std::log(1e-3), std::log(0.1)));
        L.dt_bias.Set(h, std::log(std::expm1(dt)));
      }
      L.gdn_norm = Make("gdn_norm", {Vd}, kBf);
      for (int64_t i = 0; i < Vd; ++i) L.gdn_norm.Set(i, 1.0);
      L.w_out = Weight("w_out", {HV * Vd, H}, kOutScale / std::sqrt(static_cast<double>(HV * Vd)));
      L.conv_pool = Make("conv_states", {o.slots, window, m.conv_dim()}, kBf);
      L.ssm_pool = Make("ssm_states", o.gdn_impl == "fused" ? Shape{o.slots, HV, Vd, K} : Shape{o.slots, HV, K, Vd}, ssm);
    } else {
      attention(L);
    }
    mlp(L, layers_.size() < m.moe_layer.size() && m.moe_layer[layers_.size()]);
    layers_.push_back(std::move(L));
  }
  if (o.draft_tokens > 0) {
    // fc passes the token's normalised embedding through (identity block) and mixes in the
    // hidden state weakly: the draft guesses the same successor the target mostly predicts.
    draft_fc_ = Weight("draft_fc", {2 * H, H}, 0.1 / std::sqrt(static_cast<double>(2 * H)));
    for (int64_t i = 0; i < H; ++i) draft_fc_.Set(i * H + i, draft_fc_.At(i * H + i) + 1.0);
    draft_norm_e_ = Weight("draft_norm_e", {H}, 0.05);
    draft_norm_h_ = Weight("draft_norm_h", {H}, 0.05);
    draft_final_norm_ = Weight("draft_final_norm", {H}, 0.05);
    draft_.in_norm = Weight("in_norm", {H}, 0.05);
    draft_.post_norm = Weight("post_norm", {H}, 0.05);
    attention(draft_);
    mlp(draft_, !m.moe_layer.empty() && m.moe_layer.back());  // the MLP kind of the decoder's last layer, as in the step graph
  }
}

Tensor FunctionalModel::Call(const std::string& op, const Kvs& params, TensorMap inputs, const std::string& output, TensorMap* all) {
  const Op& kernel = FindOp(op);
  ParamValues pv(kernel.params());
  for (const auto& [k, v] : params) pv.Set(k, v);
  RunOptions ro;
  ro.mode = ModeChoice::kFunctional;
  ro.use_cache = false;
  ro.inputs = &inputs;
  KernelRun r;
  try {
    r = RunKernel(kernel, pv, d_, ro);
  } catch (const InputError& e) {
    // The model's shapes reach the kernel as data: a mismatch is the simulated program's error.
    throw SimFailure("shape_error", op + " (" + pv.Canonical() + "): " + e.what());
  }
  if (r.status != "ok") throw SimFailure(r.status, op + " (" + pv.Canonical() + "): " + r.message);
  ++calls_[op];
  for (const auto& [name, e] : r.numerics) errors_[op] = std::max(errors_[op], e.norm_err);
  Tensor out = r.outputs.at(output);
  if (all) *all = std::move(r.outputs);
  return out;
}

Tensor FunctionalModel::Matmul(const Tensor& x, const Tensor& w) {
  const int64_t mm = x.shape()[0], k = w.shape()[0], n = w.shape()[1];
  return Call("matmul", {{"m", S(mm)}, {"k", S(k)}, {"n", S(n)}}, {{"x", Reshape(x, {mm, k})}, {"w", w}}, "y");
}

Tensor FunctionalModel::AddBias(const Tensor& y, const Tensor& bias) {
  const int64_t rows = y.shape()[0], n = bias.numel();
  Tensor b = Make("bias", {rows * n}, y.dtype());
  for (int64_t r = 0; r < rows; ++r) std::memcpy(b.data() + r * n * SizeOf(y.dtype()), bias.data(), bias.nbytes());
  const Tensor z = Call("add", {{"n", S(rows * n)}, {"dtype", "bfloat16"}}, {{"x", Reshape(y, {rows * n})}, {"y", b}}, "z");
  return Reshape(z, {rows, n});
}

Tensor FunctionalModel::Norm(const Tensor& x, const Tensor& w, int64_t rows, int64_t hidden, const Tensor* residual, Tensor* residual_out) {
  TensorMap in{{"x", Reshape(x, {rows, hidden})}, {"weight", w}};
  if (residual) in["residual"] = Reshape(*residual, {rows, hidden});
  TensorMap out;
  Tensor y = Call("rms_norm",
                  {{"tokens", S(rows)}, {"hidden", S(hidden)}, {"eps", FormatNumber(m_.rms_norm_eps)}, {"residual", residual ? "1" : "0"}},
                  std::move(in), "y", &out);
  if (residual_out) *residual_out = residual ? out.at("residual_out") : Reshape(x, {rows, hidden});
  return y;
}

// Step-3.5's clamp, or its absence (the S4 fault on the MLP).
Tensor FunctionalModel::Swiglu(const Layer& L, const Tensor& x, int64_t rows, int64_t inter) {
  if (L.limit > 0 && o_.fault != "no_swiglu_clamp")
    return Call("swiglustep", {{"tokens", S(rows)}, {"inter", S(inter)}, {"limit", FormatNumber(L.limit)}}, {{"x", x}}, "out");
  return Call("swiglu", {{"tokens", S(rows)}, {"inter", S(inter)}}, {{"x", x}}, "out");
}

Tensor FunctionalModel::Mlp(Layer& L, const Tensor& x) {
  if (L.moe) return Moe(L, x);
  const int64_t T = x.shape()[0], I = m_.dense_intermediate;
  return Matmul(Swiglu(L, Matmul(x, L.w_gu), T, I), L.w_down);
}

// Router (softmax, or sigmoid + correction bias), top-k, permute by expert, the experts' grouped
// GEMMs, unpermute with the routing weights and add the (gated) shared expert.
Tensor FunctionalModel::Moe(Layer& L, const Tensor& x) {
  const int64_t T = x.shape()[0], H = m_.hidden, E = m_.experts, k = m_.top_k, Ie = m_.moe_intermediate, Is = m_.shared_intermediate;
  TensorMap route, perm;
  TensorMap gin{{"logits", Matmul(x, L.w_router)}};
  if (m_.sigmoid_router) gin["router_bias"] = L.router_bias;
  Call("moe_gating_topk",
       {{"tokens", S(T)}, {"experts", S(E)}, {"top_k", S(k)}, {"scoring", m_.sigmoid_router ? "sigmoid" : "softmax"},
        {"bias", m_.sigmoid_router ? "1" : "0"}, {"renormalize", m_.norm_topk ? "1" : "0"}, {"scaling", FormatNumber(m_.routed_scaling)},
        {"dtype", "bfloat16"}},
       std::move(gin), "topk_ids", &route);
  Call("moe_init_routing", {{"tokens", S(T)}, {"hidden", S(H)}, {"top_k", S(k)}, {"experts", S(E)}},
       {{"x", x}, {"topk_ids", route.at("topk_ids")}}, "expanded_x", &perm);
  const Tensor& counts = perm.at("expert_tokens");
  auto grouped = [&](const Tensor& in, const Tensor& w, int64_t kk, int64_t n) {
    return Call("grouped_matmul", {{"rows", S(T * k)}, {"experts", S(E)}, {"k", S(kk)}, {"n", S(n)}},
                {{"x", in}, {"w", w}, {"group_list", counts}}, "y");
  };
  const Tensor act = Swiglu(L, grouped(perm.at("expanded_x"), L.w_egu, H, 2 * Ie), T * k, Ie);
  const Tensor down = grouped(act, L.w_edown, Ie, H);
  TensorMap fin{{"expanded_y", down}, {"expanded_row_idx", perm.at("expanded_row_idx")}, {"topk_weights", route.at("topk_weights")}};
  std::string shared = "none";
  if (Is > 0) {
    fin["shared_out"] = Matmul(Swiglu(L, Matmul(x, L.w_sgu), T, Is), L.w_sdown);
    shared = "plain";
    if (m_.shared_gated) {
      const Tensor logit = Matmul(x, L.w_sg);  // [T, 1]
      Tensor g = Make("shared_gate", {T}, DType::kFloat32);
      for (int64_t t = 0; t < T; ++t) g.Set(t, logit.At(t));
      fin["shared_gate"] = g;
      shared = "gated";
    }
  }
  return Call("moe_finalize_routing", {{"tokens", S(T)}, {"hidden", S(H)}, {"top_k", S(k)}, {"experts", S(E)}, {"shared", shared}},
              std::move(fin), "y");
}

Tensor FunctionalModel::Gdn(Layer& L, const Tensor& x, const std::vector<Entry>& batch, bool decode, bool verify) {
  const int64_t T = x.shape()[0], B = static_cast<int64_t>(batch.size());
  const int64_t Hk = m_.lin_key_heads, HV = m_.lin_value_heads, K = m_.lin_key_dim, Vd = m_.lin_value_dim, kw = m_.conv_kernel;
  const int64_t cd = m_.conv_dim(), nq = 2 * Hk * K + 2 * HV * Vd, slots = o_.slots;
  const Tensor qkvz = Matmul(x, L.w_qkvz), ba = Matmul(x, L.w_ba);
  const Tensor mixed = Columns(qkvz, T, nq, 0, cd, {T, cd});
  const Tensor z = Columns(qkvz, T, nq, cd, HV * Vd, {T, HV, Vd});
  const Tensor b = Columns(ba, T, 2 * HV, 0, HV, {T, HV}), a = Columns(ba, T, 2 * HV, HV, HV, {T, HV});
  std::vector<int64_t> slot, lens, qsl = {0}, init;
  for (const Entry& e : batch) {
    slot.push_back(e.slot);
    lens.push_back(static_cast<int64_t>(e.tokens.size()));
    qsl.push_back(qsl.back() + lens.back());
    init.push_back(e.prefix > 0 ? 1 : 0);
  }
  const std::string layout = o_.gdn_impl == "fused" ? "vk" : "kv";
  Tensor o;
  TensorMap out;
  if (!decode) {
    const Tensor y = Call("causal_conv1d_fn",
                          {{"seq_lens", List(lens)}, {"dim", S(cd)}, {"kw", S(kw)}, {"extra_rows", S(L.conv_pool.shape()[1] - (kw - 1))},
                           {"pool_size", S(slots)}, {"fault", o_.fault == "conv_state_shift" ? "mixed_batch_state_shift" : "none"}},
                          {{"x", mixed}, {"weight", L.conv_w}, {"conv_states", L.conv_pool}, {"query_start_loc", Ints("qsl", qsl)},
                           {"cache_indices", Ints("slots", slot)}, {"has_initial_state", Ints("init", init)}},
                          "y", &out);
    L.conv_pool = out.at("conv_states");
    Call("fused_gdn_gating", {{"tokens", S(T)}, {"heads", S(HV)}}, {{"a", a}, {"b", b}, {"A_log", L.a_log}, {"dt_bias", L.dt_bias}}, "g",
         &out);
    const Tensor g = Reshape(out.at("g"), {T, HV}), beta = Reshape(out.at("beta"), {T, HV});
    auto l2 = [&](int64_t c0) {
      return Call("l2norm", {{"tokens", S(T)}, {"heads", S(Hk)}, {"head_dim", S(K)}}, {{"x", Columns(y, T, cd, c0, Hk * K, {T, Hk, K})}},
                  "y");
    };
    const Tensor q = l2(0), k = l2(Hk * K), v = Columns(y, T, cd, 2 * Hk * K, HV * Vd, {T, HV, Vd});
    o = Call("chunk_gated_delta_rule",
             {{"seq_lens", List(lens)}, {"heads", S(HV)}, {"key_heads", S(Hk)}, {"k_dim", S(K)}, {"v_dim", S(Vd)}, {"ssm_dtype", o_.ssm_dtype},
              {"state_layout", layout}, {"pool_size", S(slots)}},
             {{"q", q}, {"k", k}, {"v", v}, {"g", g}, {"beta", beta}, {"ssm_states", L.ssm_pool}, {"query_start_loc", Ints("qsl", qsl)},
              {"cache_indices", Ints("slots", slot)}, {"has_initial_state", Ints("init", init)}},
             "o", &out);
    L.ssm_pool = out.at("ssm_states");
    if (o_.fault == "transposed_state") TransposeStoredStates(L, slot);
  } else {
    const int64_t dt = T / B;  // tokens per entry: 1, or d in verify
    const Tensor y = Call("causal_conv1d_update",
                          {{"requests", S(B)}, {"draft_tokens", S(dt)}, {"pool_size", S(slots)}, {"dim", S(cd)}, {"kw", S(kw)}},
                          {{"x", Reshape(mixed, {B, dt, cd})}, {"weight", L.conv_w}, {"conv_states", L.conv_pool}, {"cache_indices", Ints("slots", slot)}},
                          "y", &out);
    L.conv_pool = out.at("conv_states");
    o = Call("recurrent_gated_delta_rule",
             {{"impl", o_.gdn_impl}, {"mode", verify ? "verify" : "decode"}, {"batch", S(B)}, {"draft_tokens", S(dt)}, {"heads_k", S(Hk)},
              {"heads_v", S(HV)}, {"k_dim", S(K)}, {"v_dim", S(Vd)}, {"ssm_dtype", o_.ssm_dtype}, {"pool_size", S(slots)}},
             {{"mix_qkv", y}, {"a", a}, {"b", b}, {"A_log", L.a_log}, {"dt_bias", L.dt_bias}, {"ssm_states", L.ssm_pool},
              {"cache_indices", Ints("slots", slot)}},
             "o", &out);
    if (verify) L.intermediate = out.at("intermediate");
    else L.ssm_pool = out.at("ssm_states");
  }
  const Tensor normed = Call("rms_norm_gated", {{"tokens", S(T)}, {"heads", S(HV)}, {"v_dim", S(Vd)}, {"eps", FormatNumber(m_.rms_norm_eps)}},
                             {{"o", Reshape(o, {T, HV, Vd})}, {"z", z}, {"weight", L.gdn_norm}}, "y");
  return Matmul(Reshape(normed, {T, HV * Vd}), L.w_out);
}

// Scenario S3 as it happened: the chunk kernel's final-state store wrote [V, K] while every
// reader (the next chunk, decode) reads the pool as [K, V]. Injected after the kernel, on the
// slots it just wrote; with K != V the stored block cannot be read back as [K, V] at all.
void FunctionalModel::TransposeStoredStates(Layer& L, const std::vector<int64_t>& slots) {
  const int64_t HV = m_.lin_value_heads, K = m_.lin_key_dim, Vd = m_.lin_value_dim;
  if (K != Vd)
    throw SimFailure("shape_error", "chunk_gated_delta_rule (fault transposed_state): the final state stored as [V, K] = [" + S(Vd) + ", " +
                                        S(K) + "] cannot be read back as the pool's [K, V] = [" + S(K) + ", " + S(Vd) +
                                        "]: with K != V the S3 fault is a shape error, not silent drift");
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

Tensor FunctionalModel::Attention(Layer& L, const Tensor& x, const std::vector<Entry>& batch, bool) {
  const int64_t T = x.shape()[0], B = static_cast<int64_t>(batch.size());
  const AttentionShape& shape = L.sliding ? m_.sliding : m_.full;
  const int64_t Nq = shape.heads, Nkv = shape.kv_heads, D = shape.head_dim;
  const int64_t qw = m_.q_proj_width(Nq, D);
  const Tensor qg = Matmul(x, L.w_q);
  Tensor q = Columns(qg, T, qw, 0, Nq * D, {T, Nq * D}), k = Matmul(x, L.w_k), v = Matmul(x, L.w_v);
  if (m_.qkv_bias) {
    q = AddBias(q, L.b_q);
    k = AddBias(k, L.b_k);
    v = AddBias(v, L.b_v);
  }
  if (m_.qk_norm) {
    q = Norm(q, L.q_norm, T * Nq, D, nullptr, nullptr);
    k = Norm(k, L.k_norm, T * Nkv, D, nullptr, nullptr);
  }
  Tensor gate;
  if (m_.gate == AttentionGate::kHeadwise) gate = Matmul(x, L.w_g);
  else if (m_.gate == AttentionGate::kElementwise) gate = Columns(qg, T, qw, Nq * D, Nq * D, {T, Nq * D});
  std::vector<int64_t> pos;
  int64_t S_max = 0;
  for (const Entry& e : batch) {
    for (size_t i = 0; i < e.tokens.size(); ++i) pos.push_back(e.prefix + static_cast<int64_t>(i));
    S_max = std::max<int64_t>(S_max, static_cast<int64_t>(e.tokens.size()));
  }
  const int64_t rot = static_cast<int64_t>(static_cast<double>(D) * shape.partial_rotary);
  TensorMap out;
  Call("rotary_embedding",
       {{"tokens", S(T)}, {"heads", S(Nq)}, {"kv_heads", S(Nkv)}, {"head_dim", S(D)}, {"rotary_dim", S(rot)},
        {"theta", FormatNumber(shape.rope_theta)}, {"max_position", "4096"},
        {"scaling_factor", FormatNumber(shape.rope_scaling.factor)}, {"low_freq_factor", FormatNumber(shape.rope_scaling.low_freq_factor)},
        {"high_freq_factor", FormatNumber(shape.rope_scaling.high_freq_factor)},
        {"original_max_position", S(shape.rope_scaling.original_max_position)}},
       {{"q", Reshape(q, {T, Nq, D})}, {"k", Reshape(k, {T, Nkv, D})}, {"positions", Ints("positions", pos)}}, "q_out", &out);
  const Tensor qr = out.at("q_out"), kr = out.at("k_out");
  // The paged KV write (host side here), then one FIA call over the batch with pages laid out
  // request after request.
  const int64_t row = Nkv * D;
  std::vector<int64_t> prefixes, pages_of, ql = {}, kvl;
  int64_t t0 = 0, pages = 1, max_blocks = 0, cum = 0;
  for (const Entry& e : batch) {
    auto& kc = L.k_cache[static_cast<size_t>(e.slot)];
    auto& vc = L.v_cache[static_cast<size_t>(e.slot)];
    kc.resize(static_cast<size_t>(e.prefix * row));
    vc.resize(static_cast<size_t>(e.prefix * row));
    const int64_t n = static_cast<int64_t>(e.tokens.size());
    for (int64_t i = 0; i < n * row; ++i) {
      kc.push_back(kr.At(t0 * row + i));
      vc.push_back(v.At(t0 * row + i));
    }
    t0 += n;
    prefixes.push_back(e.prefix);
    cum += n;
    ql.push_back(cum);
    kvl.push_back(e.prefix + n);
    const int64_t np = (e.prefix + S_max + kPage - 1) / kPage;
    pages_of.push_back(pages);
    pages += np;
    max_blocks = std::max(max_blocks, (e.prefix + S_max + kPage - 1) / kPage);
  }
  Tensor kcache = Make("key_cache", {pages, kPage, row}, kBf), vcache = Make("value_cache", {pages, kPage, row}, kBf);
  Tensor table = Make("block_table", {B, max_blocks}, DType::kInt32);
  for (int64_t b = 0; b < B; ++b) {
    const auto& kc = L.k_cache[static_cast<size_t>(batch[static_cast<size_t>(b)].slot)];
    const auto& vc = L.v_cache[static_cast<size_t>(batch[static_cast<size_t>(b)].slot)];
    const int64_t base = pages_of[static_cast<size_t>(b)] * kPage * row;
    for (size_t i = 0; i < kc.size(); ++i) {
      kcache.Set(base + static_cast<int64_t>(i), kc[i]);
      vcache.Set(base + static_cast<int64_t>(i), vc[i]);
    }
    for (int64_t j = 0; j < (kvl[static_cast<size_t>(b)] + kPage - 1) / kPage; ++j)
      table.Set(b * max_blocks + j, static_cast<double>(pages_of[static_cast<size_t>(b)] + j));
  }
  Tensor query = Make("query", {B * S_max, Nq, D}, kBf);
  std::memcpy(query.data(), qr.data(), qr.nbytes());
  // Full layers: causal (rightDownCausal) or none for one query. Sliding layers: SGLang's band
  // call (sparse_mode 4, pre_tokens = window), plus for decode the explicit window mask that
  // fixed S4 — without it (fault swa_without_mask) CANN 8.5 ignores the band for one query.
  Kvs fia = {{"q_len", S(S_max)}, {"context_lens", List(prefixes)}, {"heads", S(Nq)}, {"kv_heads", S(Nkv)}, {"head_dim", S(D)},
             {"layout", "TND"}, {"sparse_mode", L.sliding ? "4" : S_max == 1 ? "0" : "3"}};
  if (L.sliding) {
    fia.push_back({"window", S(m_.sliding_window)});
    if (S_max == 1 && o_.fault != "swa_without_mask") fia.push_back({"mask", "swa"});
  }
  const Tensor attn = Call("fused_infer_attention_score", fia,
                           {{"query", query}, {"key_cache", kcache}, {"value_cache", vcache}, {"block_table", table},
                            {"actual_seq_lengths", Ints("ql", ql)}, {"actual_seq_lengths_kv", Ints("kvl", kvl)}},
                           "attention_out");
  const Tensor rows = Columns(attn, T, Nq * D, 0, Nq * D, {T, Nq * D});
  if (m_.gate == AttentionGate::kNone) return Matmul(rows, L.w_o);
  const Tensor gated = Call("attention_gate",
                            {{"tokens", S(T)}, {"heads", S(Nq)}, {"head_dim", S(D)},
                             {"mode", m_.gate == AttentionGate::kHeadwise ? "headwise" : "elementwise"}},
                            {{"attn", rows}, {"gate", gate}}, "out");
  return Matmul(gated, L.w_o);
}

FunctionalModel::Output FunctionalModel::Forward(const std::vector<Entry>& batch, bool decode, bool verify) {
  const int64_t H = m_.hidden;
  std::vector<int64_t> ids;
  for (const Entry& e : batch) ids.insert(ids.end(), e.tokens.begin(), e.tokens.end());
  const int64_t T = static_cast<int64_t>(ids.size());
  Tensor x = Call("embedding", {{"tokens", S(T)}, {"hidden", S(H)}, {"vocab", S(m_.vocab)}, {"total_vocab", S(m_.vocab)}},
                  {{"ids", Ints("ids", ids)}, {"table", embed_}}, "out");
  Tensor res, delta = x;
  bool first = true;
  for (size_t l = 0; l < layers_.size(); ++l) {
    Layer& L = layers_[l];
    Tensor r2;
    const Tensor y = Norm(delta, L.in_norm, T, H, first ? nullptr : &res, &r2);
    first = false;
    res = r2;
    const Tensor mix = m_.layers[l] == LayerKind::kLinearAttention ? Gdn(L, y, batch, decode, verify) : Attention(L, y, batch, verify);
    const Tensor y2 = Norm(mix, L.post_norm, T, H, &res, &r2);
    res = r2;
    delta = Mlp(L, y2);
  }
  Tensor hidden;
  const Tensor normed = Norm(delta, final_norm_, T, H, &res, &hidden);
  // Rows sampled: every position in verify and decode, the last of each entry in extend.
  std::vector<int64_t> rows;
  int64_t at = 0;
  for (const Entry& e : batch) {
    const int64_t n = static_cast<int64_t>(e.tokens.size());
    for (int64_t i = (decode ? 0 : n - 1); i < n; ++i) rows.push_back(at + i);
    at += n;
  }
  const int64_t R = static_cast<int64_t>(rows.size());
  Tensor hs = Make("hidden_states", {R, H}, kBf);
  for (int64_t r = 0; r < R; ++r)
    std::memcpy(hs.data() + r * H * 2, normed.data() + rows[static_cast<size_t>(r)] * H * 2, static_cast<size_t>(H) * 2);
  TensorMap out;
  Call("lm_head_argmax", {{"tokens", S(R)}, {"hidden", S(H)}, {"vocab", S(m_.vocab)}}, {{"hidden_states", hs}, {"weight", lm_head_}},
       "next_token", &out);
  const Tensor &next = out.at("next_token"), &logits = out.at("logits");
  Output o;
  size_t ri = 0;
  at = 0;
  for (const Entry& e : batch) {
    const int64_t n = static_cast<int64_t>(e.tokens.size()), sampled = decode ? n : 1;
    std::vector<int32_t> toks;
    std::vector<float> lg(static_cast<size_t>(m_.vocab));
    for (int64_t i = 0; i < sampled; ++i, ++ri) {
      toks.push_back(static_cast<int32_t>(next.At(static_cast<int64_t>(ri))));
      if (i == sampled - 1)
        for (int64_t v = 0; v < m_.vocab; ++v) lg[static_cast<size_t>(v)] = static_cast<float>(logits.At(static_cast<int64_t>(ri) * m_.vocab + v));
    }
    std::vector<double> h(static_cast<size_t>(H * n));
    for (int64_t i = 0; i < H * n; ++i) h[static_cast<size_t>(i)] = hidden.At(at * H + i);
    at += n;
    o.next.push_back(std::move(toks));
    o.logits.push_back(std::move(lg));
    o.hidden.push_back(std::move(h));
  }
  return o;
}

FunctionalModel::Output FunctionalModel::Extend(const std::vector<Entry>& batch) { return Forward(batch, false, false); }

FunctionalModel::Output FunctionalModel::Decode(const std::vector<Entry>& batch, bool verify) {
  const size_t n = batch.front().tokens.size();
  for (const Entry& e : batch)
    if (e.tokens.size() != n) throw std::logic_error("decode/verify entries need the same token count");
  if (!verify && n != 1) throw std::logic_error("decode takes one token per entry");
  return Forward(batch, true, verify);
}

void FunctionalModel::Commit(const std::vector<Entry>& batch, const std::vector<int64_t>& last_steps) {
  const int64_t B = static_cast<int64_t>(batch.size()), d = static_cast<int64_t>(batch.front().tokens.size());
  const int64_t HV = m_.lin_value_heads, K = m_.lin_key_dim, Vd = m_.lin_value_dim, slots = o_.slots, cd = m_.conv_dim();
  std::vector<Layer*> gdn;
  for (size_t l = 0; l < layers_.size(); ++l)
    if (m_.layers[l] == LayerKind::kLinearAttention) gdn.push_back(&layers_[l]);
  const int64_t Lg = static_cast<int64_t>(gdn.size()), st = HV * K * Vd, W = gdn.empty() ? 0 : gdn[0]->conv_pool.shape()[1];
  std::vector<int64_t> slot;
  for (const Entry& e : batch) slot.push_back(e.slot);
  if (Lg > 0) {
    const DType ssm = ParseDType(o_.ssm_dtype);
    const size_t es = SizeOf(ssm);
    // The commit kernel moves whole [HV, V, K]-sized states: either pool layout fits its view.
    Tensor inter = Make("intermediate", {Lg, B, d, HV, Vd, K}, ssm), pool = Make("ssm_states", {Lg, slots, HV, Vd, K}, ssm);
    Tensor conv = Make("conv_states", {Lg, slots, W, cd}, kBf);
    for (int64_t l = 0; l < Lg; ++l) {
      std::memcpy(inter.data() + l * B * d * st * es, gdn[static_cast<size_t>(l)]->intermediate.data(), static_cast<size_t>(B * d * st) * es);
      std::memcpy(pool.data() + l * slots * st * es, gdn[static_cast<size_t>(l)]->ssm_pool.data(), static_cast<size_t>(slots * st) * es);
      std::memcpy(conv.data() + l * slots * W * cd * 2, gdn[static_cast<size_t>(l)]->conv_pool.data(), static_cast<size_t>(slots * W * cd) * 2);
    }
    const Tensor new_pool = Call("move_intermediate_cache",
                                 {{"layers", S(Lg)}, {"requests", S(B)}, {"draft_tokens", S(d)}, {"pool_size", S(slots)}, {"heads", S(HV)},
                                  {"k_dim", S(K)}, {"v_dim", S(Vd)}, {"ssm_dtype", o_.ssm_dtype}},
                                 {{"intermediate", inter}, {"ssm_states", pool}, {"cache_indices", Ints("slots", slot)},
                                  {"last_steps", Ints("last", last_steps)}},
                                 "ssm_states");
    const Tensor new_conv = Call("conv_state_rollback",
                                 {{"layers", S(Lg)}, {"requests", S(B)}, {"draft_tokens", S(d)}, {"pool_size", S(slots)},
                                  {"conv_kernel", S(m_.conv_kernel)}, {"conv_dim", S(cd)}},
                                 {{"conv_states", conv}, {"cache_indices", Ints("slots", slot)}, {"last_steps", Ints("last", last_steps)}},
                                 "conv_states");
    for (int64_t l = 0; l < Lg; ++l) {
      std::memcpy(gdn[static_cast<size_t>(l)]->ssm_pool.data(), new_pool.data() + l * slots * st * es, static_cast<size_t>(slots * st) * es);
      std::memcpy(gdn[static_cast<size_t>(l)]->conv_pool.data(), new_conv.data() + l * slots * W * cd * 2, static_cast<size_t>(slots * W * cd) * 2);
    }
  }
  // Rejected positions leave the KV cache.
  for (size_t l = 0; l < layers_.size(); ++l) {
    if (m_.layers[l] == LayerKind::kLinearAttention) continue;
    const AttentionShape& a = layers_[l].sliding ? m_.sliding : m_.full;
    const int64_t row = a.kv_heads * a.head_dim;
    for (size_t b = 0; b < batch.size(); ++b) {
      const size_t keep = static_cast<size_t>((batch[b].prefix + last_steps[b] + 1) * row);
      layers_[l].k_cache[static_cast<size_t>(batch[b].slot)].resize(keep);
      layers_[l].v_cache[static_cast<size_t>(batch[b].slot)].resize(keep);
    }
  }
}

int32_t FunctionalModel::Draft(int64_t slot, int32_t token, const std::vector<double>& hidden, int64_t position,
                               std::vector<double>* draft_hidden) {
  const int64_t H = m_.hidden;
  const Tensor e = Call("embedding", {{"tokens", "1"}, {"hidden", S(H)}, {"vocab", S(m_.vocab)}, {"total_vocab", S(m_.vocab)}},
                        {{"ids", Ints("ids", {token})}, {"table", embed_}}, "out");
  Tensor h = Make("hidden", {1, H}, kBf);
  for (int64_t i = 0; i < H; ++i) h.Set(i, hidden[static_cast<size_t>(i)]);
  const Tensor ne = Norm(e, draft_norm_e_, 1, H, nullptr, nullptr), nh = Norm(h, draft_norm_h_, 1, H, nullptr, nullptr);
  Tensor cat = Make("cat", {1, 2 * H}, kBf);
  std::memcpy(cat.data(), ne.data(), static_cast<size_t>(H) * 2);
  std::memcpy(cat.data() + H * 2, nh.data(), static_cast<size_t>(H) * 2);
  const Tensor x = Matmul(cat, draft_fc_);
  Entry entry;
  entry.slot = slot;
  entry.tokens = {token};
  entry.prefix = position;
  Tensor res, r2;
  const Tensor y = Norm(x, draft_.in_norm, 1, H, nullptr, &res);
  const Tensor att = Attention(draft_, y, {entry}, false);
  const Tensor y2 = Norm(att, draft_.post_norm, 1, H, &res, &r2);
  const Tensor mlp = Mlp(draft_, y2);
  Tensor pre;
  const Tensor out = Norm(mlp, draft_final_norm_, 1, H, &r2, &pre);
  const Tensor next = Call("lm_head_argmax", {{"tokens", "1"}, {"hidden", S(H)}, {"vocab", S(m_.vocab)}},
                           {{"hidden_states", out}, {"weight", lm_head_}}, "next_token");
  if (draft_hidden) {
    draft_hidden->resize(static_cast<size_t>(H));
    for (int64_t i = 0; i < H; ++i) (*draft_hidden)[static_cast<size_t>(i)] = pre.At(i);
  }
  return static_cast<int32_t>(next.At(0));
}

void FunctionalModel::TruncateDraft(int64_t slot, int64_t tokens) {
  const size_t keep = static_cast<size_t>(tokens * m_.full.kv_heads * m_.full.head_dim);
  auto& kc = draft_.k_cache[static_cast<size_t>(slot)];
  auto& vc = draft_.v_cache[static_cast<size_t>(slot)];
  if (kc.size() > keep) kc.resize(keep), vc.resize(keep);
}

// One slot's part of a per-layer pool, every layer that has the pool, as doubles.
std::vector<double> FunctionalModel::SlotOf(Tensor Layer::*pool, int64_t slot) const {
  std::vector<double> out;
  for (const Layer& L : layers_) {
    const Tensor& t = L.*pool;
    if (!t.numel()) continue;
    const int64_t n = t.numel() / o_.slots;
    for (int64_t i = 0; i < n; ++i) out.push_back(t.At(slot * n + i));
  }
  return out;
}

std::vector<double> FunctionalModel::SsmState(int64_t slot) const { return SlotOf(&Layer::ssm_pool, slot); }
std::vector<double> FunctionalModel::ConvState(int64_t slot) const { return SlotOf(&Layer::conv_pool, slot); }

void FunctionalModel::ResetSlot(int64_t slot) {
  for (Layer& L : layers_) {
    for (Tensor* t : {&L.ssm_pool, &L.conv_pool}) {
      if (!t->numel()) continue;
      const int64_t n = t->numel() / o_.slots;
      std::memset(t->data() + slot * n * SizeOf(t->dtype()), 0, static_cast<size_t>(n) * SizeOf(t->dtype()));
    }
    if (!L.k_cache.empty()) L.k_cache[static_cast<size_t>(slot)].clear(), L.v_cache[static_cast<size_t>(slot)].clear();
  }
  if (!draft_.k_cache.empty()) draft_.k_cache[static_cast<size_t>(slot)].clear(), draft_.v_cache[static_cast<size_t>(slot)].clear();
}

}  // namespace npusim
