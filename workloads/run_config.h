// A serving run: the model, the chips, SGLang's server arguments, the host's issue costs and
// the load, as `npusim run RUN.yaml` reads them (flat keys, SGLang and bench_serving names).
// Every key is declared once in Bind() with unit and description; `--set key=value` overrides.
#pragma once

#include <cstdint>
#include <limits>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "model/config.h"
#include "workloads/host_profile.h"
#include "workloads/memory_plan.h"

namespace npusim {

struct RunConfig {
  std::string file;  // the YAML it came from ("" for defaults)
  std::vector<std::pair<std::string, std::string>>
      overrides;      // the --set key=value pairs applied, in order
  std::string model;  // HF config.json (or YAML with its keys), relative to the run file
  std::string device = "Ascend910B3";
  int64_t seed = 1;
  std::string mode =
      "timing";  // timing, or functional: a reduced model's numbers through the kernels too
  std::string fault =
      "none";  // functional fault injection: transposed_state (S3), conv_state_shift (S6)

  // SGLang server arguments.
  int64_t tp_size = 1, dp_size = 1, ep_size = 1;
  int64_t servers = 1;  // identical servers of this setup behind the router (e.g. the two prefill
                        // servers of a 2P1D deployment)
  bool enable_dp_attention = false, enable_dp_lm_head = false;
  std::string load_balance_method =
      "round_robin";  // replicated DP (dp_size without DP attention): the router's policy
  std::string moe_a2a_backend = "none";  // none (all-reduce) or deepep (all-to-all)
  // DeepEP normal mode (the prefill's all-to-all): bf16 rows, or int8 with a per-row scale
  // (SGLang env DEEP_NORMAL_MODE_USE_INT8_QUANT=1).
  std::string deepep_normal_dispatch = "bf16";
  int64_t max_running_requests = 48, context_length = 8192;
  int64_t chunked_prefill_size = 8192, max_prefill_tokens = 16384, page_size = 128;
  int64_t max_total_tokens = 0;      // KV pool cap per rank (0: what memory allows)
  bool disable_radix_cache = false;  // prefix caching off
  std::string mamba_scheduler_strategy =
      "no_buffer";                       // hybrid prefix caching: no_buffer or extra_buffer
  int64_t mamba_track_interval = 256;    // extra_buffer: tokens between state snapshots
  int64_t max_mamba_cache_size = 0;      // mamba state slots (0: as SGLang sizes them)
  double mamba_full_memory_ratio = 0.9;  // SGLang: mamba pool : KV memory when sized by memory
  double mem_fraction_static = 0.8;
  std::string mamba_ssm_dtype;                       // "" = the model's
  std::string quantization;                          // "", w8a8_dynamic or w4a8_dynamic
  std::string speculative_draft_model_quantization;  // the draft's weights: "" / unquant (bf16) or
                                                     // w8a8_dynamic
  std::vector<int64_t> cuda_graph_bs = {1, 2, 4, 8, 16, 24, 32, 48, 64};
  bool disable_cuda_graph = false, enable_mixed_chunk = false;
  bool enable_prefill_delayer = false;  // SGLang's prefill delayer
                                        // (SGLANG_SCHEDULER_DECREASE_PREFILL_IDLE=1)
  int64_t prefill_delayer_max_delay_passes =
      30;  // its bound on passes delayed while only some DP groups could prefill
  double prefill_delayer_queue_min_ratio = 0;  // its queue trigger (0: off)
  double prefill_delayer_max_delay_ms =
      5000;                               // the queue trigger's bound (SGLang's fallback 5000 ms)
  int64_t prefill_max_requests = 0;       // new requests per prefill batch (0: no limit)
  std::string gdn_decode_impl = "fused";  // recurrent GDN decode: fused AscendC op or triton_chain
  std::string gdn_prefill_impl = "staged";  // chunked GDN prefill: staged launches (AscendC or
                                            // Triton forms) or one mega kernel
  std::string mla_prolog =
      "unfused";  // MLA's absorbed-form preprocessing: unfused launches or mla_prolog
  std::string speculative_algorithm;         // "", NEXTN or EAGLE3
  std::string speculative_draft_model_path;  // EAGLE3: the draft model's config.json
  int64_t speculative_num_steps = 3, speculative_eagle_topk = 1, speculative_num_draft_tokens = 4;
  // Timing-only: P(draft i accepted | all before were). [unsourced estimate]; its accept length
  // 2.52 at 3 drafts is within 6 % of the 2.39 ik_llama.cpp PR #2369 measured for free text with
  // a Qwen3.x-Next MTP head (code reached 3.76): real acceptance depends on the data.
  std::vector<double> speculative_accept_rates = {0.8, 0.6, 0.5};

  // Host: what issuing work costs, from a host profile (configs/hosts/<name>.yaml, sources there);
  // the host_* keys override one value of it for this run (-1 = the profile's).
  std::string host_profile = "sglang-ascend";
  double host_launch_us = -1;        // eager: host time per kernel launch
  double host_graph_replay_us = -1;  // graph-captured forward: one replay
  double host_graph_update_us = -1;  // graph replay: the host refresh of one attention launch
  double host_step_us = -1;          // scheduler, sampling and output handling per step
  double host_request_us = -1;       // the front end's latency per request

  // Load (bench_serving arguments).
  std::string dataset_name =
      "random";  // random, generated-shared-prefix, or trace (dataset_path, JSONL)
  std::string dataset_path;
  int64_t gsp_num_groups = 64,
          gsp_prompts_per_group = 16;  // generated-shared-prefix (bench_serving's defaults)
  int64_t gsp_system_prompt_len = 2048, gsp_question_len = 128, gsp_output_len = 256;
  int64_t warmup_requests =
      1;  // bench_serving: requests sent before the timed load (they only warm the cache here)
  int64_t num_prompts = 16, random_input_len = 1024, random_output_len = 256;
  double random_range_ratio = 1.0;
  double request_rate =
      std::numeric_limits<double>::infinity();  // requests/s, Poisson arrivals; inf = all at t = 0
  int64_t max_concurrency = 0;                  // 0 = unlimited

  bool trace_kernels = false;  // trace.json: every kernel launch on the device track too

  // Prefill/decode disaggregation: `prefill:` and `decode:` maps of server arguments, each laid
  // over this file's for its pool (SGLang's --disaggregation-mode prefill / decode servers behind
  // a PD router). A pool's replicas are its servers, times its dp_size without DP attention.
  int64_t disaggregation_transfer_queue =
      8;  // KV transfers in flight per decode replica (more wait unreserved)
  bool Disaggregated() const { return !pool_text_.empty(); }
  // The pool's whole config: this file's keys with the pool's map laid over ("prefill" / "decode").
  RunConfig Pool(const std::string& pool) const;
  std::string pool_text_;  // PD: the source text the pools are read from again; "" without PD
  // Where a key's value came from, for errors about it: "file:line:col", "--set key=value", or
  // the file alone for a default.
  std::string At(const std::string& key) const;
  std::map<std::string, std::string> key_at_;

  // Service-level objectives for `npusim capacity` (0 = none).
  double slo_ttft_p99_ms = 0, slo_tpot_p99_ms = 0;
  std::string capacity_search = "both";  // concurrency, request_rate or both

  void Bind(ParamVisitor& v);

  // Derived, validated views (InputError with the key on a bad value).
  ParallelPlan Plan() const;
  int64_t Replicas() const;  // servers x (dp_size without DP attention): independent replicas of
                             // tp_size ranks each
  int64_t Chips() const;  // ranks the run takes: tp_size x replicas, summed over the pools with PD
  MemoryOptions Memory() const;
  std::vector<double> AcceptRates() const;
  bool Mtp() const { return !speculative_algorithm.empty(); }
  std::string ModelPath() const;          // model resolved against the run file's folder
  std::string DraftModelPath() const;     // speculative_draft_model_path, resolved the same way
  std::string DraftQuantization() const;  // the draft's weights as a quantization value ("" = bf16)
  bool Eagle3() const { return speculative_algorithm == "EAGLE3"; }
  std::string Relative(
      const std::string& path) const;  // a path of this file, resolved against its folder
  // The host profile with this run's host_* overrides applied.
  HostProfile Host() const;
  // Every key after defaults and --set, as a run config that re-runs as is from any folder:
  // the paths it holds (model, draft model, dataset, device / host profile files) made absolute.
  std::string ResolvedYaml() const;
};

// Reads RUN.yaml and applies `key=value` overrides; unknown keys name the nearest valid one.
RunConfig LoadRunConfig(const std::string& path,
                        const std::vector<std::pair<std::string, std::string>>& sets = {});
RunConfig ParseRunConfig(const std::string& text, const std::string& file,
                         const std::vector<std::pair<std::string, std::string>>& sets = {},
                         const std::string& pool = "");

}  // namespace npusim
