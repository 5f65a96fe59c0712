// The timing executor of the layer graph (layer_graph.h): the kernels one rank launches for one
// forward step of a model over `batch` requests of `tokens` new tokens each after `prefix`
// cached ones — decode (tokens = 1), prefill / extend, MTP verify, or a draft forward — at
// per-rank shapes, the layers' identical launches merged into counted calls, and the step's
// device time from the kernel simulator (memoised by shape). Host costs are the serving
// engine's (step_cost.h, serving.h).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "devices/device_config.h"
#include "devices/instr.h"
#include "ops/runner.h"
#include "workloads/layer_graph.h"
#include "workloads/memory_plan.h"
#include "workloads/model_config.h"

namespace npusim {

struct KernelCall {
  std::string op;
  std::vector<std::pair<std::string, std::string>> params;
  int64_t count = 1;  // launches per step (layers of this kind)
  std::string
      where;  // BlockName: "gdn", "attention", "sliding", "moe", "dense", "head", "commit", "draft"
  // The host reads this launch's result before it can issue the next one when the forward runs
  // eagerly (DeepEP's normal-mode dispatch: the receive counts size the next buffers).
  bool host_reads_result = false;
};

// A captured attention launch whose parameters the host refreshes before every graph replay:
// fused_infer_attention_score takes its sequence lengths as a host list (actual_seq_lengths_kv is
// SymInt[] in the op schema, its tiling computed at dispatch), so a replayed graph's FIA task is
// re-issued on an update stream (graph_task_update_begin / end) and waits for that on the device
// (vllm-ascend attention_v1.py update_graph_params; SGLang npu_graph_runner.py _update_inputs).
inline bool RefreshedBeforeReplay(const KernelCall& c) {
  return c.op == "fused_infer_attention_score";
}

struct StepShape {
  ForwardKind kind =
      ForwardKind::kDecode;        // kVerify: the recurrent kernels in verify mode, logits for
                                   // every token, greedy acceptance, state commit; otherwise
                                   // tokens = 1 is a decode and more a prefill / extend
  int64_t batch = 24;              // requests in the step on this rank
  int64_t tokens = 1;              // new tokens per request (1 = decode)
  int64_t prefix = 4095;           // tokens already cached per request
  std::string gdn_impl = "fused";  // decode: recurrent_gated_delta_rule impl, fused or triton_chain
  std::string gdn_prefill =
      "staged";  // prefill: chunk_gated_delta_rule staged, triton (staged, Triton forms) or mega
  std::string mla_prolog =
      "unfused";          // MLA decode / verify / draft: unfused launches or the fused mla_prolog
  std::string ssm_dtype;  // empty: the model's (the fused decode op needs bfloat16)
  // DeepEP's normal mode, which `auto` takes for the target's prefill / extend: its dispatch
  // payload, bf16 or int8.
  std::string deepep_normal = "bf16";
  // Weights: bf16; W8A8 (linear layers and experts as dynamic_quant + int8 GEMMs); or W4A8
  // (the routed experts int4, the rest as W8A8).
  WeightQuant quant = WeightQuant::kNone;
  WeightQuant draft_quant =
      WeightQuant::kNone;  // a draft forward's weights (drafts are usually served unquantised)
  bool verify() const { return kind == ForwardKind::kVerify; }
};

// One MTP draft step (NEXTN): the draft layer (fc over [embedding | hidden], one decoder layer)
// and its lm_head for `batch` tokens.
std::vector<KernelCall> DraftStepKernels(const ModelConfig& m, const ParallelPlan& p,
                                         const StepShape& o, std::vector<int>* order = nullptr);
// One forward of an EAGLE3 draft model `d` (ModelConfig::eagle3) for `batch` x `tokens`: its
// decoder layer and draft-vocabulary lm_head, and with tokens > 1 (the draft extend over the
// target's accepted tokens) the fc over the target's three captured hidden states first.
std::vector<KernelCall> Eagle3DraftKernels(const ModelConfig& d, const ParallelPlan& p,
                                           const StepShape& o, std::vector<int>* order = nullptr);

// The step's calls; `order`, if given, gets the host's issue order of every launch (layer by layer,
// as the graph emits them) as indices into the calls.
std::vector<KernelCall> StepKernels(const ModelConfig& m, const ParallelPlan& p, const StepShape& o,
                                    std::vector<int>* order = nullptr);

// What one launch of a kernel call did: its time and where the time went, for the reports'
// per-kernel pipe utilisation and roofline position.
struct KernelProfile {
  double us = 0, roofline_us = 0;
  int64_t launches = 1;   // device launches the op issues (the host pays for each when eager)
  int64_t torch_ops = 0;  // of them, torch ops a Python composite issues (priced as such)
  std::string bound;      // the roofline's binding resource: memory, cube, vector or link
  double cube_flops = 0, hbm_bytes = 0;
  std::array<double, 2 * kNumPipes> busy_us{};  // per-core busy time: AIC pipes, then AIV pipes
};
KernelProfile ProfileOf(const KernelRun& r, const DeviceConfig& d);
// "aic.M", "aiv.MTE2", ... for KernelProfile::busy_us[i].
std::string ProfilePipeName(int i);

struct StepTime {
  double total_us = 0;
  std::vector<std::pair<KernelCall, double>> calls;  // each call and its time per launch (us)
  std::vector<KernelProfile> profiles;               // per call
};
// Runs every distinct call timing-only on `d`; SimFailure / InputError from a kernel propagate.
StepTime TimeStep(const ModelConfig& m, const ParallelPlan& p, const DeviceConfig& d,
                  const StepShape& o);
StepTime TimeCalls(const std::vector<KernelCall>& calls, const DeviceConfig& d);
// The call's profile from the on-disk kernel cache (kernel_cache.h) on the device of that
// fingerprint (ops/runner.h DeviceFingerprint), nullopt when the cache is off (or no
// fingerprint is given) or has no entry:
// what TimeCalls reads before simulating, for a timer that would rather not hand a remembered
// call to a worker process.
std::optional<KernelProfile> CachedCallProfile(const KernelCall& c,
                                               const std::string& device_fingerprint);

// One step of the model timed on a device, and with `draft_tokens` >= 2 (decode only) one MTP
// round (NEXTN, topk 1): draft_tokens - 1 draft steps, then the target verifies them all.
struct StepStudy {
  StepShape step;
  bool prefill = false;
  StepTime time;
  int64_t draft_tokens = 0;
  std::optional<StepTime> draft, verify;  // the round's parts, when there is a round
  double RoundUs() const;
};
StepStudy StudyStep(const ModelConfig& m, const ParallelPlan& p, const DeviceConfig& d,
                    const StepShape& step, bool prefill, int64_t draft_tokens);

}  // namespace npusim
