// Per-rank shapes of a model under a parallel plan, and the HBM plan of one rank: weights, the
// paged KV pool, the mamba state pool (conv + ssm), the MTP intermediate caches and a
// workspace reserve, within mem_fraction_static of the HBM (issue #4 part 3).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "devices/device_config.h"
#include "workloads/model_config.h"

namespace npusim {

struct ParallelPlan {
  int64_t tp = 1;    // tp_size: ranks of the model
  int64_t dp = 1;    // dp_size: data-parallel attention groups (attention TP = tp / dp)
  int64_t ep = 1;    // ep_size: expert-parallel ranks (MoE TP = tp / ep)
  bool a2a = false;  // moe_a2a_backend deepep: MoE dispatch/combine by all-to-all, else all-reduce
  bool dp_lm_head =
      false;  // enable_dp_lm_head: embedding/lm_head vocab-parallel within the attention TP group
};

struct RankShapes {
  int64_t attn_tp = 1, moe_tp = 1;
  int64_t q_heads = 0, kv_heads = 0, swa_q_heads = 0,
          swa_kv_heads = 0;  // KV heads replicated below attn_tp
  int64_t lin_key_heads = 0, lin_value_heads = 0, conv_dim = 0;
  int64_t experts = 0, moe_intermediate = 0, shared_intermediate = 0, dense_intermediate = 0;
  int64_t vocab = 0;  // embedding / lm_head shard
};

// InputError when a size does not divide (heads by attention TP, experts by EP, ...).
RankShapes ShapesPerRank(const ModelConfig& m, const ParallelPlan& p);

// Weights: bf16; W8A8 (every linear layer and expert int8); W4A8 (routed experts int4, the rest
// int8).
enum class WeightQuant { kNone, kW8A8, kW4A8 };
// The `quantization` run key's value ("", "w8a8_dynamic", "w4a8_dynamic"); InputError otherwise.
WeightQuant ParseWeightQuant(const std::string& quantization);

struct MemoryOptions {
  double mem_fraction_static = 0.8;       // share of HBM for weights + pools (SGLang server arg)
  std::string ssm_dtype;                  // empty: SsmPoolDtype's default for gdn_decode_impl
  std::string gdn_decode_impl = "fused";  // the recurrent GDN op, which decides that default
  std::string quantization;               // "" (bf16), "w8a8_dynamic" or "w4a8_dynamic"
  int64_t draft_tokens = 0;               // speculative_num_draft_tokens (0: no MTP)
  std::string draft_quantization;         // the draft's weights: "" (bf16) or w8a8_dynamic
  const ModelConfig* eagle3_draft =
      nullptr;  // EAGLE3: the draft model, whose weights replace the MTP layers
  int64_t max_running_requests = 48;  // per rank (SGLang divides the server's value by dp_size)
  int64_t page_size = 128;
  int64_t max_total_tokens = 0;  // cap on the KV pool in tokens (0: none), whole pages
  int64_t mamba_slots =
      0;  // SGLang --max-mamba-cache-size per rank (0: sized as SGLang does, below)
  bool radix_cache = false;   // prefix caching on (SGLang sizes the mamba pool for snapshots then)
  bool extra_buffer = false;  // mamba_scheduler_strategy extra_buffer (ping-pong track buffers)
  double mamba_full_memory_ratio =
      0.9;  // SGLang: mamba pool : KV pool memory when the pool is sized by memory
  int64_t workspace_bytes = 2LL << 30;  // activations and kernel workspaces [estimate, not sourced]
};

struct MemoryPlan {
  int64_t hbm = 0, budget = 0;  // budget = mem_fraction_static x HBM
  int64_t weights = 0, mtp_weights = 0, workspace = 0;
  int64_t mamba_per_request = 0, spec_per_request = 0;  // conv + ssm state; MTP intermediate caches
  int64_t slots = 0;  // mamba state slots: running requests, their track buffers, snapshots
  int64_t max_running =
      0;  // running requests per rank the mamba pool allows (hybrid), else as asked
  int64_t snapshot_slots = 0;          // slots left for the prefix cache's state snapshots
  int64_t spec_slots = 0;              // requests with MTP intermediate caches (max_running + 1)
  int64_t mamba_pool = 0;              // slots x mamba + spec_slots x spec per request
  int64_t kv_per_token = 0;            // full-attention layers, this rank
  int64_t swa_kv_per_request = 0;      // sliding layers: window tokens per request
  int64_t kv_pool = 0, kv_tokens = 0;  // what is left, in whole pages
  std::vector<std::pair<std::string, int64_t>> Breakdown() const;
};

// Throws SimFailure("out_of_memory") with the breakdown when weights and state do not fit.
MemoryPlan PlanMemory(const ModelConfig& m, const ParallelPlan& p, const DeviceConfig& d,
                      const MemoryOptions& o);

}  // namespace npusim
