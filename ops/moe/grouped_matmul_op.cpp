// `grouped_matmul`: the MoE expert GEMM over expert-sorted rows (kernels.md §7.1): rows
// [start_e, start_e + count_e) of x times expert e's weight. Each (expert, row tile, column
// tile) is one problem of a batched AIC launch (ops/common/batched_matmul.h), so busy experts
// spread over cores. Host reads group_list (a control tensor) to build the problems.
#include "model/error.h"
#include "ops/common/batched_matmul.h"
#include "ops/common/op_util.h"

namespace npusim {

namespace {

using op_util::Kv;

class GroupedMatmulOp : public Op {
 public:
  std::string name() const override { return "grouped_matmul"; }
  std::string summary() const override {
    return "MoE expert GEMM: y[rows of e] = x[rows of e] W_e over expert-sorted rows, group_list = rows per expert (§7.1)";
  }
  std::vector<OpParam> params() const override {
    using K = OpParam::Kind;
    return {{"rows", K::kInt, "40960", "expanded rows (tokens x top_k)", 1, 1e8},
            {"experts", K::kInt, "128", "experts on this rank (Qwen3-Next 512 / EP 4)", 1, 65536},
            {"k", K::kInt, "2048", "input features (hidden, or moe_intermediate for down)", 1, 1e6},
            {"n", K::kInt, "1024", "output features (2 x moe_intermediate 512 for gate_up)", 1, 1e6},
            {"dtype", K::kString, "bfloat16", "x, W and y element type", 0, 0, {"bfloat16", "float16"}},
            {"trans_b", K::kInt, "0", "1: W_e stored [n, k], 0: [k, n]", 0, 1},
            {"skew", K::kFloat, "1.0", "router skew: expert e gets weight (e+1)^-skew of the rows (0 = uniform)", 0, 10},
            {"base_m", K::kInt, "128", "output tile rows", 16, 4096},
            {"base_n", K::kInt, "256", "output tile columns", 16, 4096},
            {"base_k", K::kInt, "64", "K step through L1/L0", 16, 8192}};
  }
  std::vector<TensorSpec> tensors(const ParamValues& p) const override {
    const int64_t M = p.Int("rows"), E = p.Int("experts"), k = p.Int("k"), n = p.Int("n");
    const DType dt = ParseDType(p.Str("dtype"));
    return {{"x", {M, k}, dt},
            {"w", p.Int("trans_b") ? Shape{E, n, k} : Shape{E, k, n}, dt},
            {"group_list", {E}, DType::kInt32, TensorRole::kInput, true},
            {"y", {M, n}, dt, TensorRole::kOutput}};
  }
  void FillInputs(const ParamValues& p, TensorMap& t, Rng& rng) const override {
    const int64_t M = p.Int("rows"), E = p.Int("experts");
    // Rows per expert from a Zipf-like router skew, each row placed by a seeded draw.
    std::vector<double> cdf(static_cast<size_t>(E));
    double total = 0;
    for (int64_t e = 0; e < E; ++e) cdf[static_cast<size_t>(e)] = total += std::pow(static_cast<double>(e + 1), -p.Float("skew"));
    std::vector<int64_t> count(static_cast<size_t>(E), 0);
    for (int64_t r = 0; r < M; ++r) {
      const double u = rng.Uniform(0.0, total);
      ++count[static_cast<size_t>(std::lower_bound(cdf.begin(), cdf.end(), u) - cdf.begin())];
    }
    for (int64_t e = 0; e < E; ++e) t["group_list"].Set(e, static_cast<double>(count[static_cast<size_t>(e)]));
    op_util::FillNormal(t["x"], rng);
    op_util::FillNormal(t["w"], rng, 1.0 / std::sqrt(static_cast<double>(p.Int("k"))));
  }
  double FunctionalMacs(const ParamValues& p) const override {
    return static_cast<double>(p.Int("rows")) * p.Int("n") * p.Int("k");
  }
  LaunchPlan Plan(const ParamValues& p, const DeviceConfig& d, GmMap& gm) const override {
    const int64_t E = p.Int("experts"), K = p.Int("k"), N = p.Int("n"), M = p.Int("rows");
    const DType dt = ParseDType(p.Str("dtype"));
    if ((K * static_cast<int64_t>(SizeOf(dt))) % 32) throw InputError("k must be a whole number of 32 B rows (16 elements); pad K");
    const bool tb = p.Int("trans_b") != 0;
    batched_matmul::Batch b;
    b.base_m = static_cast<uint32_t>(p.Int("base_m"));
    b.base_n = static_cast<uint32_t>(p.Int("base_n"));
    b.base_k = static_cast<uint32_t>(p.Int("base_k"));
    b.out_fp32 = false;
    const int32_t* counts = reinterpret_cast<const int32_t*>(gm["group_list"].data);
    int64_t row = 0;
    for (int64_t e = 0; e < E; ++e) {
      const int64_t c = counts[e];
      if (c < 0 || row + c > M) throw InputError("group_list: expert " + std::to_string(e) + " overruns the " + std::to_string(M) + " rows");
      if (c > 0) {
        batched_matmul::Problem pr;  // expert e's rows times W_e
        pr.a = &gm["x"];
        pr.b = &gm["w"];
        pr.c = &gm["y"];
        pr.a_off = static_cast<uint64_t>(row * K);
        pr.b_off = static_cast<uint64_t>(e * K * N);
        pr.c_off = static_cast<uint64_t>(row * N);
        pr.lda = static_cast<uint32_t>(K);
        pr.ldb = static_cast<uint32_t>(tb ? K : N);
        pr.ldc = static_cast<uint32_t>(N);
        pr.trans_b = tb;
        pr.m = static_cast<uint32_t>(c);
        pr.n = static_cast<uint32_t>(N);
        pr.k = static_cast<uint32_t>(K);
        batched_matmul::AddTiled(b, pr);
      }
      row += c;
    }
    const size_t problems = b.problems.size();
    LaunchPlan plan;
    plan.launch = op_util::DispatchFloat(dt, [&](auto tag) {
      return batched_matmul::Launch<decltype(tag)>(name(), std::move(b), d.aic_count);
    });
    plan.tiling = {Kv("block_dim", plan.launch.block_dim), Kv("problems", static_cast<int64_t>(problems)),
                   Kv("base_m", p.Int("base_m")), Kv("base_n", p.Int("base_n")), Kv("base_k", p.Int("base_k"))};
    return plan;
  }
  Expected Reference(const ParamValues& p, const TensorMap& in) const override {
    const int64_t E = p.Int("experts"), K = p.Int("k"), N = p.Int("n"), M = p.Int("rows");
    const bool tb = p.Int("trans_b") != 0;
    const Tensor &x = in.at("x"), &w = in.at("w"), &gl = in.at("group_list");
    std::vector<double> y(static_cast<size_t>(M * N), 0.0), wk(static_cast<size_t>(K * N));
    int64_t row = 0;
    for (int64_t e = 0; e < E; ++e) {
      const auto c = static_cast<int64_t>(gl.At(e));
      for (int64_t kk = 0; kk < K; ++kk)
        for (int64_t j = 0; j < N; ++j) wk[static_cast<size_t>(kk * N + j)] = w.At(e * K * N + (tb ? j * K + kk : kk * N + j));
      for (int64_t r = row; r < row + c; ++r)
        for (int64_t kk = 0; kk < K; ++kk) {
          const double xv = x.At(r * K + kk);
          for (int64_t j = 0; j < N; ++j) y[static_cast<size_t>(r * N + j)] += xv * wk[static_cast<size_t>(kk * N + j)];
        }
      row += c;
    }
    return {{"y", y}};
  }
};

}  // namespace

std::unique_ptr<Op> MakeGroupedMatmulOp() { return std::make_unique<GroupedMatmulOp>(); }

}  // namespace npusim
