// `causal_conv1d_fn` (varlen prefill/extend) and `causal_conv1d_update` (decode, and MTP verify
// over d tokens on the (kw-1)+(d-1) window): registration, inputs, launch, fp64 references
// (kernels.md §2).
#include "model/error.h"
#include "ops/causal_conv1d/causal_conv1d_kernel.h"
#include "ops/common/op_util.h"
#include "ops/state_pool.h"

namespace npusim {

namespace {

using op_util::Kv;

// The context of one channel: history (kw-1 values) ++ new inputs; y_i = silu(sum_j w_j ctx[i+j]).
std::vector<double> ConvChannel(const std::vector<double>& ctx, const Tensor& w, int64_t c,
                                int64_t kw, int64_t dim) {
  std::vector<double> y(ctx.size() - static_cast<size_t>(kw - 1));
  for (size_t i = 0; i < y.size(); ++i) {
    double acc = 0;
    for (int64_t j = 0; j < kw; ++j) acc += w.At(j * dim + c) * ctx[i + static_cast<size_t>(j)];
    y[i] = op_util::Silu(acc);
  }
  return y;
}

OpParam DimParam() {
  return {"dim", OpParam::Kind::kInt, "2048", "conv_dim per rank (2*H*K + HV*V over tp)", 1, 1e6};
}
OpParam KwParam() {
  return {"kw", OpParam::Kind::kInt, "4", "conv kernel width (linear_conv_kernel_dim)", 2, 16};
}
OpParam DtypeParam() {
  return {"dtype",
          OpParam::Kind::kString,
          "bfloat16",
          "dtype of x, weight, state",
          0,
          0,
          {"bfloat16", "float16", "float32"}};
}
OpParam ConvTileParam() {
  return {"conv_tile", OpParam::Kind::kInt, "0", "channels per UB tile (0 = 512)", 0, 1e6};
}
OpParam BufferNumParam() {
  return {"buffer_num", OpParam::Kind::kInt, "2", "buffers per queue", 1, 4};
}

LaunchPlan PlanConv(const std::string& name, const causal_conv1d::Tiling& t, DType dt, GmMap& gm,
                    bool varlen) {
  causal_conv1d::Gm g{&gm["x"],
                      &gm["weight"],
                      &gm["conv_states"],
                      &gm["y"],
                      varlen ? &gm["query_start_loc"] : nullptr,
                      &gm["cache_indices"],
                      varlen ? &gm["has_initial_state"] : nullptr};
  LaunchPlan plan;
  plan.launch =
      op_util::AivLaunch<causal_conv1d::KernelCausalConv1d>(name, t.split.blocks, dt, g, t);
  plan.tiling = {Kv("block_dim", t.split.blocks), Kv("items", t.split.total),
                 Kv("conv_tile", t.conv_tile),    Kv("rows_per_tile", t.rows_per_tile),
                 Kv("window_rows", t.window),     Kv("buffer_num", t.buffer_num)};
  return plan;
}

class CausalConv1dFnOp : public Op {
 public:
  std::string name() const override { return "causal_conv1d_fn"; }
  std::string summary() const override {
    return "varlen causal conv1d + SiLU for prefill/extend with initial states and final-state "
           "write (§2.3)";
  }
  std::vector<OpParam> params() const override {
    using K = OpParam::Kind;
    return {{"requests", K::kInt, "4", "requests in the batch", 1, 65535},
            {"seq_len", K::kInt, "1024", "tokens per request (unless seq_lens is given)", 0, 1e9},
            {"seq_lens", K::kString, "",
             "comma-separated tokens per request, overrides requests/seq_len"},
            {"initial",
             K::kString,
             "mixed",
             "which requests continue from a state: all, none, mixed (even ones)",
             0,
             0,
             {"mixed", "all", "none"}},
            DimParam(),
            KwParam(),
            {"extra_rows", K::kInt, "0", "extra window rows of the NPU pool (d-1 with MTP)", 0, 64},
            {"pool_size", K::kInt, "0", "conv pool slots incl. dummy slot 0 (0 = requests + 1)", 0,
             1e9},
            DtypeParam(),
            ConvTileParam(),
            {"rows_per_tile", K::kInt, "0",
             "token rows per UB tile (0 = as many as fit, at most 64)", 0, 4096},
            BufferNumParam(),
            {"fault",
             K::kString,
             "none",
             "mixed_batch_state_shift: write the final state as the upstream NPU fallback does in "
             "a mixed batch (scenario S6)",
             0,
             0,
             {"none", "mixed_batch_state_shift"}}};
  }
  static int64_t Requests(const ParamValues& p) { return static_cast<int64_t>(SeqLens(p).size()); }
  static int64_t Pool(const ParamValues& p) {
    return p.Int("pool_size") > 0 ? p.Int("pool_size") : Requests(p) + 1;
  }
  std::vector<TensorSpec> tensors(const ParamValues& p) const override {
    const DType t = ParseDType(p.Str("dtype"));
    const std::vector<int64_t> lens = SeqLens(p);
    int64_t total = 0;
    for (int64_t l : lens) total += l;
    const int64_t B = static_cast<int64_t>(lens.size()), dim = p.Int("dim"), kw = p.Int("kw");
    if (Pool(p) < B + 1)
      throw InputError(
          "parameter 'pool_size' must be at least requests + 1 (slot 0 is the dummy slot)");
    return {{"x", {total, dim}, t},
            {"weight", {kw, dim}, t},
            {"conv_states", {Pool(p), kw - 1 + p.Int("extra_rows"), dim}, t, TensorRole::kInOut},
            {"query_start_loc", {B + 1}, DType::kInt32, TensorRole::kInput, true, 0, total, true},
            {"cache_indices", {B}, DType::kInt32, TensorRole::kInput, true, 0, Pool(p) - 1},
            {"has_initial_state", {B}, DType::kInt32, TensorRole::kInput, true, 0, 1},
            {"y", {total, dim}, t, TensorRole::kOutput}};
  }
  void FillInputs(const ParamValues& p, TensorMap& t, Rng& rng) const override {
    const std::vector<int64_t> lens = SeqLens(p);
    const std::vector<int64_t> slots = ShuffledSlots(Pool(p), rng);
    int64_t at = 0;
    for (size_t b = 0; b < lens.size(); ++b) {
      t["query_start_loc"].Set(static_cast<int64_t>(b), static_cast<double>(at));
      at += lens[b];
      t["cache_indices"].Set(static_cast<int64_t>(b), static_cast<double>(slots[b]));
      t["has_initial_state"].Set(static_cast<int64_t>(b),
                                 HasInitial(p, static_cast<int64_t>(b)) ? 1 : 0);
    }
    t["query_start_loc"].Set(static_cast<int64_t>(lens.size()), static_cast<double>(at));
    op_util::FillNormal(t["x"], rng);
    op_util::FillNormal(t["weight"], rng, 0.5);
    op_util::FillNormal(t["conv_states"], rng);
  }
  LaunchPlan Plan(const ParamValues& p, const DeviceConfig& d, GmMap& gm) const override {
    const DType dt = ParseDType(p.Str("dtype"));
    const int64_t kw = p.Int("kw");
    causal_conv1d::Tiling t = causal_conv1d::ComputeTiling(
        Requests(p), p.Int("dim"), kw, kw - 1 + p.Int("extra_rows"), kw - 1,
        static_cast<int64_t>(SizeOf(dt)), p.Int("conv_tile"), p.Int("rows_per_tile"), 1,
        p.Int("buffer_num"), p.Str("fault") == "mixed_batch_state_shift", d);
    return PlanConv(name(), t, dt, gm, true);
  }
  Expected Reference(const ParamValues& p, const TensorMap& in) const override {
    const int64_t dim = p.Int("dim"), kw = p.Int("kw"), W = kw - 1 + p.Int("extra_rows"),
                  B = Requests(p);
    const Tensor &x = in.at("x"), &w = in.at("weight"), &st = in.at("conv_states");
    const Tensor &qsl = in.at("query_start_loc"), &slots = in.at("cache_indices"),
                 &init = in.at("has_initial_state");
    std::vector<double> y(static_cast<size_t>(x.numel())), states = st.ToDoubles();
    for (int64_t b = 0; b < B; ++b) {
      const int64_t start = static_cast<int64_t>(qsl.At(b)),
                    len = static_cast<int64_t>(qsl.At(b + 1)) - start;
      const int64_t slot = static_cast<int64_t>(slots.At(b));
      for (int64_t c = 0; c < dim; ++c) {
        std::vector<double> ctx;
        for (int64_t j = 0; j < kw - 1; ++j)
          ctx.push_back(init.At(b) != 0 ? st.At((slot * W + W - (kw - 1) + j) * dim + c) : 0.0);
        for (int64_t i = 0; i < len; ++i) ctx.push_back(x.At((start + i) * dim + c));
        const std::vector<double> out = ConvChannel(ctx, w, c, kw, dim);
        for (int64_t i = 0; i < len; ++i) y[(start + i) * dim + c] = out[i];
        for (int64_t j = 0; j < kw - 1; ++j)  // new state: the last kw-1 inputs of the context
          states[(slot * W + W - (kw - 1) + j) * dim + c] =
              ctx[ctx.size() - static_cast<size_t>(kw - 1 - j)];
      }
    }
    return {{"y", y}, {"conv_states", states}};
  }
};

class CausalConv1dUpdateOp : public Op {
 public:
  std::string name() const override { return "causal_conv1d_update"; }
  std::string summary() const override {
    return "decode (d=1) and MTP-verify (d tokens) causal conv1d + SiLU; the (kw-1)+(d-1) window "
           "advances by d (§2.4-2.5)";
  }
  std::vector<OpParam> params() const override {
    using K = OpParam::Kind;
    return {{"requests", K::kInt, "24", "requests in the decode/verify batch", 1, 65535},
            {"draft_tokens", K::kInt, "1",
             "tokens per request d (1 = plain decode; d > 1 = verify)", 1, 64},
            {"pool_size", K::kInt, "0", "conv pool slots incl. dummy slot 0 (0 = requests + 1)", 0,
             1e9},
            DimParam(),
            KwParam(),
            DtypeParam(),
            ConvTileParam(),
            BufferNumParam()};
  }
  std::vector<TensorSpec> tensors(const ParamValues& p) const override {
    RequirePoolFits(p);
    const DType t = ParseDType(p.Str("dtype"));
    const int64_t B = p.Int("requests"), d = p.Int("draft_tokens"), dim = p.Int("dim"),
                  kw = p.Int("kw");
    return {{"x", {B, d, dim}, t},
            {"weight", {kw, dim}, t},
            {"conv_states", {PoolSizeOf(p), kw - 1 + d - 1, dim}, t, TensorRole::kInOut},
            {"cache_indices", {B}, DType::kInt32, TensorRole::kInput, true, 0, PoolSizeOf(p) - 1},
            {"y", {B, d, dim}, t, TensorRole::kOutput}};
  }
  void FillInputs(const ParamValues& p, TensorMap& t, Rng& rng) const override {
    const std::vector<int64_t> slots = ShuffledSlots(PoolSizeOf(p), rng);
    for (int64_t b = 0; b < p.Int("requests"); ++b)
      t["cache_indices"].Set(b, static_cast<double>(slots[b]));
    op_util::FillNormal(t["x"], rng);
    op_util::FillNormal(t["weight"], rng, 0.5);
    op_util::FillNormal(t["conv_states"], rng);
  }
  LaunchPlan Plan(const ParamValues& p, const DeviceConfig& d, GmMap& gm) const override {
    const DType dt = ParseDType(p.Str("dtype"));
    const int64_t kw = p.Int("kw"), D = p.Int("draft_tokens"), W = kw - 1 + D - 1;
    causal_conv1d::Tiling t = causal_conv1d::ComputeTiling(
        p.Int("requests"), p.Int("dim"), kw, W, W, static_cast<int64_t>(SizeOf(dt)),
        p.Int("conv_tile"), D, D, p.Int("buffer_num"), false, d);
    t.uniform_len = D;
    return PlanConv(name(), t, dt, gm, false);
  }
  Expected Reference(const ParamValues& p, const TensorMap& in) const override {
    const int64_t B = p.Int("requests"), D = p.Int("draft_tokens"), dim = p.Int("dim"),
                  kw = p.Int("kw"), W = kw - 1 + D - 1;
    const Tensor &x = in.at("x"), &w = in.at("weight"), &st = in.at("conv_states"),
                 &slots = in.at("cache_indices");
    std::vector<double> y(static_cast<size_t>(x.numel())), states = st.ToDoubles();
    for (int64_t b = 0; b < B; ++b) {
      const int64_t slot = static_cast<int64_t>(slots.At(b));
      for (int64_t c = 0; c < dim; ++c) {
        std::vector<double> ctx;  // committed history = the last kw-1 window rows
        for (int64_t j = 0; j < kw - 1; ++j)
          ctx.push_back(st.At((slot * W + W - (kw - 1) + j) * dim + c));
        for (int64_t i = 0; i < D; ++i) ctx.push_back(x.At((b * D + i) * dim + c));
        const std::vector<double> out = ConvChannel(ctx, w, c, kw, dim);
        for (int64_t i = 0; i < D; ++i) y[(b * D + i) * dim + c] = out[i];
        for (int64_t r = 0; r < W; ++r)
          states[(slot * W + r) * dim + c] =
              ctx[static_cast<size_t>(r + 1)];  // window advanced by d
      }
    }
    return {{"y", y}, {"conv_states", states}};
  }
};

}  // namespace

std::unique_ptr<Op> MakeCausalConv1dFnOp() { return std::make_unique<CausalConv1dFnOp>(); }
std::unique_ptr<Op> MakeCausalConv1dUpdateOp() { return std::make_unique<CausalConv1dUpdateOp>(); }

}  // namespace npusim
