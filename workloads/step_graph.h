// The kernels one rank launches for one decode step of a model (one token per request): the
// per-layer graph of kernel-set launches at per-rank shapes, and its device time from the
// kernel simulator (memoised by shape). The serving engine (issue #4) builds on this; host
// launch cost and graph capture are not in it.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "devices/device_config.h"
#include "workloads/memory_plan.h"
#include "workloads/model_config.h"

namespace npusim {

struct KernelCall {
  std::string op;
  std::vector<std::pair<std::string, std::string>> params;
  int64_t count = 1;  // launches per step (layers of this kind)
  std::string where;  // "gdn", "attention", "sliding", "moe", "dense", "head"
};

struct DecodeOptions {
  int64_t batch = 24;       // requests decoding on this rank
  int64_t context = 4096;   // KV tokens per request (the new token included)
  std::string gdn_impl = "fused";  // recurrent_gated_delta_rule impl: fused or triton_chain
  std::string ssm_dtype;    // empty: the model's (the fused op needs bfloat16)
};

std::vector<KernelCall> DecodeStep(const ModelConfig& m, const ParallelPlan& p, const DecodeOptions& o);

struct StepTime {
  double total_us = 0;
  std::vector<std::pair<KernelCall, double>> calls;  // each call and its time per launch (us)
};
// Runs every distinct call timing-only on `d`; SimFailure / InputError from a kernel propagate.
StepTime TimeDecodeStep(const ModelConfig& m, const ParallelPlan& p, const DeviceConfig& d, const DecodeOptions& o);

}  // namespace npusim
