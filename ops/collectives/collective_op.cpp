// Collectives over the cluster's links: `all_gather`, `reduce_scatter`, `all_to_all` and
// `all_reduce` (reduce-scatter, then all-gather of the reduced chunks). Tensors carry a
// leading [ranks] dimension, one slice per chip; each rank's kernel (collective_kernel.h) runs
// as a concurrent launch, so every rank's result is computed and checked.
#include "model/error.h"
#include "ops/collectives/collective_kernel.h"
#include "ops/common/op_util.h"

namespace npusim {

namespace {

using collective::Kind;
using op_util::Kv;

enum class Coll { kAllGather, kReduceScatter, kAllToAll, kAllReduce };

class CollectiveOp : public Op {
 public:
  explicit CollectiveOp(Coll c) : c_(c) {}
  std::string name() const override {
    switch (c_) {
      case Coll::kAllGather:
        return "all_gather";
      case Coll::kReduceScatter:
        return "reduce_scatter";
      case Coll::kAllToAll:
        return "all_to_all";
      default:
        return "all_reduce";
    }
  }
  std::string summary() const override {
    switch (c_) {
      case Coll::kAllGather:
        return "every rank gets every rank's slice, pulled over the chip-to-chip links";
      case Coll::kReduceScatter:
        return "rank q gets chunk q of the sum over ranks (fp32 accumulation)";
      case Coll::kAllToAll:
        return "rank q gets chunk q of every rank's send buffer (MoE dispatch/combine)";
      default:
        return "every rank gets the sum over ranks: reduce-scatter then all-gather over the links";
    }
  }
  std::vector<OpParam> params() const override {
    using K = OpParam::Kind;
    return {
        {"ranks", K::kInt, "4", "chips (TP or EP size; on Ascend910_9392 a rank is a die)", 1, 384},
        {"elements", K::kInt, "8388608",
         "elements of each rank's input (default: 4096 tokens x hidden 2048)", 1, 1e10},
        {"dtype", K::kString, "bfloat16", "element type", 0, 0, {"bfloat16", "float16", "float32"}},
        {"tile", K::kInt, "0", "elements per UB tile (0 = from UB capacity)", 0, 1e9}};
  }
  int64_t Seg(const ParamValues& p) const {
    const int64_t n = p.Int("elements"), R = p.Int("ranks");
    if (c_ == Coll::kAllGather) return n;
    if (n % R)
      throw InputError("parameter 'elements' (" + std::to_string(n) +
                       ") must be a multiple of 'ranks' for " + name());
    return n / R;
  }
  int64_t Chips(const ParamValues& p) const override { return p.Int("ranks"); }
  std::vector<TensorSpec> tensors(const ParamValues& p) const override {
    const int64_t R = p.Int("ranks"), n = p.Int("elements"), seg = Seg(p);
    const DType dt = ParseDType(p.Str("dtype"));
    std::vector<TensorSpec> v = {{"x", {R, n}, dt}};
    switch (c_) {
      case Coll::kAllGather:
        v.push_back({"out", {R, R * n}, dt, TensorRole::kOutput});
        break;
      case Coll::kReduceScatter:
        v.push_back({"out", {R, seg}, dt, TensorRole::kOutput});
        break;
      case Coll::kAllToAll:
        v.push_back({"out", {R, n}, dt, TensorRole::kOutput});
        break;
      case Coll::kAllReduce:
        v.push_back({"partial", {R, seg}, dt, TensorRole::kWorkspace});
        v.push_back({"out", {R, n}, dt, TensorRole::kOutput});
        break;
    }
    return v;
  }
  void FillInputs(const ParamValues&, TensorMap& t, Rng& rng) const override {
    op_util::FillNormal(t["x"], rng);
  }

  LaunchPlan Plan(const ParamValues& p, const DeviceConfig& d, GmMap& gm) const override {
    const int64_t R = p.Int("ranks"), n = p.Int("elements");
    const DType dt = ParseDType(p.Str("dtype"));
    LaunchPlan plan;
    bool first = true;
    // One stage: the kernel of `kind` from x to out, once per rank.
    auto stage = [&](Kind kind, GmBuffer* x, GmBuffer* out, int64_t in_elems,
                     const std::string& stage_name) {
      const collective::Tiling t = collective::ComputeTiling(
          kind, R, in_elems, static_cast<int64_t>(SizeOf(dt)), p.Int("tile"), d);
      for (int64_t q = 0; q < R; ++q) {
        const GmBuffer xq = op_util::AsRank(*x, R, static_cast<int>(q)),
                       oq = op_util::AsRank(*out, R, static_cast<int>(q));
        KernelLaunch l = op_util::DispatchFloat(dt, [&](auto tag) {
          using T = decltype(tag);
          KernelLaunch k;
          k.body = [xq, oq, t] {
            collective::KernelCollective<T> kern;
            kern.Init(&xq, &oq, t);
            kern.Process();
          };
          return k;
        });
        l.name = name() + (stage_name.empty() ? "" : "." + stage_name);
        l.block_dim = t.split.blocks;
        l.core_type = CoreType::kAiv;
        l.concurrent = q > 0;
        if (kind == Kind::kAllToAll)
          l.start_delay_us = d.link_a2a_sync_us;  // DeepEP's handshake before any data moves
        if (first)
          plan.launch = std::move(l);
        else
          plan.then.push_back(std::move(l));
        first = false;
      }
      plan.tiling.push_back(Kv(stage_name.empty() ? "tile" : stage_name + "_tile", t.tile));
      plan.tiling.push_back(
          Kv(stage_name.empty() ? "block_dim" : stage_name + "_block_dim", t.split.blocks));
    };
    switch (c_) {
      case Coll::kAllGather:
        stage(Kind::kAllGather, &gm["x"], &gm["out"], n, "");
        break;
      case Coll::kReduceScatter:
        stage(Kind::kReduceScatter, &gm["x"], &gm["out"], n, "");
        break;
      case Coll::kAllToAll:
        stage(Kind::kAllToAll, &gm["x"], &gm["out"], n, "");
        break;
      case Coll::kAllReduce:
        stage(Kind::kReduceScatter, &gm["x"], &gm["partial"], n, "reduce_scatter");
        stage(Kind::kAllGather, &gm["partial"], &gm["out"], n / R, "all_gather");
        break;
    }
    plan.tiling.push_back(Kv("ranks", R));
    return plan;
  }

  Expected Reference(const ParamValues& p, const TensorMap& in) const override {
    const int64_t R = p.Int("ranks"), n = p.Int("elements"), seg = Seg(p);
    const Tensor& x = in.at("x");
    std::vector<double> out;
    switch (c_) {
      case Coll::kAllGather:
        out.reserve(static_cast<size_t>(R * R * n));
        for (int64_t q = 0; q < R; ++q)
          for (int64_t i = 0; i < R * n; ++i) out.push_back(x.At(i));
        break;
      case Coll::kAllToAll:
        out.resize(static_cast<size_t>(R * n));
        for (int64_t q = 0; q < R; ++q)
          for (int64_t r = 0; r < R; ++r)
            for (int64_t e = 0; e < seg; ++e)
              out[static_cast<size_t>(q * n + r * seg + e)] = x.At(r * n + q * seg + e);
        break;
      case Coll::kReduceScatter:
      case Coll::kAllReduce: {
        std::vector<double> sum(static_cast<size_t>(n), 0.0);
        for (int64_t r = 0; r < R; ++r)
          for (int64_t e = 0; e < n; ++e) sum[static_cast<size_t>(e)] += x.At(r * n + e);
        for (int64_t q = 0; q < R; ++q) {
          if (c_ == Coll::kReduceScatter)
            out.insert(out.end(), sum.begin() + q * seg, sum.begin() + (q + 1) * seg);
          else
            out.insert(out.end(), sum.begin(), sum.end());
        }
        break;
      }
    }
    return {{"out", out}};
  }

 private:
  Coll c_;
};

}  // namespace

std::unique_ptr<Op> MakeAllGatherOp() { return std::make_unique<CollectiveOp>(Coll::kAllGather); }
std::unique_ptr<Op> MakeReduceScatterOp() {
  return std::make_unique<CollectiveOp>(Coll::kReduceScatter);
}
std::unique_ptr<Op> MakeAllToAllOp() { return std::make_unique<CollectiveOp>(Coll::kAllToAll); }
std::unique_ptr<Op> MakeAllReduceOp() { return std::make_unique<CollectiveOp>(Coll::kAllReduce); }

}  // namespace npusim
