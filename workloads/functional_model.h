// A reduced hybrid model run functionally, one rank, every layer through the kernel set: the
// functional executor of the layer graph (layer_graph.h), so the launches that time a step
// compute its numbers here (embedding, RMSNorms, cube matmuls, the GDN
// conv / gating / L2 norms / chunked or recurrent delta rule / gated norm, attention with QK
// norm, partial RoPE, paged FIA and the output gate, SwiGLU MLP, lm_head + argmax; for MTP
// verify the recurrent kernels in verify mode, then move_intermediate_cache and
// conv_state_rollback). Host code only moves data between kernels (column splits, the paged KV
// write, residual bookkeeping), as the framework does between launches. Weights are seeded
// synthetic bf16. Each kernel's own fp64 reference checks it on the inputs it was given; the
// largest error per kernel is kept (`kernel_errors`).
//
// Layouts chosen for the synthetic weights: in_proj_qkvz = [q | k | v | z], in_proj_ba = [b | a],
// q_proj = [q | gate] over all heads (elementwise gate; Step-3.5: q_proj plus a head-wise g_proj;
// Llama / Qwen2 / Qwen3: q only, no gate, QK-norm for Qwen3, q/k/v bias for Qwen2),
// gate_up = [gate | up], per expert too; the Qwen shared-expert gate is a [H, 1] projection.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "devices/device_config.h"
#include "ops/op.h"
#include "workloads/layer_graph.h"
#include "workloads/model_config.h"

namespace npusim {

struct FunctionalOptions {
  std::string gdn_impl = "triton_chain";  // decode/verify kernel: triton_chain ([HV,K,V] state) or
                                          // fused ([HV,V,K] bf16)
  std::string ssm_dtype = "float32";      // state pool dtype
  std::string intermediate_dtype = "float32";  // MTP verify: per-token state cache dtype
  int64_t draft_tokens = 0;  // MTP d (0: no MTP): sizes the conv window and caches
  std::string fault;         // "", transposed_state (S3), conv_state_shift (S6), swa_without_mask /
                             // no_swiglu_clamp (S4)
  uint64_t seed = 1;
  int64_t slots = 8;                   // state pool slots (slot 0 is the dummy slot)
  std::string mla_prolog = "unfused";  // MLA's absorbed-form preprocessing: unfused or fused
};

class FunctionalModel {
 public:
  FunctionalModel(const ModelConfig& m, const DeviceConfig& d, const FunctionalOptions& o);

  struct Entry {
    int64_t slot = 1;
    std::vector<int32_t> tokens;  // new tokens of this forward
    int64_t prefix = 0;           // tokens already processed for this request
  };
  struct Output {
    std::vector<std::vector<int32_t>> next;  // per entry: argmax after each sampled position
    std::vector<std::vector<float>> logits;  // per entry: logits at its last sampled position
    std::vector<std::vector<double>>
        hidden;  // per entry: final-norm input at its last position (for MTP)
  };
  // Prefill / extend: the chunk path; samples each entry's last position.
  Output Extend(const std::vector<Entry>& batch);
  // Decode (one token per entry) or MTP verify (d tokens per entry, every position sampled,
  // per-token states kept for Commit).
  Output Decode(const std::vector<Entry>& batch, bool verify = false);
  // After a verify: keep the state after accepted[i] + 1 tokens of entry i (0-based last step) —
  // ssm commit, conv rollback — and drop the rejected positions' KV.
  void Commit(const std::vector<Entry>& batch, const std::vector<int64_t>& last_steps);

  // The draft (MTP) layer: from a token and the target's hidden state at the previous position,
  // the next draft token. Its attention keeps its own KV per slot.
  int32_t Draft(int64_t slot, int32_t token, const std::vector<double>& hidden, int64_t position,
                std::vector<double>* draft_hidden);
  void TruncateDraft(int64_t slot, int64_t tokens);

  // The state of one slot after the last forward, for comparisons: every GDN layer's ssm state
  // (as doubles, pool layout) and conv window.
  std::vector<double> SsmState(int64_t slot) const;
  std::vector<double> ConvState(int64_t slot) const;
  void ResetSlot(int64_t slot);

  const std::map<std::string, double>& kernel_errors() const { return errors_; }
  const std::map<std::string, int64_t>& kernel_calls() const { return calls_; }
  // Every launch the graph emitted that the step graph times, "block:op", in order (the
  // functional forward and the timed step walk the same graph; tests compare the two).
  const std::vector<std::string>& timed_launches() const { return timed_; }
  const ModelConfig& config() const { return m_; }

 private:
  class Executor;
  Output Forward(const std::vector<Entry>& batch, ForwardKind kind);
  ForwardBatch Batch(const std::vector<Entry>& batch, ForwardKind kind) const;
  GraphOptions Options() const;
  Tensor Weight(const std::string& name, Shape shape, double scale);
  // A layer's weights and caches, drawn in a fixed order (the seed decides every value).
  void InitAttention(LayerTensors& L, bool sliding);
  void InitMla(LayerTensors& L);
  void InitMlp(LayerTensors& L, bool moe);
  void InitGdn(LayerTensors& L);
  void InitDraft();
  double InScale() const;  // 1 / sqrt(hidden): the input projections' weight scale
  std::vector<double> SlotOf(Tensor LayerTensors::*pool, int64_t slot) const;
  void KeepKv(LayerTensors& L, LayerKind kind, int64_t slot, int64_t tokens) const;
  void TransposeStoredStates(LayerTensors& L, const std::vector<int64_t>& slots);

  ModelConfig m_;
  DeviceConfig d_;
  FunctionalOptions o_;
  uint64_t draw_ = 0;
  Tensor embed_, final_norm_, lm_head_;
  std::vector<LayerSpec> specs_;
  std::vector<LayerTensors> layers_;
  // MTP draft layer: fc over [norm(embedding) | norm(hidden)], one attention + MLP layer.
  LayerGraph::DraftTensors draft_;
  std::map<std::string, double> errors_;
  std::map<std::string, int64_t> calls_;
  std::vector<std::string> timed_;
};

}  // namespace npusim
