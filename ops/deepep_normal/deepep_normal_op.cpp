// `moe_dispatch_normal` and `moe_combine_normal`: DeepEP's normal mode (prefill) on Ascend,
// registration, inputs, launches and fp64 references. Each op launches its two kernels once per
// rank, the ranks concurrently (as the collectives do); the dispatch's data kernel starts after
// the count exchange (notify_dispatch and the status handshake), priced as the device's fitted
// low-latency handshake, links.a2a_sync_us.
#include <cmath>
#include <numeric>

#include "model/error.h"
#include "ops/common/op_util.h"
#include "ops/deepep_normal/deepep_normal_kernels.h"

namespace npusim {

namespace {

using op_util::AsRank;
using op_util::Kv;

std::vector<OpParam> RoutingParams() {
  using K = OpParam::Kind;
  return {
      {"ranks", K::kInt, "8", "EP ranks (on Ascend910_9392 a rank is a die)", 1, 384},
      {"tokens", K::kInt, "4096", "tokens per rank", 1, 1e6},
      {"hidden", K::kInt, "7168", "hidden size (a multiple of 32)", 32, 65536},
      {"top_k", K::kInt, "8", "experts per token", 1, 64},
      {"experts", K::kInt, "256", "routed experts over all ranks (a multiple of ranks)", 1, 4096}};
}

deepep_normal::Routing RoutingOf(const ParamValues& p) {
  deepep_normal::Routing r;
  r.ranks = p.Int("ranks");
  r.tokens = p.Int("tokens");
  r.top_k = p.Int("top_k");
  r.experts = p.Int("experts");
  return r;
}

deepep_normal::Tiling TilingOf(const ParamValues& p, const DeviceConfig& d, bool quant) {
  if (p.Int("hidden") % 32)
    throw InputError("parameter 'hidden' (" + std::to_string(p.Int("hidden")) +
                     ") must be a multiple of 32 (a window slot is whole 32 B blocks)");
  return deepep_normal::ComputeTiling(RoutingOf(p), p.Int("hidden"), quant, d);
}

// Large launches: each kernel's time grows linearly with the tokens per rank once the rows per
// block and per (expert, source) pair are whole multiples; two probes with that property time it
// (ops/runner.cpp TimeChainFromProbes).
std::optional<Extrapolation> TokensExtrapolation(const ParamValues& p, const DeviceConfig& d) {
  const int64_t K = p.Int("top_k"), E = p.Int("experts"), A = std::max<int64_t>(1, d.aiv_count);
  const int64_t step = std::lcm(E / std::gcd(E, K), A / std::gcd(A, K));
  const int64_t tokens = p.Int("tokens");
  if (p.Int("ranks") * tokens * K <= (int64_t{1} << 17) || tokens < 8 * step) return std::nullopt;
  Extrapolation ex;
  ex.work_name = "token per rank";
  for (int64_t n : {2 * step, 4 * step}) {
    ParamValues probe = p;
    probe.Set("tokens", std::to_string(n));
    ex.probes.push_back(probe);
    ex.probe_sizes.push_back(static_cast<double>(n));
  }
  ex.size = static_cast<double>(tokens);
  return ex;
}

// One stage, once per rank, the ranks concurrently; `make(q)` builds rank q's launch.
template <class Make>
void PerRank(LaunchPlan& plan, bool& first, int64_t ranks, Make make) {
  for (int64_t q = 0; q < ranks; ++q) {
    KernelLaunch l = make(static_cast<int>(q));
    l.core_type = CoreType::kAiv;
    l.concurrent = q > 0;
    if (first)
      plan.launch = std::move(l);
    else
      plan.then.push_back(std::move(l));
    first = false;
  }
}

class DispatchNormalOp : public Op {
 public:
  std::string name() const override { return "moe_dispatch_normal"; }
  std::string summary() const override {
    return "DeepEP normal-mode dispatch: each routed copy of a token (int8-quantised per row) to "
           "its expert's rank, row by row through the sender's window";
  }
  std::vector<OpParam> params() const override {
    std::vector<OpParam> v = RoutingParams();
    v.push_back({"quant",
                 OpParam::Kind::kString,
                 "int8",
                 "int8: per-row dynamic int8 with an fp32 scale (DEEP_NORMAL_MODE_USE_INT8_QUANT); "
                 "none: bf16 rows",
                 0,
                 0,
                 {"int8", "none"}});
    return v;
  }
  static bool Quant(const ParamValues& p) { return p.Str("quant") == "int8"; }
  int64_t Chips(const ParamValues& p) const override { return p.Int("ranks"); }
  std::vector<TensorSpec> tensors(const ParamValues& p) const override {
    const deepep_normal::Tiling t = TilingOf(p, DeviceConfig{}, Quant(p));
    const int64_t R = p.Int("ranks"), H = p.Int("hidden");
    const DType w = Quant(p) ? DType::kInt8 : DType::kBFloat16;
    std::vector<TensorSpec> v = {
        {"x", {R, t.route.tokens, H}, DType::kBFloat16},
        {"window", {R, t.route.Rows(), t.slot_elems}, w, TensorRole::kWorkspace},
        {"expand_x", {R, t.recv_max, H}, w, TensorRole::kOutput}};
    if (Quant(p)) v.push_back({"scales", {R, t.recv_max}, DType::kFloat32, TensorRole::kOutput});
    return v;
  }
  void FillInputs(const ParamValues&, TensorMap& t, Rng& rng) const override {
    op_util::FillNormal(t["x"], rng);
  }
  std::optional<Extrapolation> Extrapolate(const ParamValues& p, const DeviceConfig& d,
                                           GmMap&) const override {
    return TokensExtrapolation(p, d);
  }
  LaunchPlan Plan(const ParamValues& p, const DeviceConfig& d, GmMap& gm) const override {
    const deepep_normal::Tiling t = TilingOf(p, d, Quant(p));
    const int64_t R = t.route.ranks;
    const GmBuffer &x = gm["x"], &win = gm["window"], &out = gm["expand_x"];
    const GmBuffer* scales = Quant(p) ? &gm["scales"] : nullptr;
    LaunchPlan plan;
    bool first = true;
    PerRank(plan, first, R, [&](int q) {
      KernelLaunch l;
      const GmBuffer xq = AsRank(x, R, q), wq = AsRank(win, R, q);
      l.name = "cam_moe_dispatch_normal.pack";
      l.block_dim = t.rows_split.blocks;
      if (Quant(p))
        l.body = [xq, wq, t, q] {
          deepep_normal::KernelDispatchPack<ascendc::bfloat16_t, int8_t> k;
          k.Init(&xq, &wq, t, q);
          k.Process();
        };
      else
        l.body = [xq, wq, t, q] {
          deepep_normal::KernelDispatchPack<ascendc::bfloat16_t, ascendc::bfloat16_t> k;
          k.Init(&xq, &wq, t, q);
          k.Process();
        };
      return l;
    });
    PerRank(plan, first, R, [&](int q) {
      KernelLaunch l;
      const GmBuffer wq = AsRank(win, R, q), oq = AsRank(out, R, q);
      const GmBuffer sq = scales ? AsRank(*scales, R, q) : GmBuffer{};
      const bool quant = Quant(p);
      l.name = "cam_moe_dispatch_normal.pull";
      l.block_dim = t.pairs_split.blocks;
      l.start_delay_us = d.link_a2a_sync_us;  // the count exchange before any slot is read
      if (quant)
        l.body = [wq, oq, sq, t, q] {
          deepep_normal::KernelDispatchPull<int8_t> k;
          k.Init(&wq, &oq, &sq, t, q);
          k.Process();
        };
      else
        l.body = [wq, oq, t, q] {
          deepep_normal::KernelDispatchPull<ascendc::bfloat16_t> k;
          k.Init(&wq, &oq, nullptr, t, q);
          k.Process();
        };
      return l;
    });
    plan.tiling = {Kv("ranks", R), Kv("pack_block_dim", t.rows_split.blocks),
                   Kv("pull_block_dim", t.pairs_split.blocks),
                   Kv("slot_bytes", t.slot_elems * (Quant(p) ? 1 : 2)),
                   Kv("recv_rows_max", t.recv_max)};
    return plan;
  }
  Expected Reference(const ParamValues& p, const TensorMap& in) const override {
    const deepep_normal::Tiling t = TilingOf(p, DeviceConfig{}, Quant(p));
    const deepep_normal::Routing& r = t.route;
    const int64_t R = r.ranks, H = t.hidden;
    const Tensor& x = in.at("x");
    std::vector<double> out(static_cast<size_t>(R * t.recv_max * H), 0.0),
        scales(static_cast<size_t>(R * t.recv_max), 0.0);
    for (int64_t s = 0; s < R; ++s)
      for (int64_t i = 0; i < r.Rows(); ++i) {
        const auto [dst, at] = t.RecvRow(s, i);
        const int64_t row = dst * t.recv_max + at;
        const int64_t src = (s * r.tokens + i / r.top_k) * H;
        double m = 0;
        for (int64_t j = 0; j < H; ++j) m = std::max(m, std::fabs(x.At(src + j)));
        const double scale = 127.0 / (m + 1e-12);
        for (int64_t j = 0; j < H; ++j)
          out[static_cast<size_t>(row * H + j)] =
              Quant(p) ? std::nearbyint(x.At(src + j) * scale) : x.At(src + j);
        scales[static_cast<size_t>(row)] = 1.0 / scale;
      }
    Expected e{{"expand_x", out}};
    if (Quant(p)) e["scales"] = scales;
    return e;
  }
};

class CombineNormalOp : public Op {
 public:
  std::string name() const override { return "moe_combine_normal"; }
  std::string summary() const override {
    return "DeepEP normal-mode combine: each expert output row back to its token's rank (a "
           "barrier and a status flag per row), then the top-k weighted sum in fp32";
  }
  std::vector<OpParam> params() const override { return RoutingParams(); }
  int64_t Chips(const ParamValues& p) const override { return p.Int("ranks"); }
  std::vector<TensorSpec> tensors(const ParamValues& p) const override {
    const deepep_normal::Tiling t = TilingOf(p, DeviceConfig{}, false);
    const int64_t R = p.Int("ranks"), H = p.Int("hidden");
    return {{"expand_y", {R, t.recv_max, H}, DType::kBFloat16},
            {"topk_weights", {R, t.route.tokens, t.route.top_k}, DType::kFloat32},
            {"window", {R, t.route.Rows(), H}, DType::kBFloat16, TensorRole::kWorkspace},
            {"status", {R, 8}, DType::kInt32, TensorRole::kWorkspace},
            {"y", {R, t.route.tokens, H}, DType::kBFloat16, TensorRole::kOutput}};
  }
  void FillInputs(const ParamValues&, TensorMap& t, Rng& rng) const override {
    op_util::FillNormal(t["expand_y"], rng);
    op_util::FillUniform(t["topk_weights"], rng, 0.0, 1.0);
  }
  std::optional<Extrapolation> Extrapolate(const ParamValues& p, const DeviceConfig& d,
                                           GmMap&) const override {
    return TokensExtrapolation(p, d);
  }
  LaunchPlan Plan(const ParamValues& p, const DeviceConfig& d, GmMap& gm) const override {
    const deepep_normal::Tiling t = TilingOf(p, d, false);
    const int64_t R = t.route.ranks;
    const GmBuffer &y = gm["expand_y"], &w = gm["topk_weights"], &win = gm["window"],
                   &st = gm["status"], &out = gm["y"];
    LaunchPlan plan;
    bool first = true;
    PerRank(plan, first, R, [&](int q) {
      KernelLaunch l;
      const GmBuffer yq = AsRank(y, R, q), wq = AsRank(win, R, q), sq = AsRank(st, R, q);
      l.name = "cam_moe_combine_normal.push";
      l.block_dim = t.rows_split.blocks;
      l.body = [yq, wq, sq, t, q] {
        deepep_normal::KernelCombinePush<ascendc::bfloat16_t> k;
        k.Init(&yq, &wq, &sq, t, q);
        k.Process();
      };
      return l;
    });
    PerRank(plan, first, R, [&](int q) {
      KernelLaunch l;
      const GmBuffer winq = AsRank(win, R, q), wq = AsRank(w, R, q), oq = AsRank(out, R, q);
      l.name = "cam_moe_combine_normal.reduce";
      l.block_dim = t.tokens_split.blocks;
      l.body = [winq, wq, oq, t, q] {
        deepep_normal::KernelCombineReduce<ascendc::bfloat16_t> k;
        k.Init(&winq, &wq, &oq, t, q);
        k.Process();
      };
      return l;
    });
    plan.tiling = {Kv("ranks", R), Kv("push_block_dim", t.rows_split.blocks),
                   Kv("reduce_block_dim", t.tokens_split.blocks), Kv("recv_rows_max", t.recv_max)};
    return plan;
  }
  Expected Reference(const ParamValues& p, const TensorMap& in) const override {
    const deepep_normal::Tiling t = TilingOf(p, DeviceConfig{}, false);
    const deepep_normal::Routing& r = t.route;
    const int64_t R = r.ranks, H = t.hidden, K = r.top_k;
    const Tensor &y = in.at("expand_y"), &w = in.at("topk_weights");
    std::vector<double> out(static_cast<size_t>(R * r.tokens * H), 0.0);
    for (int64_t s = 0; s < R; ++s)
      for (int64_t tok = 0; tok < r.tokens; ++tok)
        for (int64_t k = 0; k < K; ++k) {
          const int64_t i = tok * K + k;
          const auto [dst, at] = t.RecvRow(s, i);
          const int64_t row = dst * t.recv_max + at;
          const double wk = w.At((s * r.tokens + tok) * K + k);
          for (int64_t j = 0; j < H; ++j)
            out[static_cast<size_t>((s * r.tokens + tok) * H + j)] += wk * y.At(row * H + j);
        }
    return {{"y", out}};
  }
};

}  // namespace

std::unique_ptr<Op> MakeMoeDispatchNormalOp() { return std::make_unique<DispatchNormalOp>(); }
std::unique_ptr<Op> MakeMoeCombineNormalOp() { return std::make_unique<CombineNormalOp>(); }

}  // namespace npusim
