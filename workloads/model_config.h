// A model's architecture, read from a HuggingFace config.json as is (or a YAML with the same
// keys). Hybrid families: qwen3_next, qwen3_5_moe / qwen3_5 (text settings at the top level or
// under `text_config`) and step3p5; attention-only families: qwen3 (QK-norm), qwen3_moe
// (`decoder_sparse_step`, `mlp_only_layers`, `norm_topk_prob`), llama (Llama-3 rope scaling),
// qwen2 (q/k/v bias) and deepseek_v3 (MLA, group-limited sigmoid routing, yarn; shapes and
// memory only until the MLA kernels exist). Keys the simulator does not use are ignored; a key it
// needs that is missing or has a bad value is an InputError naming file:line:col (kernels.md §9).
// No layer the config does not declare is added: an MTP layer only where the family ships one
// (qwen3_next, qwen3_5*, step3p5) or the config counts them.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace npusim {

// kMla: DeepSeek's multi-head latent attention (a compressed KV latent per token; issue #14). Its
// shapes and memory are planned; its kernels are not in the set yet, so no forward runs it.
enum class LayerKind { kLinearAttention, kFullAttention, kSlidingAttention, kMla };
const char* LayerKindName(LayerKind k);

// Llama-3 rope scaling (`rope_scaling.rope_type: llama3`): long wavelengths divided by `factor`,
// short ones kept, a smooth blend between (low_freq_factor, high_freq_factor).
struct RopeScaling {
  std::string type = "default";  // default, llama3 or (DeepSeek) yarn
  double factor = 0;             // 0: none
  double low_freq_factor = 1, high_freq_factor = 4;
  int64_t original_max_position = 8192;
  double beta_fast = 32, beta_slow = 1, mscale = 1, mscale_all_dim = 0;  // yarn
};

// Multi-head latent attention (DeepSeek-V2/V3): q through a low-rank q_lora (or a plain q_proj
// when q_lora_rank is 0), k and v from one kv_lora latent per token plus a shared rope key.
struct MlaShape {
  int64_t q_lora_rank = 0, kv_lora_rank = 0, qk_nope_head_dim = 0, qk_rope_head_dim = 0,
          v_head_dim = 0;
  int64_t latent_per_token() const {
    return kv_lora_rank + qk_rope_head_dim;
  }  // cached per layer and token
};

struct AttentionShape {
  int64_t heads = 0, kv_heads = 0, head_dim = 0;
  double rope_theta = 0, partial_rotary = 1.0;
  RopeScaling rope_scaling;
};

// The attention output gate: none (Llama, Qwen2/3), elementwise from q_proj's second half
// (Qwen3-Next, Qwen3.5), or one gate per head from a g_proj (Step-3.5).
enum class AttentionGate { kNone, kElementwise, kHeadwise };

struct ModelConfig {
  std::string file, model_type;
  int64_t hidden = 0, vocab = 0;
  double rms_norm_eps = 0;
  std::vector<LayerKind> layers;  // decoder layers, MTP layers excluded
  int64_t mtp_layers = 0;

  AttentionShape full, sliding;  // sliding: SWA layers (Step-3.5's attention_other_setting)
  MlaShape mla;  // kMla layers (full.heads are its heads, full.head_dim nope + rope)
  int64_t sliding_window = 0;
  AttentionGate gate = AttentionGate::kNone;
  bool qk_norm = false;   // per-head RMSNorm of q and k before RoPE (Qwen3 families, Step-3.5)
  bool qkv_bias = false;  // q/k/v projections with a bias (Qwen2; Llama's attention_bias)
  bool tied_embeddings = false;  // lm_head shares the embedding table (tie_word_embeddings)
  // An EAGLE3 draft model (LlamaForCausalLMEagle3): one decoder layer whose attention reads
  // [norm(embedding) | norm(hidden)] (2 x hidden wide), an fc folding the target's three captured
  // hidden states (3 x target_hidden -> hidden) wherever the draft consumes the target's states,
  // and an lm_head over draft_vocab tokens (mapped back to the target's vocabulary).
  bool eagle3 = false;
  int64_t draft_vocab = 0, target_hidden = 0;
  int64_t attn_input_width() const { return eagle3 ? 2 * hidden : hidden; }
  // q_proj's output columns for `q` heads of `head_dim` (doubled by an elementwise gate) and the
  // g_proj's (head-wise gate): the one place that knows the projections' widths.
  int64_t q_proj_width(int64_t q, int64_t head_dim) const {
    return q * head_dim * (gate == AttentionGate::kElementwise ? 2 : 1);
  }
  int64_t g_proj_width(int64_t q) const { return gate == AttentionGate::kHeadwise ? q : 0; }

  // Gated DeltaNet layers.
  int64_t lin_key_heads = 0, lin_value_heads = 0, lin_key_dim = 0, lin_value_dim = 0,
          conv_kernel = 0;
  std::string mamba_ssm_dtype = "float32";

  // MLP / MoE.
  std::vector<bool> moe_layer;  // per decoder layer: routed experts, else a dense MLP
  int64_t experts = 0, top_k = 0, moe_intermediate = 0, shared_intermediate = 0,
          dense_intermediate = 0;
  bool shared_gated = false, sigmoid_router = false, norm_topk = true;
  double routed_scaling = 1.0;
  int64_t expert_groups = 1,
          topk_groups = 1;  // DeepSeek's group-limited routing (n_group, topk_group)
  bool score_bias = false;  // noaux_tc: a per-expert correction bias on the scores
  // The checkpoint's MTP layers carry their own embedding and lm_head copies (DeepSeek-V3: the
  // published 685 B counts them; at inference they are the main model's).
  bool mtp_own_embeddings = false;
  std::vector<double> swiglu_limits;  // per layer, 0 = off (Step-3.5)

  int64_t count(LayerKind k) const;
  int64_t conv_dim() const {
    return 2 * lin_key_heads * lin_key_dim + lin_value_heads * lin_value_dim;
  }
};

// The model_type values LoadModelConfig accepts.
const std::vector<std::string>& SupportedModelTypes();
ModelConfig LoadModelConfig(const std::string& path);

// The GDN state pool's dtype, one rule for every reader (memory plan, step graph, functional
// run): the run's `requested` mamba_ssm_dtype; else bfloat16 when the fused AscendC recurrent op
// decodes (it is instantiated for a bf16 pool only, kernels.md §3.5, and the chunked prefill
// reads the same pool); else the model's.
std::string SsmPoolDtype(const std::string& requested, const std::string& gdn_decode_impl,
                         const ModelConfig& m);
ModelConfig ParseModelConfig(const std::string& text, const std::string& file);

// Parameters of the model: all and active per token (embeddings included), and those of the
// MTP draft layers separately.
struct ParamCount {
  double total = 0, active = 0, mtp = 0;
};
ParamCount CountParams(const ModelConfig& m);

}  // namespace npusim
