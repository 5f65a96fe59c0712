// Model configs: the shipped HuggingFace configs read as kernels.md §9 describes the models, and
// their parameter counts land on the sizes in the models' names.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "devices/device_config.h"
#include "model/config.h"
#include "model/error.h"
#include "workloads/model_config.h"

namespace npusim {
namespace {

using ::testing::HasSubstr;

ModelConfig Shipped(const std::string& name) { return LoadModelConfig(ConfigDir() + "/models/" + name); }

TEST(ModelConfig, Qwen3NextLayersStatesAndSize) {
  const ModelConfig m = Shipped("qwen3-next-80b-a3b.json");
  EXPECT_EQ(m.count(LayerKind::kFullAttention), 12);  // full iff (l + 1) % 4 == 0
  EXPECT_EQ(m.count(LayerKind::kLinearAttention), 36);
  EXPECT_EQ(m.layers[3], LayerKind::kFullAttention);
  EXPECT_EQ(m.layers[0], LayerKind::kLinearAttention);
  EXPECT_EQ(m.conv_dim(), 8192);
  EXPECT_EQ(m.full.head_dim, 256);
  EXPECT_DOUBLE_EQ(m.full.partial_rotary, 0.25);
  EXPECT_EQ(m.mtp_layers, 1);
  const ParamCount p = CountParams(m);
  EXPECT_NEAR(p.total / 1e9, 80, 80 * 0.03);  // "80B"
  EXPECT_GT(p.active / 1e9, 3.0);             // "A3B", embeddings included
  EXPECT_LT(p.active / 1e9, 4.0);
}

TEST(ModelConfig, Qwen35ReadsTextConfigAndItsStateDtype) {
  const ModelConfig a = Shipped("qwen3.5-35b-a3b.json");
  EXPECT_EQ(a.count(LayerKind::kFullAttention), 10);
  EXPECT_EQ(a.experts, 256);
  EXPECT_EQ(a.mamba_ssm_dtype, "float32");
  EXPECT_NEAR(CountParams(a).total / 1e9, 35, 35 * 0.03);
  const ModelConfig b = Shipped("qwen3.5-397b-a17b.json");
  EXPECT_EQ(b.conv_dim(), 12288);
  EXPECT_NEAR(CountParams(b).total / 1e9, 397, 397 * 0.03);
  EXPECT_NEAR(CountParams(b).active / 1e9, 17, 17 * 0.1);
}

TEST(ModelConfig, Step35SlidingLayersDenseLayersAndMtp) {
  const ModelConfig m = Shipped("step-3.5-flash.json");
  EXPECT_EQ(m.layers.size(), 45u);  // layer_types has 48 entries: the last 3 are the MTP layers
  EXPECT_EQ(m.count(LayerKind::kFullAttention), 12);
  EXPECT_EQ(m.count(LayerKind::kSlidingAttention), 33);
  EXPECT_EQ(m.sliding.heads, 96);
  EXPECT_EQ(m.full.heads, 64);
  EXPECT_EQ(m.sliding_window, 512);
  EXPECT_TRUE(m.headwise_gate);
  EXPECT_TRUE(m.sigmoid_router);
  EXPECT_FALSE(m.moe_layer[2]);  // layers 0-2 dense
  EXPECT_TRUE(m.moe_layer[3]);
  EXPECT_EQ(m.mtp_layers, 3);
  const ParamCount p = CountParams(m);
  EXPECT_NEAR(p.total / 1e9, 196, 196 * 0.03);  // 196B without the MTP layers
  EXPECT_NEAR(p.active / 1e9, 11, 11 * 0.1);
}

TEST(ModelConfig, MissingKeyNamesFileLineAndNearestKey) {
  try {
    ParseModelConfig("{\n  \"model_type\": \"qwen3_next\",\n  \"hidden_sise\": 2048\n}\n", "bad.json");
    FAIL() << "no error";
  } catch (const InputError& e) {
    EXPECT_THAT(e.what(), HasSubstr("bad.json:1:1"));
    EXPECT_THAT(e.what(), HasSubstr("'hidden_size'"));
    EXPECT_THAT(e.what(), HasSubstr("hidden_sise"));
  }
}

TEST(ModelConfig, UnknownModelTypeAndBadLayerType) {
  EXPECT_THROW(ParseModelConfig("{\"model_type\": \"qwen3_nxt\"}", "x.json"), InputError);
  try {
    ParseModelConfig(R"({"model_type": "qwen3_next", "hidden_size": 8, "num_hidden_layers": 2, "vocab_size": 10,
      "num_attention_heads": 2, "num_key_value_heads": 1, "linear_num_key_heads": 1, "linear_num_value_heads": 2,
      "linear_key_head_dim": 4, "linear_value_head_dim": 4, "linear_conv_kernel_dim": 4,
      "layer_types": ["linear_attention", "ful_attention"]})",
                     "y.json");
    FAIL() << "no error";
  } catch (const InputError& e) {
    EXPECT_THAT(e.what(), HasSubstr("y.json:4:"));
    EXPECT_THAT(e.what(), HasSubstr("full_attention"));
  }
}

}  // namespace
}  // namespace npusim
