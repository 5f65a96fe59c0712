// A hybrid model's architecture, read from a HuggingFace config.json as is (or a YAML with the
// same keys): qwen3_next, qwen3_5_moe / qwen3_5 (text settings at the top level or under
// `text_config`) and step3p5. Keys the simulator does not use are ignored; a key it needs that is
// missing or has a bad value is an InputError naming file:line:col (kernels.md §9).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace npusim {

enum class LayerKind { kLinearAttention, kFullAttention, kSlidingAttention };
const char* LayerKindName(LayerKind k);

struct AttentionShape {
  int64_t heads = 0, kv_heads = 0, head_dim = 0;
  double rope_theta = 0, partial_rotary = 1.0;
};

struct ModelConfig {
  std::string file, model_type;
  int64_t hidden = 0, vocab = 0;
  double rms_norm_eps = 0;
  std::vector<LayerKind> layers;  // decoder layers, MTP layers excluded
  int64_t mtp_layers = 0;

  AttentionShape full, sliding;   // sliding: SWA layers (Step-3.5's attention_other_setting)
  int64_t sliding_window = 0;
  bool headwise_gate = false;     // Step-3.5 g_proj (one gate per head); else elementwise (q_proj x 2)

  // Gated DeltaNet layers.
  int64_t lin_key_heads = 0, lin_value_heads = 0, lin_key_dim = 0, lin_value_dim = 0, conv_kernel = 0;
  std::string mamba_ssm_dtype = "float32";

  // MLP / MoE.
  std::vector<bool> moe_layer;    // per decoder layer: routed experts, else a dense MLP
  int64_t experts = 0, top_k = 0, moe_intermediate = 0, shared_intermediate = 0, dense_intermediate = 0;
  bool shared_gated = false, sigmoid_router = false, norm_topk = true;
  double routed_scaling = 1.0;
  std::vector<double> swiglu_limits;  // per layer, 0 = off (Step-3.5)

  int64_t count(LayerKind k) const;
  int64_t conv_dim() const { return 2 * lin_key_heads * lin_key_dim + lin_value_heads * lin_value_dim; }
};

ModelConfig LoadModelConfig(const std::string& path);
ModelConfig ParseModelConfig(const std::string& text, const std::string& file);

// Parameters of the model: all and active per token (embeddings included), and those of the
// MTP draft layers separately.
struct ParamCount {
  double total = 0, active = 0, mtp = 0;
};
ParamCount CountParams(const ModelConfig& m);

}  // namespace npusim
