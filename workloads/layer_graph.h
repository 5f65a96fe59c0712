// The one layer graph (issue #13 part 1). A model is a list of typed decoder layers (a token
// mixer — GDN, full or sliding attention — and an MLP — dense or MoE), the embedding before
// them, the head after them, the MTP commit after a verify and, for speculative decoding, a
// draft layer. Each layer emits its kernel launches once, here; two executors consume them:
// the timing step graph (step_graph.cpp records each launch at per-rank shapes and merges the
// layers' identical launches into counted calls) and the functional forward
// (functional_model.cpp runs each launch on tensors through the kernel set). A new model
// family is a layer list and, where it computes something new, a branch in one block here.
//
// What differs between the executors is declared on the launch, not written twice: parameters
// that change values but not time (eps, rope theta, pool layout, per-request lengths of a
// functional batch) are `numerics`; a launch whose time another launch already counts is
// `timed = false` (its call site says which); work the functional run does on the host
// (greedy acceptance) is `computed = false`. Host glue between launches (column splits, the
// paged KV write) runs only in the functional executor.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "ops/op.h"
#include "workloads/memory_plan.h"
#include "workloads/model_config.h"

namespace npusim {

// The blocks of a forward, in the order the step graph lists its calls.
enum class Block { kEmbedding, kGdn, kAttention, kSliding, kMoe, kDense, kHead, kCommit, kDraft };
// "head" (the embedding and the head), "gdn", "attention", "sliding", "moe", "dense", "commit",
// "draft".
const char* BlockName(Block b);

// What a forward computes: a prefill / extend chunk, one decode token, the MTP target's verify of
// the draft tokens, one draft step, or the draft layer's extend over the accepted tokens.
enum class ForwardKind { kPrefill, kDecode, kVerify, kDraft, kDraftExtend };
const char* ForwardKindName(
    ForwardKind k);  // "prefill", "decode", "verify", "draft", "draft_extend"
inline bool IsDraft(ForwardKind k) {
  return k == ForwardKind::kDraft || k == ForwardKind::kDraftExtend;
}

// One decoder layer: its token mixer and its MLP (Step-3.5's clamped SwiGLU when limit > 0).
struct LayerSpec {
  LayerKind mixer = LayerKind::kFullAttention;
  bool moe = false;
  double swiglu_limit = 0;
};
std::vector<LayerSpec> DecoderLayers(const ModelConfig& m);
// The MTP (NEXTN) draft layer: one decoder layer of the model's attention kind (MLA for
// DeepSeek) with the MLP kind of the model's last layer.
LayerSpec DraftLayer(const ModelConfig& m);

using Kvs = std::vector<std::pair<std::string, std::string>>;

struct Launch {
  Block where = Block::kHead;
  std::string op;
  Kvs params;            // what is timed, and the functional launch's parameters
  Kvs numerics;          // functional only, overriding same-named params: values, not time
  TensorMap inputs;      // functional only
  bool timed = true;     // false: another launch's time includes this one
  bool computed = true;  // false: the functional run does this on the host
  bool host_reads_result =
      false;  // eager: the host waits for this launch's result (DeepEP normal dispatch)
};

class GraphExecutor {
 public:
  virtual ~GraphExecutor() = default;
  virtual bool functional() const = 0;
  // Times or computes one launch; the functional executor returns its outputs by name.
  virtual TensorMap Run(Launch launch) = 0;
};

// The tensors of one layer for the functional executor: weights and the state it carries
// between forwards (the timing executor's are empty).
struct LayerTensors {
  Tensor in_norm, post_norm;
  // GDN
  Tensor w_qkvz, w_ba, conv_w, a_log, dt_bias, gdn_norm, w_out;
  Tensor conv_pool, ssm_pool, intermediate;  // intermediate: [B*d, HV, ...] of the last verify
  // attention: q (+ elementwise gate) | k | v in one projection; w_g: Step-3.5's head-wise gate
  Tensor w_qkv, w_o, w_g, q_norm, k_norm;
  Tensor b_q, b_k, b_v;  // Qwen2's q/k/v bias
  std::vector<std::vector<double>> k_cache,
      v_cache;  // per slot: tokens x (Nkv * D), bf16 values (MLA: the latent rows)
  // MLA: q down (w_q_a, q_lora 0: none) and up (w_q_b) projections, the kv down projection to
  // [latent | rope key] (w_kv_a), the norms of the two latents, kv_b_proj (w_kv_b: the latent to
  // each head's [k nope | v]) and the same numbers per head for the absorbed form (w_uk
  // [heads, nope, kv_lora], w_uv [heads, kv_lora, v]); w_o is o_proj.
  Tensor w_q_a, q_a_norm, w_q_b, w_kv_a, kv_a_norm, w_kv_b, w_uk, w_uv;
  // dense MLP, or MoE: router, experts [E, ...], shared expert (w_sg: its [H, 1] gate)
  Tensor w_gu, w_down;
  Tensor w_router, router_bias, w_egu, w_edown, w_sgu, w_sdown, w_sg;
};

// The requests of one forward: per request its pool slot, new tokens and cached tokens.
struct ForwardBatch {
  ForwardKind kind = ForwardKind::kDecode;
  std::vector<int64_t> slots, tokens, prefixes;
  int64_t requests() const { return static_cast<int64_t>(tokens.size()); }
  int64_t total_tokens() const;
  int64_t max_tokens() const;
  bool recurrent() const;  // the GDN kernels of one token (decode, draft) or of d tokens (verify)
  // The rows the head samples: every position in decode and verify, each request's last otherwise.
  std::vector<int64_t> SampledRows() const;
};
// `batch` requests of `tokens` new tokens after `prefix` cached ones (slots 1..batch).
ForwardBatch UniformBatch(ForwardKind kind, int64_t batch, int64_t tokens, int64_t prefix);

struct GraphOptions {
  WeightQuant quant =
      WeightQuant::kNone;          // linear layers (and experts) as dynamic_quant + int8 GEMMs
  std::string gdn_impl = "fused";  // recurrent GDN kernel: fused or triton_chain
  std::string gdn_prefill =
      "staged";  // chunk_gated_delta_rule: staged, triton (staged, Triton forms), mega, torch
  std::string ssm_dtype;  // empty: the model's (the fused recurrent op: bfloat16)
  std::string mla_prolog =
      "unfused";  // MLA's absorbed-form preprocessing: unfused launches or the fused mla_prolog
  // DeepEP (a2a) in normal mode for this forward, its dispatch payload "bf16" or "int8"; empty:
  // low-latency mode (the relay all_to_all). Timing only.
  std::string deepep_normal;
  // functional only
  std::string fault;       // transposed_state (S3), conv_state_shift (S6), swa_without_mask /
                           // no_swiglu_clamp (S4)
  int64_t pool_slots = 0;  // state pool slots (0: timing, the kernels' default)
};

// The graph of one model under one parallel plan, emitting into one executor. Tensors in and out
// are the functional executor's; the timing executor passes and gets empty ones.
struct MlaDims;  // MLA's sizes for one batch (layer_graph.cpp)
struct GdnDims;  // GDN's, likewise

class LayerGraph {
 public:
  LayerGraph(const ModelConfig& m, const ParallelPlan& p, const GraphOptions& o, GraphExecutor& x);

  // The embedding of the batch's tokens (`ids`, functional) and its all-reduce.
  Tensor Embed(const ForwardBatch& b, const std::vector<int64_t>& ids, const Tensor& table);
  // Every decoder layer over the embedded tokens; `layers` holds one LayerTensors per layer.
  // Returns the last MLP's output and leaves the residual stream in `residual`.
  Tensor Decoder(const ForwardBatch& b, const std::vector<LayerSpec>& specs,
                 std::vector<LayerTensors>& layers, const Tensor& x, Tensor* residual);
  // One decoder layer (the draft's: first = true, no residual in).
  Tensor Layer(const ForwardBatch& b, const LayerSpec& spec, LayerTensors& L, const Tensor& delta,
               Tensor* residual, bool first);
  // Final norm and lm_head over the sampled rows; `hidden` gets their residual stream (the MTP
  // draft's input), `logits` the logits. Returns the argmax per sampled row.
  Tensor Head(const ForwardBatch& b, const Tensor& delta, const Tensor& residual,
              const Tensor& final_norm, const Tensor& lm_head, Tensor* hidden, Tensor* logits);
  // After a verify: greedy acceptance (the functional run accepts on the host), then every GDN
  // layer's ssm state and conv window of the accepted position committed to the pools.
  void Commit(const ForwardBatch& b, std::vector<LayerTensors*> gdn,
              const std::vector<int64_t>& last_steps);

  // A draft forward (MTP / EAGLE): the embedding, the draft layer's input, its decoder layer and
  // its head. NEXTN: fc over [norm(embedding) | norm(target hidden)]; EAGLE3 (timing only): with
  // tokens > 1 (the extend over the target's accepted tokens) an fc over the target's three
  // captured hidden states (3 x target_hidden wide), else the embedding as is.
  struct DraftTensors {
    Tensor fc, norm_e, norm_h, final_norm;
    LayerTensors layer;
  };
  Tensor Draft(const ForwardBatch& b, const std::vector<int64_t>& ids, const Tensor& table,
               const Tensor& target_hidden, DraftTensors& w, const Tensor& lm_head, Tensor* hidden);

  Tensor Norm(Block where, const Tensor& x, const Tensor& w, int64_t rows, int64_t hidden,
              const Tensor* residual, Tensor* residual_out, bool timed = true);
  Tensor Linear(Block where, const Tensor& x, const Tensor& w, int64_t m, int64_t k, int64_t n,
                bool quantise_input = true);

  const RankShapes& shapes() const { return s_; }

 private:
  Tensor Gdn(const ForwardBatch& b, LayerTensors& L, const Tensor& x);
  GdnDims GdnSizes(const ForwardBatch& b) const;
  Tensor GdnRecurrent(const ForwardBatch& b, LayerTensors& L, const Tensor& mixed, const Tensor& a,
                      const Tensor& bb);
  Tensor GdnChunked(const ForwardBatch& b, LayerTensors& L, const Tensor& mixed, const Tensor& a,
                    const Tensor& bb);
  Tensor Attention(const ForwardBatch& b, const LayerSpec& spec, LayerTensors& L, const Tensor& x);
  // Qwen2's q / k / v biases: in the GEMM's epilogue when timed, an add when computed.
  void AddQkvBias(Block where, Tensor& q, Tensor& k, Tensor& v, const LayerTensors& L);
  // One FIA call over the batch (`q`, `k` after RoPE, `v`): the paged KV write first.
  Tensor AttentionCall(const ForwardBatch& b, bool sliding, int64_t Nq, int64_t Nkv, int64_t D,
                       LayerTensors& L, const Tensor& q, const Tensor& k, const Tensor& v);
  Tensor Mla(const ForwardBatch& b, LayerTensors& L, const Tensor& x);
  MlaDims MlaSizes(const ForwardBatch& b) const;
  void MlaProject(const ForwardBatch& b, const MlaDims& d, LayerTensors& L, const Tensor& x,
                  Tensor& q, Tensor& q_rope);
  Tensor MlaAbsorbed(const ForwardBatch& b, const MlaDims& d, LayerTensors& L, const Tensor& x,
                     const Tensor& q, const Tensor& q_rope, Kvs fia);
  Tensor MlaDecompressed(const ForwardBatch& b, const MlaDims& d, LayerTensors& L, const Tensor& q,
                         const Tensor& q_rope, Kvs fia);
  void AddLengths(TensorMap& in, const Tensor& table, const std::vector<int64_t>& ql,
                  const std::vector<int64_t>& kvlens);
  // The fused absorbed-form preprocessing: FIA's query and latent cache (functional), its block
  // table and lengths.
  TensorMap MlaProlog(const ForwardBatch& b, LayerTensors& L, const Tensor& x, Tensor* table,
                      std::vector<int64_t>* q_lens, std::vector<int64_t>* kv_lens);
  // Per-head GEMMs of MLA's absorbed form: x [T, heads, k] by w [heads, k, n] -> [T, heads, n], as
  // one grouped GEMM over head-major rows (the host transposes around it in functional runs).
  Tensor HeadGemm(const Tensor& x, const Tensor& w, int64_t T, int64_t heads, int64_t k, int64_t n);
  // The functional paged cache of a batch: `rows` per token (its width) from each request's
  // per-slot rows, pages laid out request after request; returns the cache [pages, kPage, width]
  // and fills the block table and the cumulative query / per-request KV lengths.
  Tensor PagedCache(const ForwardBatch& b, const std::vector<std::vector<double>>& per_slot,
                    int64_t width, const std::string& name, Tensor* table,
                    std::vector<int64_t>* q_lens, std::vector<int64_t>* kv_lens) const;
  Tensor Mlp(const LayerSpec& spec, LayerTensors& L, const Tensor& x, int64_t T);
  Tensor Moe(const LayerSpec& spec, LayerTensors& L, const Tensor& x, int64_t T);
  void DeepEp(bool dispatch, int64_t rows);
  std::string SharedExpert(const LayerSpec& spec, LayerTensors& L, const Tensor& x, int64_t Tm,
                           TensorMap& fin);
  Tensor Swiglu(Block where, const LayerSpec& spec, const Tensor& x, int64_t rows, int64_t inter);
  void Collective(Block where, const char* op, int64_t ranks, int64_t elements,
                  bool host_reads_result = false);
  TensorMap Run(Block where, const std::string& op, Kvs params, TensorMap inputs = {},
                Kvs numerics = {});
  std::string SsmDtype() const;  // SsmPoolDtype of these options

  const ModelConfig& m_;
  ParallelPlan p_;
  GraphOptions o_;
  GraphExecutor& x_;
  RankShapes s_;
};

}  // namespace npusim
