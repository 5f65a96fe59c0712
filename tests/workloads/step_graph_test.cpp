// The decode step's kernel graph and its device time.
#include <gtest/gtest.h>

#include "devices/device_config.h"
#include "workloads/step_graph.h"

namespace npusim {
namespace {

ModelConfig Shipped(const std::string& name) { return LoadModelConfig(ConfigDir() + "/models/" + name); }

int64_t Launches(const std::vector<KernelCall>& calls, const std::string& op) {
  int64_t n = 0;
  for (const KernelCall& c : calls) n += c.op == op ? c.count : 0;
  return n;
}

TEST(StepGraph, Qwen3NextDecodeLaunchesEveryLayersKernels) {
  const std::vector<KernelCall> calls = StepKernels(Shipped("qwen3-next-80b-a3b.json"), {4, 1, 1}, StepShape{});
  EXPECT_EQ(Launches(calls, "recurrent_gated_delta_rule"), 36);
  EXPECT_EQ(Launches(calls, "fused_infer_attention_score"), 12);
  EXPECT_EQ(Launches(calls, "moe_gating_topk"), 48);
  EXPECT_EQ(Launches(calls, "grouped_matmul"), 96);         // gate_up and down
  EXPECT_EQ(Launches(calls, "all_reduce"), 1 + 36 + 12 + 48);  // embedding, each mixer, each MoE
  EXPECT_EQ(Launches(calls, "lm_head_argmax"), 1);
}

TEST(StepGraph, Step35HasSlidingLayersDenseLayersAndNoGdn) {
  const std::vector<KernelCall> calls = StepKernels(Shipped("step-3.5-flash.json"), {8, 1, 1}, StepShape{});
  EXPECT_EQ(Launches(calls, "recurrent_gated_delta_rule"), 0);
  EXPECT_EQ(Launches(calls, "fused_infer_attention_score"), 45);
  EXPECT_EQ(Launches(calls, "moe_gating_topk"), 42);  // layers 3..44
  int64_t swa = 0;
  for (const KernelCall& c : calls)
    if (c.op == "fused_infer_attention_score")
      for (const auto& [k, v] : c.params) swa += (k == "mask" && v == "swa") ? c.count : 0;
  EXPECT_EQ(swa, 33);
}

TEST(StepGraph, TheTritonChainMakesTheStepSlowerThanTheFusedOp) {
  const ModelConfig m = Shipped("qwen3-next-80b-a3b.json");
  const DeviceConfig d = LoadDevice("Ascend910B3");
  StepShape fused, triton;
  triton.gdn_impl = "triton_chain";
  const StepTime f = TimeStep(m, {4, 1, 1}, d, fused), t = TimeStep(m, {4, 1, 1}, d, triton);
  EXPECT_GT(f.total_us, 0);
  EXPECT_GT(t.total_us, f.total_us);  // only the GDN recurrence differs between the two
  double gdn_f = 0, gdn_t = 0;
  for (const auto& [c, us] : f.calls) gdn_f += c.op == "recurrent_gated_delta_rule" ? us * c.count : 0;
  for (const auto& [c, us] : t.calls) gdn_t += c.op == "recurrent_gated_delta_rule" ? us * c.count : 0;
  EXPECT_NEAR(t.total_us - f.total_us, gdn_t - gdn_f, 1e-6);
}

TEST(StepGraph, PrefillTakesTheChunkedGdnPathAndCausalAttention) {
  StepShape pre;
  pre.batch = 2;
  pre.tokens = 1024;
  pre.prefix = 512;
  const std::vector<KernelCall> calls = StepKernels(Shipped("qwen3-next-80b-a3b.json"), {4, 1, 1}, pre);
  EXPECT_EQ(Launches(calls, "recurrent_gated_delta_rule"), 0);
  EXPECT_EQ(Launches(calls, "chunk_gated_delta_rule"), 36);
  EXPECT_EQ(Launches(calls, "l2norm"), 72);  // q and k
  for (const KernelCall& c : calls)
    if (c.op == "fused_infer_attention_score")
      for (const auto& [k, v] : c.params) {
        if (k == "sparse_mode") {
          EXPECT_EQ(v, "3");
        }
      }
  const StepTime t = TimeStep(Shipped("qwen3-next-80b-a3b.json"), {4, 1, 1}, LoadDevice("Ascend910B3"), pre);
  EXPECT_GT(t.total_us, TimeStep(Shipped("qwen3-next-80b-a3b.json"), {4, 1, 1}, LoadDevice("Ascend910B3"), StepShape{}).total_us);
}

}  // namespace
}  // namespace npusim
