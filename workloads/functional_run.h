// A functional serving run of a reduced model: the scheduler forms the same batches as in a
// timed run (all requests arriving at once), the FunctionalModel computes every forward with the
// kernels, and the run records what came out — tokens, the first token's logits and each
// request's state right after its prefill, MTP accept lengths — so two runs (chunked vs
// unchunked prefill, MTP vs none, with or without an injected fault) can be compared.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "workloads/functional_model.h"
#include "workloads/scheduler.h"

namespace npusim {

struct FunctionalRequest {
  int64_t id = 0;
  std::vector<int32_t> prompt;
  int64_t output_len = 0;
};

struct FunctionalRecord {
  std::vector<int32_t> tokens;      // generated
  std::vector<float> first_logits;  // logits of the first generated token
  std::vector<double> ssm_after_prefill, conv_after_prefill;
  std::vector<double> ssm_final;                  // after the last forward that touched the request
  std::vector<int64_t> accept_lengths;            // tokens per MTP round
  std::map<int64_t, std::vector<double>> states;  // ssm state by tokens processed (checkpoints)
};

struct FunctionalResult {
  std::vector<FunctionalRecord> requests;
  int64_t steps = 0,
          mixed_prefill_steps = 0;  // prefill steps with requests with and without a prefix
  std::map<std::string, double> kernel_errors;
  std::map<std::string, int64_t> kernel_calls;
};

std::vector<FunctionalRequest> FunctionalRequests(int64_t count, int64_t input_len,
                                                  int64_t output_len, int64_t vocab, uint64_t seed);

FunctionalResult RunFunctional(const ModelConfig& m, const DeviceConfig& d,
                               const FunctionalOptions& o, SchedulerConfig sc,
                               const std::vector<FunctionalRequest>& reqs);

// Comparison of run `b` against run `a` (the reference).
struct FunctionalDiff {
  bool tokens_equal = true;
  int64_t first_divergence_request = -1, first_divergence_token = -1;  // -1: none
  int64_t requests_diverged = 0;
  // When the first divergence is a request's first token: the reference's top-2 logit margin
  // there (a margin below max_logit_diff is a near tie flipped by rounding); -1 otherwise.
  double divergence_margin = -1;
  double max_state_diff = 0;  // ssm state right after prefill, max abs over requests
  double max_conv_diff = 0;
  double max_logit_diff = 0;  // first generated token's logits
  double max_final_state_diff = 0;
  double max_checkpoint_state_diff = 0;  // ssm states at the same number of processed tokens
  int64_t checkpoints_compared = 0;
};
FunctionalDiff Compare(const FunctionalResult& a, const FunctionalResult& b);

struct ResolvedRun;

// What `npusim run` does with mode: functional. Three runs of the configured requests (prompt
// tokens drawn with the run's seed): `reference` unchunked, no MTP, no fault; `chunked` with the
// configured chunked_prefill_size (and fault); `mtp` as configured (MTP on, fault) when MTP is
// on. Then the per-position acceptance the model's own draft achieved, for the timed run.
struct FunctionalStudy {
  FunctionalResult reference, chunked, mtp;
  bool has_mtp = false;
  FunctionalDiff chunked_vs_reference, mtp_vs_chunked;
  std::vector<double> accept_rates;  // P(draft position i accepted | all before accepted)
  double accept_length = 0;
};
// `progress` (may be null) hears which run starts.
FunctionalStudy RunFunctionalStudy(
    const ResolvedRun& s, const std::function<void(const std::string&)>& progress = nullptr);

}  // namespace npusim
