// `grouped_matmul`: the MoE expert GEMM over expert-sorted rows (kernels.md §7.1): rows
// [start_e, start_e + count_e) of x times expert e's weight. Each (expert, row tile, column
// tile) is one problem of a batched AIC launch (ops/common/batched_matmul.h), so busy experts
// spread over cores. Host reads group_list (a control tensor) to build the problems.
//
// quant=w8a8 (W8A8 dynamic, as the modelslim MoE checkpoints serve): int8 rows with a per-row
// scale (the dynamic quantisation of the expanded tokens), int8 experts with a per-channel scale
// per expert; every expert's product is tiles of the `quant_matmul` kernel (int8 cube -> int32
// workspace -> AIV dequant to bf16), so HBM carries one byte per weight, as the memory plan counts.
// quant=w4a8: the same with int4 experts packed two per byte along the weight's rows (half a
// byte per weight from HBM); the AIVs cast each tile's weights to int8 ahead of the cube.
#include "model/error.h"
#include "ops/common/batched_matmul.h"
#include "ops/common/op_util.h"
#include "ops/common/reference_gemm.h"
#include "ops/moe/moe_tiling.h"
#include "ops/quant_matmul/quant_matmul_kernel.h"

namespace npusim {

namespace {

using op_util::Kv;

class GroupedMatmulOp : public Op {
 public:
  std::string name() const override { return "grouped_matmul"; }
  std::string summary() const override {
    return "MoE expert GEMM: y[rows of e] = x[rows of e] W_e over expert-sorted rows, group_list = "
           "rows per expert (§7.1)";
  }
  std::vector<OpParam> params() const override {
    using K = OpParam::Kind;
    return {
        {"rows", K::kInt, "40960", "expanded rows (tokens x top_k)", 1, 1e8},
        {"experts", K::kInt, "128", "experts on this rank (Qwen3-Next 512 / EP 4)", 1, 65536},
        {"k", K::kInt, "2048", "input features (hidden, or moe_intermediate for down)", 1, 1e6},
        {"n", K::kInt, "1024", "output features (2 x moe_intermediate 512 for gate_up)", 1, 1e6},
        {"dtype",
         K::kString,
         "bfloat16",
         "x, W and y element type (the output type with quant=w8a8)",
         0,
         0,
         {"bfloat16", "float16"}},
        {"quant",
         K::kString,
         "none",
         "none: dtype operands; w8a8: int8 rows and experts with per-row / per-channel scales; "
         "w4a8: int4 experts (packed)",
         0,
         0,
         {"none", "w8a8", "w4a8"}},
        {"trans_b", K::kInt, "0", "1: W_e stored [n, k], 0: [k, n]", 0, 1},
        {"skew", K::kFloat, "1.0",
         "router skew: expert e gets weight (e+1)^-skew of the rows (0 = uniform)", 0, 10},
        {"base_m", K::kInt, "128", "output tile rows", 16, 4096},
        {"base_n", K::kInt, "256", "output tile columns", 16, 4096},
        {"base_k", K::kInt, "64", "K step through L1/L0", 16, 8192}};
  }
  std::vector<TensorSpec> tensors(const ParamValues& p) const override {
    const int64_t M = p.Int("rows"), E = p.Int("experts"), k = p.Int("k"), n = p.Int("n");
    const DType dt = ParseDType(p.Str("dtype"));
    if (Quantised(p)) {
      const bool i4 = Int4(p);
      if (i4 && ((p.Int("trans_b") ? k : n) % 2))
        throw InputError(
            "grouped_matmul quant=w4a8: int4 weights pack two per byte along the weight rows; "
            "make " +
            std::string(p.Int("trans_b") ? "k" : "n") + " even");
      std::vector<TensorSpec> v = {
          {"x", {M, k}, DType::kInt8},
          {"w", p.Int("trans_b") ? Shape{E, n, i4 ? k / 2 : k} : Shape{E, k, i4 ? n / 2 : n},
           i4 ? DType::kUInt8 : DType::kInt8},
          {"group_list", {E}, DType::kInt32, TensorRole::kInput, true, 0, M},
          {"s_x", {M}, DType::kFloat32, TensorRole::kInput, true},  // read by the AIV scalar
          {"s_w", {E, n}, DType::kFloat32},
          {"y", {M, n}, dt, TensorRole::kOutput},
          {"workspace",
           {quant_matmul::AccWorkspaceElems(p.Int("base_m"), p.Int("base_n"))},
           DType::kInt32,
           TensorRole::kWorkspace}};
      if (i4)
        v.push_back({"weight_slots",
                     {quant_matmul::WeightSlotsElems(k, p.Int("base_n"))},
                     DType::kInt8,
                     TensorRole::kWorkspace});
      return v;
    }
    return {{"x", {M, k}, dt},
            {"w", p.Int("trans_b") ? Shape{E, n, k} : Shape{E, k, n}, dt},
            {"group_list", {E}, DType::kInt32, TensorRole::kInput, true, 0, M},
            {"y", {M, n}, dt, TensorRole::kOutput}};
  }
  void FillInputs(const ParamValues& p, TensorMap& t, Rng& rng) const override {
    const int64_t M = p.Int("rows"), E = p.Int("experts");
    // Rows per expert from a Zipf-like router skew, each row placed by a seeded draw.
    std::vector<double> cdf(static_cast<size_t>(E));
    double total = 0;
    for (int64_t e = 0; e < E; ++e)
      cdf[static_cast<size_t>(e)] = total += std::pow(static_cast<double>(e + 1), -p.Float("skew"));
    std::vector<int64_t> count(static_cast<size_t>(E), 0);
    for (int64_t r = 0; r < M; ++r) {
      const double u = rng.Uniform(0.0, total);
      ++count[static_cast<size_t>(std::lower_bound(cdf.begin(), cdf.end(), u) - cdf.begin())];
    }
    for (int64_t e = 0; e < E; ++e)
      t["group_list"].Set(e, static_cast<double>(count[static_cast<size_t>(e)]));
    if (Quantised(p)) {
      op_util::FillUniform(t["x"], rng, -127.0, 127.0);  // stored with rint: integers
      if (Int4(p))
        op_util::FillUniform(t["w"], rng, 0.0, 255.0);  // every pair of nibbles
      else
        op_util::FillUniform(t["w"], rng, -127.0, 127.0);
      op_util::FillUniform(t["s_x"], rng, 0.001, 0.05);
      op_util::FillUniform(t["s_w"], rng, 0.0005, 0.005);
      return;
    }
    op_util::FillNormal(t["x"], rng);
    op_util::FillNormal(t["w"], rng, 1.0 / std::sqrt(static_cast<double>(p.Int("k"))));
  }
  double FunctionalMacs(const ParamValues& p) const override {
    return static_cast<double>(p.Int("rows")) * p.Int("n") * p.Int("k");
  }
  LaunchPlan Plan(const ParamValues& p, const DeviceConfig& d, GmMap& gm) const override {
    if (Quantised(p)) return QuantPlan(p, d, gm);
    const int64_t E = p.Int("experts"), K = p.Int("k"), N = p.Int("n"), M = p.Int("rows");
    const DType dt = ParseDType(p.Str("dtype"));
    moe::CheckGroupedShape(K, p.Int("base_k"), static_cast<int64_t>(SizeOf(dt)));
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
      if (c < 0 || row + c > M)
        throw InputError("group_list: expert " + std::to_string(e) + " overruns the " +
                         std::to_string(M) + " rows");
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
    plan.tiling = {Kv("block_dim", plan.launch.block_dim),
                   Kv("problems", static_cast<int64_t>(problems)), Kv("base_m", p.Int("base_m")),
                   Kv("base_n", p.Int("base_n")), Kv("base_k", p.Int("base_k"))};
    return plan;
  }
  Expected Reference(const ParamValues& p, const TensorMap& in) const override {
    const int64_t E = p.Int("experts"), K = p.Int("k"), N = p.Int("n"), M = p.Int("rows");
    const bool tb = p.Int("trans_b") != 0;
    const Tensor &x = in.at("x"), &w = in.at("w"), &gl = in.at("group_list");
    const bool q = Quantised(p), i4 = Int4(p);
    // Weight element i of expert e's [k, n] or [n, k] matrix (unpacked from its byte with int4).
    auto weight = [&](int64_t i) {
      if (!i4) return w.At(i);
      const int nibble = (static_cast<int>(w.At(i / 2)) >> (4 * (i % 2))) & 0xF;
      return static_cast<double>(nibble >= 8 ? nibble - 16 : nibble);
    };
    std::vector<double> y(static_cast<size_t>(M * N), 0.0), wk(static_cast<size_t>(K * N));
    int64_t row = 0;
    for (int64_t e = 0; e < E; ++e) {
      const auto c = static_cast<int64_t>(gl.At(e));
      for (int64_t kk = 0; kk < K; ++kk)
        for (int64_t j = 0; j < N; ++j)
          wk[static_cast<size_t>(kk * N + j)] = weight(e * K * N + (tb ? j * K + kk : kk * N + j));
      std::vector<double> xd(static_cast<size_t>(c * K));
      for (int64_t i = 0; i < c * K; ++i) xd[static_cast<size_t>(i)] = x.At(row * K + i);
      ref::GemmF64(xd.data(), wk.data(), y.data() + row * N, c, K, N);
      if (q)
        for (int64_t r = row; r < row + c; ++r)
          for (int64_t j = 0; j < N; ++j)
            y[static_cast<size_t>(r * N + j)] *= in.at("s_x").At(r) * in.at("s_w").At(e * N + j);
      row += c;
    }
    return {{"y", y}};
  }

 private:
  static bool Quantised(const ParamValues& p) { return p.Str("quant") != "none"; }
  static bool Int4(const ParamValues& p) { return p.Str("quant") == "w4a8"; }

  LaunchPlan QuantPlan(const ParamValues& p, const DeviceConfig& d, GmMap& gm) const {
    const int64_t E = p.Int("experts"), K = p.Int("k"), N = p.Int("n"), M = p.Int("rows");
    quant_matmul::Plan qp;
    qp.t = moe::ComputeGroupedQuantTiling(M, N, K, p.Int("base_m"), p.Int("base_n"),
                                          p.Int("trans_b") != 0, p.Str("quant"), d);
    qp.ldw = N;
    qp.int4 = Int4(p);
    const int32_t* counts = reinterpret_cast<const int32_t*>(gm["group_list"].data);
    int64_t row = 0;
    for (int64_t e = 0; e < E; ++e) {
      const int64_t c = counts[e];
      if (c < 0 || row + c > M)
        throw InputError("group_list: expert " + std::to_string(e) + " overruns the " +
                         std::to_string(M) + " rows");
      quant_matmul::AddTiles(qp, row, c, static_cast<uint64_t>(e * K * N),
                             static_cast<uint64_t>(e * N));
      row += c;
    }
    // As quant_matmul: a device with more AIC than the workspace has slots for is refused rather
    // than silently run on fewer cores than it has.
    const int64_t blocks =
        std::max<int64_t>(1, std::min<int64_t>(static_cast<int64_t>(qp.tiles.size()), d.aic_count));
    if (blocks > quant_matmul::kMaxBlocks)
      throw InputError("grouped_matmul quant=" + p.Str("quant") +
                       ": the workspace is sized for at most 32 AIC blocks, this launch needs " +
                       std::to_string(blocks));
    LaunchPlan plan;
    plan.tiling = {Kv("block_dim", blocks),   Kv("tiles", static_cast<int64_t>(qp.tiles.size())),
                   Kv("base_m", qp.t.base_m), Kv("base_n", qp.t.base_n),
                   Kv("base_k", qp.t.base_k), Kv("quant", p.Str("quant"))};
    GmBuffer* slots = qp.int4 ? &gm["weight_slots"] : nullptr;
    plan.launch = op_util::LaunchOf<quant_matmul::KernelQuantMatmul>(
        name(), blocks, CoreType::kMix, ParseDType(p.Str("dtype")), &gm["x"], &gm["w"], &gm["s_x"],
        &gm["s_w"], &gm["y"], &gm["workspace"], std::move(qp), slots);
    return plan;
  }
};

}  // namespace

std::unique_ptr<Op> MakeGroupedMatmulOp() { return std::make_unique<GroupedMatmulOp>(); }

}  // namespace npusim
