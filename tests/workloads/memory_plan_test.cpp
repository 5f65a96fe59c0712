// Per-rank shapes and the HBM plan of one rank.
#include "workloads/memory_plan.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>

#include "devices/device_config.h"
#include "model/error.h"

namespace npusim {
namespace {

using ::testing::HasSubstr;

ModelConfig Shipped(const std::string& name) {
  return LoadModelConfig(ConfigDir() + "/models/" + name);
}

TEST(MemoryPlan, Qwen3NextShapesAtTp4) {
  const RankShapes s = ShapesPerRank(Shipped("qwen3-next-80b-a3b.json"), {4, 1, 1});
  EXPECT_EQ(s.q_heads, 4);
  EXPECT_EQ(s.kv_heads, 1);  // 2 KV heads over 4 ranks: replicated
  EXPECT_EQ(s.lin_key_heads, 4);
  EXPECT_EQ(s.lin_value_heads, 8);
  EXPECT_EQ(s.conv_dim, 2048);  // 2 x 4 x 128 + 8 x 128
  EXPECT_EQ(s.experts, 512);
  EXPECT_EQ(s.moe_intermediate, 128);
  EXPECT_EQ(s.vocab, 37984);
  const RankShapes e = ShapesPerRank(Shipped("qwen3-next-80b-a3b.json"), {16, 1, 16});
  EXPECT_EQ(e.experts, 32);
  EXPECT_EQ(e.moe_intermediate, 512);
  EXPECT_THROW(ShapesPerRank(Shipped("qwen3-next-80b-a3b.json"), {3, 1, 1}), InputError);
}

TEST(MemoryPlan, Qwen3NextTp4OnA2StatePerRequestAndKvPerToken) {
  const ModelConfig m = Shipped("qwen3-next-80b-a3b.json");
  MemoryOptions o;
  o.gdn_decode_impl = "triton_chain";  // the state pool in the model's dtype, fp32
  const MemoryPlan p = PlanMemory(m, {4, 1, 1}, LoadDevice("Ascend910B3"), o);
  // 36 GDN layers x (conv 3 rows x 2048 x bf16 + ssm 8 x 128 x 128 x fp32) = 36 x (12 KiB + 512
  // KiB).
  EXPECT_EQ(p.mamba_per_request, 36 * (3 * 2048 * 2 + 8 * 128 * 128 * 4));
  // The fused recurrent op takes a bf16 pool only: the same pool the step graph times
  // (SsmPoolDtype).
  o.gdn_decode_impl = "fused";
  EXPECT_EQ(PlanMemory(m, {4, 1, 1}, LoadDevice("Ascend910B3"), o).mamba_per_request,
            36 * (3 * 2048 * 2 + 8 * 128 * 128 * 2));
  // 12 full layers x K and V x 1 head x 256 x bf16.
  EXPECT_EQ(p.kv_per_token, 12 * 2 * 1 * 256 * 2);
  // bf16 weights: about a quarter of 79.7 B parameters x 2 B (embeddings split, KV heads
  // replicated).
  EXPECT_NEAR(static_cast<double>(p.weights), 79.67e9 * 2 / 4, 79.67e9 * 2 / 4 * 0.02);
  EXPECT_EQ(p.kv_tokens % 128, 0);
  EXPECT_GT(p.kv_tokens, 0);
  EXPECT_LE(p.weights + p.workspace + p.mamba_pool + p.kv_pool, p.budget);
}

TEST(MemoryPlan, MtpAddsIntermediateCachesAndAWiderConvWindow) {
  const ModelConfig m = Shipped("qwen3-next-80b-a3b.json");
  MemoryOptions o;
  o.draft_tokens = 4;
  o.ssm_dtype = "bfloat16";
  const MemoryPlan p = PlanMemory(m, {4, 1, 1}, LoadDevice("Ascend910B3"), o);
  const int64_t ssm = 8 * 128 * 128 * 2;
  EXPECT_EQ(p.mamba_per_request, 36 * ((3 + 3) * 2048 * 2 + ssm));  // (kw-1)+(d-1) conv rows
  EXPECT_EQ(p.spec_per_request, 36 * 4 * (ssm + 3 * 2048 * 2));     // d states and windows
  EXPECT_GT(p.mtp_weights, 0);
}

TEST(MemoryPlan, W8A8RoughlyHalvesTheWeights) {
  const ModelConfig m = Shipped("qwen3.5-35b-a3b.json");
  MemoryOptions bf, q;
  q.quantization = "w8a8_dynamic";
  const DeviceConfig d = LoadDevice("Ascend910B3");
  const double ratio = static_cast<double>(PlanMemory(m, {4, 1, 1}, d, q).weights) /
                       static_cast<double>(PlanMemory(m, {4, 1, 1}, d, bf).weights);
  EXPECT_GT(ratio, 0.5);
  EXPECT_LT(ratio, 0.6);  // embeddings and routers stay bf16
  q.quantization = "w4a16";
  EXPECT_THROW(PlanMemory(m, {4, 1, 1}, d, q), InputError);
}

TEST(MemoryPlan, W4A8HalvesTheRoutedExpertsAgain) {
  // Qwen3.5-397B-A17B on 16 ranks: W4A8 keeps every linear of W8A8 except the routed experts,
  // whose bytes halve (int4 packed two per byte; the fp32 scale per output channel stays).
  const ModelConfig m = Shipped("qwen3.5-397b-a17b.json");
  const ParallelPlan p{16, 1, 16};
  const RankShapes s = ShapesPerRank(m, p);
  MemoryOptions w8, w4;
  w8.quantization = "w8a8_dynamic";
  w4.quantization = "w4a8_dynamic";
  const DeviceConfig d = LoadDevice("Ascend910_9392");
  const int64_t moe_layers = std::count(m.moe_layer.begin(), m.moe_layer.end(), true);
  const int64_t int8_experts = moe_layers * s.experts * 3 * m.hidden * s.moe_intermediate;
  EXPECT_EQ(PlanMemory(m, p, d, w8).weights - PlanMemory(m, p, d, w4).weights, int8_experts / 2);
}

TEST(MemoryPlan, AW8A8DraftStoresItsLinearsInInt8) {
  // Qwen3.6-27B's MTP layer (dense: attention + MLP, and the fc over [embedding | hidden]) under a
  // W4A8 target: the draft's W8A8 takes its linears to int8 with an fp32 scale per output channel
  // (its MLP too: a draft's own quantisation never makes it int4); norms stay bf16.
  const ModelConfig m = Shipped("qwen3.5-27b.json");
  const ParallelPlan p{2, 1, 1};
  const RankShapes s = ShapesPerRank(m, p);
  MemoryOptions bf, q;
  bf.draft_tokens = q.draft_tokens = 4;
  bf.quantization = q.quantization = "w4a8_dynamic";
  q.draft_quantization = "w8a8_dynamic";
  const DeviceConfig d = LoadDevice("Ascend910_9392");
  const int64_t H = m.hidden, D = m.full.head_dim, I = s.dense_intermediate;
  // [in -> out] linears of the layer and the fc: bf16 is 2 bytes a weight, int8 1 plus 4 per output
  // column.
  const std::vector<std::pair<int64_t, int64_t>> linears = {
      {H, m.q_proj_width(s.q_heads, D)},
      {H, s.kv_heads * D},
      {H, s.kv_heads * D},
      {s.q_heads * D, H},
      {H, I},
      {H, I},
      {H, I}};  // gate, up, down as the plan counts them
  int64_t saved = 0;
  for (const auto& [in, out] : linears) saved += in * out - 4 * out;
  saved +=
      (2 * H * H - 4 * H) / p.tp;  // the fc, replicated: its share per rank as the plan counts it
  EXPECT_EQ(PlanMemory(m, p, d, bf).mtp_weights - PlanMemory(m, p, d, q).mtp_weights, saved);
  EXPECT_EQ(PlanMemory(m, p, d, bf).weights,
            PlanMemory(m, p, d, q).weights);  // the target's are its own
}

TEST(MemoryPlan, TooBigForOneChipIsOutOfMemoryWithTheBreakdown) {
  try {
    PlanMemory(Shipped("qwen3.5-397b-a17b.json"), {1, 1, 1}, LoadDevice("Ascend910B3"),
               MemoryOptions{});
    FAIL() << "397 B parameters fitted in 64 GB";
  } catch (const SimFailure& e) {
    EXPECT_EQ(e.status(), "out_of_memory");
    EXPECT_THAT(e.what(), HasSubstr("weights: "));
    EXPECT_THAT(e.what(), HasSubstr("mamba_state_pool: "));
  }
}

}  // namespace
}  // namespace npusim
