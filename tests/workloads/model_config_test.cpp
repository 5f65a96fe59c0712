// Model configs: the shipped HuggingFace configs read as kernels.md §9 describes the models, and
// their parameter counts land on the sizes in the models' names.
#include "workloads/model_config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "devices/device_config.h"
#include "model/config.h"
#include "model/error.h"
#include "workloads/layer_graph.h"
#include "workloads/memory_plan.h"

namespace npusim {
namespace {

using ::testing::HasSubstr;

ModelConfig Shipped(const std::string& name) {
  return LoadModelConfig(ConfigDir() + "/models/" + name);
}

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
  EXPECT_EQ(m.gate, AttentionGate::kHeadwise);
  EXPECT_TRUE(m.sigmoid_router);
  EXPECT_FALSE(m.moe_layer[2]);  // layers 0-2 dense
  EXPECT_TRUE(m.moe_layer[3]);
  EXPECT_EQ(m.mtp_layers, 3);
  const ParamCount p = CountParams(m);
  EXPECT_NEAR(p.total / 1e9, 196, 196 * 0.03);  // 196B without the MTP layers
  EXPECT_NEAR(p.active / 1e9, 11, 11 * 0.1);
}

// The attention-only families from their HuggingFace config.json as shipped; the parameter
// counts land on the published sizes.
TEST(ModelConfig, Qwen3DenseAndMoeLlamaAndQwen2) {
  const ModelConfig q8 = Shipped("qwen3-8b.json");
  EXPECT_EQ(q8.count(LayerKind::kFullAttention), 36);
  EXPECT_TRUE(q8.qk_norm);
  EXPECT_EQ(q8.gate, AttentionGate::kNone);
  EXPECT_EQ(q8.mtp_layers, 0);  // no MTP layer the config does not declare
  EXPECT_NEAR(CountParams(q8).total / 1e9, 8.19, 0.01);
  EXPECT_NEAR(CountParams(Shipped("qwen3-32b.json")).total / 1e9, 32.76, 0.02);
  const ModelConfig a3b = Shipped("qwen3-30b-a3b.json");
  EXPECT_EQ(a3b.experts, 128);
  EXPECT_EQ(a3b.shared_intermediate, 0);
  EXPECT_TRUE(a3b.norm_topk);
  EXPECT_NEAR(CountParams(a3b).total / 1e9, 30.5, 0.1);
  EXPECT_NEAR(CountParams(a3b).active / 1e9, 3.3, 0.1);
  const ParamCount big = CountParams(Shipped("qwen3-235b-a22b.json"));
  EXPECT_NEAR(big.total / 1e9, 235, 1);
  EXPECT_NEAR(big.active / 1e9, 22, 0.5);
  const ModelConfig llama = Shipped("llama-3.1-8b.json");
  EXPECT_FALSE(llama.qk_norm);
  EXPECT_EQ(llama.full.head_dim, 128);  // hidden / heads when head_dim is absent
  EXPECT_DOUBLE_EQ(llama.full.rope_scaling.factor, 8);
  EXPECT_EQ(llama.full.rope_scaling.original_max_position, 8192);
  EXPECT_NEAR(CountParams(llama).total / 1e9, 8.03, 0.01);
  const ModelConfig qwen2 = Shipped("qwen2.5-7b.json");
  EXPECT_TRUE(qwen2.qkv_bias);
  EXPECT_NEAR(CountParams(qwen2).total / 1e9, 7.62, 0.01);
}

TEST(ModelConfig, Qwen3MoeSparseStepAndMlpOnlyLayers) {
  const ModelConfig m = ParseModelConfig(
      R"({"model_type": "qwen3_moe", "hidden_size": 64, "num_hidden_layers": 6, "vocab_size": 10,
    "num_attention_heads": 4, "num_key_value_heads": 2, "intermediate_size": 96, "moe_intermediate_size": 32,
    "num_experts": 8, "num_experts_per_tok": 2, "decoder_sparse_step": 2, "mlp_only_layers": [3], "unknown_key": 1})",
      "m.json");
  // MoE where (l + 1) % 2 == 0 and l is not MLP-only: layers 1 and 5; norm_topk_prob defaults to
  // false.
  EXPECT_EQ(m.moe_layer, (std::vector<bool>{false, true, false, false, false, true}));
  EXPECT_FALSE(m.norm_topk);
  // Issue #15: a layer past the model was ignored without a word.
  try {
    ParseModelConfig(
        R"({"model_type": "qwen3_moe", "hidden_size": 64, "num_hidden_layers": 6, "vocab_size": 10,
      "num_attention_heads": 4, "num_key_value_heads": 2, "intermediate_size": 96, "moe_intermediate_size": 32,
      "num_experts": 8, "num_experts_per_tok": 2, "mlp_only_layers": [3, 6]})",
        "m.json");
    FAIL() << "no error";
  } catch (const InputError& e) {
    EXPECT_THAT(
        e.what(),
        HasSubstr(
            "m.json:3:70: mlp_only_layers lists layer 6, outside 0 .. 5 (num_hidden_layers 6)"));
  }
}

TEST(ModelConfig, AnUnsupportedTypeListsTheSupportedOnesAndAnUnknownRopeScalingIsRefused) {
  try {
    ParseModelConfig("{\"model_type\": \"qwen3_vl\"}", "x.json");
    FAIL() << "no error";
  } catch (const InputError& e) {
    EXPECT_THAT(e.what(), HasSubstr("supported: qwen3_next"));
    EXPECT_THAT(e.what(), HasSubstr("llama, qwen2"));
    EXPECT_THAT(e.what(), ::testing::Not(HasSubstr("nearest")));
  }
  try {
    ParseModelConfig(
        R"({"model_type": "llama", "hidden_size": 64, "num_hidden_layers": 2, "vocab_size": 10,
      "num_attention_heads": 4, "intermediate_size": 96, "rope_scaling": {"rope_type": "yarn", "factor": 4}})",
        "y.json");
    FAIL() << "no error";
  } catch (const InputError& e) {
    EXPECT_THAT(e.what(), HasSubstr("y.json:2:"));
    EXPECT_THAT(e.what(), HasSubstr("'yarn' is not modelled"));
  }
}

TEST(ModelConfig, DeepseekV3MlaGroupRoutingAndItsPublishedSize) {
  const ModelConfig m = Shipped("deepseek-v3.json");
  ASSERT_EQ(m.layers.size(), 61u);
  EXPECT_EQ(m.count(LayerKind::kMla), 61);
  for (size_t l = 0; l < 61; ++l)
    EXPECT_EQ(m.moe_layer[l], l >= 3) << l;  // first_k_dense_replace 3
  EXPECT_EQ(m.mla.latent_per_token(), 512 + 64);
  EXPECT_EQ(m.full.head_dim, 192);
  EXPECT_EQ(m.shared_intermediate, 2048);  // one shared expert of moe_intermediate_size
  EXPECT_TRUE(m.sigmoid_router && m.score_bias);
  EXPECT_EQ(m.expert_groups, 8);
  EXPECT_EQ(m.topk_groups, 4);
  EXPECT_DOUBLE_EQ(m.routed_scaling, 2.5);
  EXPECT_EQ(m.full.rope_scaling.type, "yarn");
  EXPECT_EQ(m.full.rope_scaling.original_max_position, 4096);
  EXPECT_EQ(m.mtp_layers, 1);
  // Per MLA layer: q_a 7168x1536 + norm + q_b 1536x128x192, kv_a 7168x576 + norm + kv_b
  // 512x128x256, o 128x128x7168 = 187,107,328; an MoE layer's experts 257 x 3 x 7168 x 2048 +
  // router 256 x 7168 + bias 256; embedding and lm_head 2 x 129280 x 7168. In all 671.03 B, 37.55 B
  // active (8 routed + 1 shared); the MTP layer with its own embedding and head copies 13.46 B.
  const ParamCount p = CountParams(m);
  EXPECT_NEAR(p.total / 1e9, 671.026, 0.001);
  EXPECT_NEAR(p.active / 1e9, 37.552, 0.001);
  EXPECT_NEAR((p.total + p.mtp) / 1e9, 684.49, 0.01);
}

TEST(ModelConfig, DeepseekV3MemoryPlanCachesOneLatentPerToken) {
  const ModelConfig m = Shipped("deepseek-v3.json");
  MemoryOptions o;
  o.quantization = "w8a8_dynamic";
  const MemoryPlan plan = PlanMemory(m, ParallelPlan{16, 1, 16}, LoadDevice("Ascend910_9392"), o);
  EXPECT_EQ(plan.kv_per_token,
            61 * 576 * 2);  // the latent, the same on every rank: no per-head K and V
  EXPECT_GT(plan.kv_tokens, 0);
  // W8A8 over 16 ranks: ~671 GB / 16 of int8 weights plus the replicated bf16 embedding shards.
  EXPECT_NEAR(static_cast<double>(plan.weights) / 1e9, 671.0 / 16, 671.0 / 16 * 0.1);
  // Yarn stays refused where the family's rotary kernel does not apply it.
  EXPECT_THROW(
      ParseModelConfig(
          R"({"model_type": "qwen3", "hidden_size": 64, "num_hidden_layers": 2, "vocab_size": 10,
      "num_attention_heads": 4, "intermediate_size": 96, "rope_scaling": {"type": "yarn", "factor": 4,
      "original_max_position_embeddings": 64}})",
          "q.json"),
      InputError);
}

// A fuzz finding: a llama3 rope_scaling whose low_freq_factor passes the default high_freq_factor
// used the absent key's node for the position, and yaml-cpp's InvalidNode escaped the loader.
TEST(ModelConfig, ARopeScalingCheckOnADefaultedKeyPointsAtTheMapping) {
  try {
    ParseModelConfig(
        R"({"model_type": "llama", "hidden_size": 64, "num_hidden_layers": 2, "vocab_size": 10,
      "num_attention_heads": 4, "intermediate_size": 96,
      "rope_scaling": {"rope_type": "llama3", "factor": 8, "low_freq_factor": 5}})",
        "r.json");
    FAIL() << "no error";
  } catch (const InputError& e) {
    EXPECT_THAT(e.what(), HasSubstr("r.json:3:23"));
    EXPECT_THAT(e.what(), HasSubstr("high_freq_factor (4) must exceed low_freq_factor (5)"));
  }
}

// Issue #15: a zero KV-head count crashed `model`, `validate` and `run` (SIGFPE); shapes every
// executor divides by are checked when the config is read.
TEST(ModelConfig, ZeroHeadsOrMoreTopKThanExpertsAreRefusedWhenRead) {
  const std::string step =
      R"({"model_type": "step3p5", "hidden_size": 64, "num_hidden_layers": 4, "vocab_size": 10,
    "num_attention_heads": 4, "num_attention_groups": 2, "sliding_window": 8, "moe_num_experts": 4, "moe_top_k": 2,
    "moe_intermediate_size": 32, "intermediate_size": 64, "attention_other_setting": {"num_attention_groups": 0}})";
  try {
    ParseModelConfig(step, "s.json");
    FAIL();
  } catch (const InputError& e) {
    EXPECT_THAT(e.what(), HasSubstr("sliding layers' key/value heads must be positive"));
  }
  try {
    ParseModelConfig(
        R"({"model_type": "qwen3_moe", "hidden_size": 64, "num_hidden_layers": 2, "vocab_size": 10, "num_attention_heads": 4,
      "intermediate_size": 96, "moe_intermediate_size": 32, "num_experts": 4, "num_experts_per_tok": 8})",
        "m.json");
    FAIL();
  } catch (const InputError& e) {
    EXPECT_THAT(e.what(), HasSubstr("num_experts_per_tok (8) exceeds the 4 experts"));
  }
  EXPECT_THROW(
      ParseModelConfig(
          R"({"model_type": "qwen3", "hidden_size": 64, "num_hidden_layers": 2, "vocab_size": 10,
    "num_attention_heads": 4, "head_dim": 0, "intermediate_size": 96})",
          "h.json"),
      InputError);
  // head_dim's default divides by the head count (qwen3_next / qwen3_5 too).
  try {
    ParseModelConfig(
        R"({"model_type": "qwen3_next", "hidden_size": 64, "num_hidden_layers": 4, "vocab_size": 10,
      "num_attention_heads": 0, "num_key_value_heads": 1})",
        "n.json");
    FAIL();
  } catch (const InputError& e) {
    EXPECT_THAT(e.what(), HasSubstr("'num_attention_heads' must be positive"));
  }
  try {
    ParseModelConfig(
        R"({"model_type": "llama", "architectures": ["LlamaForCausalLMEagle3"], "hidden_size": 64, "num_hidden_layers": 1,
      "vocab_size": 10, "num_attention_heads": 4, "intermediate_size": 96, "draft_vocab_size": 0})",
        "d.json");
    FAIL();
  } catch (const InputError& e) {
    EXPECT_THAT(e.what(), HasSubstr("'draft_vocab_size' must be positive"));
  }
}

// The shape checks made after a family's reader point at the key the value came from (they named
// the file only).
TEST(ModelConfig, AShapeCheckNamesTheLineAndColumnOfItsKey) {
  try {
    ParseModelConfig(
        "{\"model_type\": \"qwen3_moe\", \"hidden_size\": 64, \"num_hidden_layers\": 2, "
        "\"vocab_size\": 10,\n"
        "  \"num_attention_heads\": 4, \"intermediate_size\": 96, \"moe_intermediate_size\": 32,\n"
        "  \"num_experts\": 4, \"num_experts_per_tok\": 8}",
        "m.json");
    FAIL();
  } catch (const InputError& e) {
    EXPECT_THAT(e.what(), HasSubstr("m.json:3:44: num_experts_per_tok (8) exceeds the 4 experts"));
  }
  try {
    ParseModelConfig(
        "{\"model_type\": \"qwen3\", \"hidden_size\": 64, \"num_hidden_layers\": 2, "
        "\"vocab_size\": 10,\n"
        "  \"num_attention_heads\": 4, \"head_dim\": 0, \"intermediate_size\": 96}",
        "h.json");
    FAIL();
  } catch (const InputError& e) {
    EXPECT_THAT(e.what(), HasSubstr("h.json:2:41: head_dim must be positive, got 0"));
  }
  try {
    ParseModelConfig(
        "{\"model_type\": \"qwen3\", \"hidden_size\": 64, \"num_hidden_layers\": 2, "
        "\"vocab_size\": 10,\n"
        "  \"num_attention_heads\": 4, \"num_key_value_heads\": 3, \"intermediate_size\": 96}",
        "g.json");
    FAIL();
  } catch (const InputError& e) {
    EXPECT_THAT(
        e.what(),
        HasSubstr("g.json:2:52: attention heads must be a multiple of the key/value heads"));
  }
}

TEST(ModelConfig, MissingKeyNamesFileLineAndNearestKey) {
  try {
    ParseModelConfig("{\n  \"model_type\": \"qwen3_next\",\n  \"hidden_sise\": 2048\n}\n",
                     "bad.json");
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
    ParseModelConfig(
        R"({"model_type": "qwen3_next", "hidden_size": 8, "num_hidden_layers": 2, "vocab_size": 10,
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
