// `embedding`: registration, inputs, launch and reference.
#include "model/error.h"
#include "ops/common/op_util.h"
#include "ops/embedding/embedding_kernel.h"

namespace npusim {

namespace {

using op_util::Kv;

class EmbeddingOp : public Op {
 public:
  std::string name() const override { return "embedding"; }
  std::string summary() const override {
    return "token embedding lookup on one vocab shard (ids of other shards give zero rows for the "
           "TP all-reduce)";
  }
  std::vector<OpParam> params() const override {
    using K = OpParam::Kind;
    return {
        {"tokens", K::kInt, "4096", "token ids looked up", 1, 1e9},
        {"hidden", K::kInt, "2048", "hidden size", 1, 1e6},
        {"vocab", K::kInt, "37984", "rows of this rank's shard (Qwen3-Next 151936 / tp 4)", 1, 1e9},
        {"vocab_start", K::kInt, "0", "first vocab id of this shard", 0, 1e9},
        {"total_vocab", K::kInt, "151936", "vocab size the ids are drawn from", 1, 1e9},
        {"dtype", K::kString, "bfloat16", "table dtype", 0, 0, {"bfloat16", "float16", "float32"}},
        {"col_tile", K::kInt, "0", "elements per row piece (0 = the row, up to 16 KiB)", 0, 1e6},
        {"buffer_num", K::kInt, "2", "buffers in the queue", 1, 4}};
  }
  std::vector<TensorSpec> tensors(const ParamValues& p) const override {
    const DType t = ParseDType(p.Str("dtype"));
    return {{"ids",
             {p.Int("tokens")},
             DType::kInt32,
             TensorRole::kInput,
             true,
             0,
             p.Int("total_vocab") - 1},
            {"table", {p.Int("vocab"), p.Int("hidden")}, t},
            {"out", {p.Int("tokens"), p.Int("hidden")}, t, TensorRole::kOutput}};
  }
  void FillInputs(const ParamValues& p, TensorMap& t, Rng& rng) const override {
    for (int64_t i = 0; i < p.Int("tokens"); ++i)
      t["ids"].Set(i, static_cast<double>(rng.UniformInt(0, p.Int("total_vocab") - 1)));
    op_util::FillNormal(t["table"], rng);
  }
  LaunchPlan Plan(const ParamValues& p, const DeviceConfig& d, GmMap& gm) const override {
    const DType dt = ParseDType(p.Str("dtype"));
    const embedding::Tiling t = embedding::ComputeTiling(
        p.Int("tokens"), p.Int("hidden"), p.Int("vocab"), p.Int("vocab_start"),
        static_cast<int64_t>(SizeOf(dt)), p.Int("col_tile"), p.Int("buffer_num"), d);
    GmBuffer *ids = &gm["ids"], *table = &gm["table"], *out = &gm["out"];
    LaunchPlan plan;
    plan.launch = op_util::AivLaunch<embedding::KernelEmbedding>(name(), t.split.blocks, dt, ids,
                                                                 table, out, t);
    plan.tiling = {Kv("block_dim", t.split.blocks), Kv("col_tile", t.col_tile),
                   Kv("buffer_num", t.buffer_num)};
    return plan;
  }
  Expected Reference(const ParamValues& p, const TensorMap& in) const override {
    const int64_t T = p.Int("tokens"), H = p.Int("hidden"), V = p.Int("vocab"),
                  start = p.Int("vocab_start");
    const Tensor &ids = in.at("ids"), &table = in.at("table");
    std::vector<double> out(static_cast<size_t>(T * H), 0.0);
    for (int64_t i = 0; i < T; ++i) {
      const int64_t row = static_cast<int64_t>(ids.At(i)) - start;
      if (row < 0 || row >= V) continue;
      for (int64_t j = 0; j < H; ++j) out[i * H + j] = table.At(row * H + j);
    }
    return {{"out", out}};
  }
};

}  // namespace

std::unique_ptr<Op> MakeEmbeddingOp() { return std::make_unique<EmbeddingOp>(); }

}  // namespace npusim
