#include "workloads/run_config.h"

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "devices/device_config.h"
#include "model/error.h"
#include "model/text.h"
#include "workloads/scheduler.h"
#include "workloads/sglang_import.h"

namespace npusim {

namespace {

constexpr double kBig = 1e15;

std::string Where(const RunConfig& c) { return c.file.empty() ? "run config" : c.file; }

// Run config keys are optional (the struct holds SGLang's defaults); some take one of a list of
// values, some a list.
ParamSpec Opt(const char* name, const char* unit, const char* desc, double lo = -kBig,
              double hi = kBig) {
  ParamSpec s{name, unit, desc, lo, hi};
  s.optional = true;
  return s;
}
ParamSpec OneOf(const char* name, const char* desc, std::vector<std::string> choices) {
  ParamSpec s = Opt(name, "", desc);
  s.choices = std::move(choices);
  return s;
}
ParamSpec Items(const char* name, const char* unit, const char* desc, double lo, double hi) {
  ParamSpec s = Opt(name, unit, desc, lo, hi);
  s.list = true;
  return s;
}

// What to simulate: the model, the chip, the seed and the mode.
void BindSetup(ParamVisitor& v, RunConfig& c) {
  v.Param(
      {"model", "", "model config: HF config.json or YAML with its keys, relative to this file"},
      c.model);
  v.Param(Opt("device", "", "chip: SoC name under configs/devices or a device YAML"), c.device);
  v.Param(Opt("seed", "", "seed of the load and of the timing-only acceptance", 0, 9e18), c.seed);
  v.Param(OneOf("mode",
                "timing, or functional: also compute a reduced model's tokens through the kernels "
                "and compare runs",
                {"timing", "functional"}),
          c.mode);
  v.Param(OneOf("fault",
                "functional fault injection: none, transposed_state (S3), conv_state_shift (S6), "
                "swa_without_mask / no_swiglu_clamp (S4)",
                {"none", "transposed_state", "conv_state_shift", "swa_without_mask",
                 "no_swiglu_clamp"}),
          c.fault);
}

// How the model is spread over ranks, replicas and servers.
void BindParallel(ParamVisitor& v, RunConfig& c) {
  v.Param(Opt("tp_size", "ranks", "tensor-parallel size (chips of one model replica)", 1, 4096),
          c.tp_size);
  v.Param(
      Opt("dp_size", "groups", "DP-attention groups (attention TP = tp_size / dp_size)", 1, 4096),
      c.dp_size);
  v.Param(Opt("ep_size", "ranks", "expert-parallel size (MoE TP = tp_size / ep_size)", 1, 4096),
          c.ep_size);
  v.Param(Opt("enable_dp_attention", "",
              "data-parallel attention over dp_size groups of the tp_size ranks (true/false); "
              "false with dp_size > 1: dp_size "
              "replicas of tp_size ranks each behind a router"),
          c.enable_dp_attention);
  v.Param(Opt("servers", "servers",
              "identical servers of this setup, tp_size ranks each, behind the router (SGLang: "
              "several launch_server "
              "processes under one router or PD load balancer, e.g. the prefill servers of a 2P1D "
              "deployment)",
              1, 4096),
          c.servers);
  v.Param(OneOf("load_balance_method",
                "the router among replicas (servers, replicated DP): round_robin (by arrival) or "
                "shortest_queue (fewest requests in flight)",
                {"round_robin", "shortest_queue"}),
          c.load_balance_method);
  v.Param(Opt("disaggregation_transfer_queue", "requests",
              "PD (prefill: / decode: maps): KV transfers in flight per decode replica; later ones "
              "wait without reserving KV",
              1, 1e6),
          c.disaggregation_transfer_queue);
  v.Param(Opt("enable_dp_lm_head", "",
              "vocab-parallel lm_head within each attention TP group (true/false)"),
          c.enable_dp_lm_head);
  v.Param(OneOf("moe_a2a_backend", "MoE token exchange: none (all-reduce) or deepep (all-to-all)",
                {"none", "deepep"}),
          c.moe_a2a_backend);
  v.Param(OneOf("deepep_normal_dispatch",
                "DeepEP normal-mode (prefill) dispatch payload: bf16, or int8 with a per-row scale "
                "(env DEEP_NORMAL_MODE_USE_INT8_QUANT=1)",
                {"bf16", "int8"}),
          c.deepep_normal_dispatch);
}

// The scheduler's batches: caps, context and prefill chunking.
void BindBatches(ParamVisitor& v, RunConfig& c) {
  v.Param(Opt("max_running_requests", "requests", "requests decoding at once (over all DP groups)",
              1, 1e6),
          c.max_running_requests);
  v.Param(Opt("context_length", "tokens", "longest input + output a request may have", 1, 1e8),
          c.context_length);
  v.Param(Opt("chunked_prefill_size", "tokens",
              "longest prefill chunk per step; 0 or -1 = no chunking", -1, 1e9),
          c.chunked_prefill_size);
  v.Param(Opt("max_prefill_tokens", "tokens",
              "new tokens per prefill batch (the first request always fits)", 1, 1e9),
          c.max_prefill_tokens);
  v.Param(Opt("page_size", "tokens", "KV cache page; prefill chunks are whole pages", 1, 4096),
          c.page_size);
}

// Memory: the KV and mamba pools, prefix caching, the state and weight dtypes.
void BindPools(ParamVisitor& v, RunConfig& c) {
  v.Param(Opt("max_total_tokens", "tokens",
              "cap on each rank's KV pool (SGLang --max-total-tokens); 0 = what memory allows", 0,
              1e12),
          c.max_total_tokens);
  v.Param(
      Opt("disable_radix_cache", "",
          "prefix caching off (true/false); on, a prompt's cached prefix is not computed again"),
      c.disable_radix_cache);
  v.Param(OneOf("mamba_scheduler_strategy",
                "hybrid models' prefix caching: no_buffer (no state snapshots: GDN prefixes are "
                "never reused) or extra_buffer",
                {"no_buffer", "extra_buffer"}),
          c.mamba_scheduler_strategy);
  v.Param(Opt("mamba_track_interval", "tokens",
              "extra_buffer: a state snapshot at every multiple of this a prefill chunk reaches", 1,
              1e9),
          c.mamba_track_interval);
  v.Param(Opt("max_mamba_cache_size", "slots",
              "hybrid models' mamba state slots (divided over DP groups): running requests, their "
              "track buffers and cached state "
              "snapshots; 0 = as SGLang sizes them (radix cache off: max_running_requests + 1; on: "
              "mamba_full_memory_ratio of the memory)",
              0, 1e7),
          c.max_mamba_cache_size);
  v.Param(Opt("mamba_full_memory_ratio", "",
              "radix cache on, no max_mamba_cache_size: mamba pool to KV pool memory (SGLang's "
              "default 0.9)",
              0.01, 100),
          c.mamba_full_memory_ratio);
  v.Param(
      Opt("mem_fraction_static", "", "share of HBM for weights and the KV / state pools", 0.01, 1),
      c.mem_fraction_static);
  v.Param(OneOf("mamba_ssm_dtype", "SSM state pool dtype (float32 / bfloat16); empty = the model's",
                {"", "float32", "bfloat16"}),
          c.mamba_ssm_dtype);
  v.Param(OneOf("quantization",
                "weights: empty (bf16), w8a8_dynamic, or w4a8_dynamic (int4 routed experts, the "
                "other linears w8a8)",
                {"", "w8a8_dynamic", "w4a8_dynamic"}),
          c.quantization);
}

// Decode graphs, mixed batches and SGLang's prefill delayer.
void BindGraphsAndPrefill(ParamVisitor& v, RunConfig& c) {
  v.Param(Items("cuda_graph_bs", "requests",
                "decode batch sizes captured as graphs (host cost of one replay)", 1, 1e9),
          c.cuda_graph_bs);
  v.Param(Opt("disable_cuda_graph", "",
              "eager decode: every launch pays the host launch cost (true/false)"),
          c.disable_cuda_graph);
  v.Param(Opt("enable_mixed_chunk", "", "decode requests ride along in prefill steps (true/false)"),
          c.enable_mixed_chunk);
  v.Param(Opt("enable_prefill_delayer", "",
              "SGLang's prefill delayer (true/false; env "
              "SGLANG_SCHEDULER_DECREASE_PREFILL_IDLE=1): new requests wait while the "
              "free running slots are fewer than the largest prefill batch so far, and with DP "
              "attention while only some groups "
              "have one"),
          c.enable_prefill_delayer);
  v.Param(Opt("prefill_delayer_max_delay_passes", "passes",
              "prefill delayer: passes in a row new requests may wait while only some DP groups "
              "have one (env "
              "SGLANG_PREFILL_DELAYER_MAX_DELAY_PASSES)",
              1, 1e9),
          c.prefill_delayer_max_delay_passes);
  v.Param(Opt("prefill_delayer_queue_min_ratio", "",
              "prefill delayer's queue trigger (0 = off): new requests also wait while fewer than "
              "this x running requests "
              "(at most the largest prefill batch) are queued",
              0, 1e6),
          c.prefill_delayer_queue_min_ratio);
  v.Param(Opt("prefill_delayer_max_delay_ms", "ms",
              "prefill delayer: the queue trigger's longest wait", 0, 1e9),
          c.prefill_delayer_max_delay_ms);
  v.Param(Opt("prefill_max_requests", "requests",
              "new requests per prefill batch and DP group (0 = no limit)", 0, 1e9),
          c.prefill_max_requests);
}

// Which kernel implementations the forward uses.
void BindKernels(ParamVisitor& v, RunConfig& c) {
  v.Param(OneOf("gdn_decode_impl", "GDN decode kernel: fused (AscendC op) or triton_chain",
                {"fused", "triton_chain"}),
          c.gdn_decode_impl);
  v.Param(
      OneOf("gdn_prefill_impl",
            "GDN chunk prefill: staged (npusim's AscendC-form stages, one launch each), triton "
            "(the staged launches as sgl-kernel-npu's Triton kernels where npusim has their form: "
            "kkt, wy_fast, chunk_h, chunk_o), mega (the stages in one kernel) or torch "
            "(sgl-kernel-npu's PyTorch-op form that SGLang ran until 2025-12-22: each op an eager "
            "launch, a Python loop over the solve's rows and the chunks; timing-only)",
            {"staged", "triton", "mega", "torch"}),
      c.gdn_prefill_impl);
  v.Param(OneOf("mla_prolog",
                "MLA models' decode / verify / draft preprocessing: unfused (projections, norms, "
                "rope and the cache write as "
                "separate launches) or fused (one mla_prolog launch; env SGLANG_NPU_USE_MLAPO=1)",
                {"unfused", "fused"}),
          c.mla_prolog);
}

// Speculative decoding (MTP / EAGLE3).
void BindSpeculative(ParamVisitor& v, RunConfig& c) {
  v.Param(
      OneOf("speculative_algorithm",
            "empty (off), NEXTN (the model's MTP layer drafts) or EAGLE3 (a separate draft model)",
            {"", "NEXTN", "EAGLE3"}),
      c.speculative_algorithm);
  v.Param(Opt("speculative_draft_model_path", "",
              "EAGLE3: the draft model's config.json (relative to this file)"),
          c.speculative_draft_model_path);
  v.Param(OneOf("speculative_draft_model_quantization",
                "the draft's weights: unquant (the default, as the Ascend launch lines pass it) or "
                "w8a8_dynamic",
                {"", "unquant", "w8a8_dynamic"}),
          c.speculative_draft_model_quantization);
  v.Param(Opt("speculative_num_steps", "steps", "draft forwards per round", 1, 64),
          c.speculative_num_steps);
  v.Param(Opt("speculative_eagle_topk", "", "draft branches per step (only 1 is modelled)", 1, 1),
          c.speculative_eagle_topk);
  v.Param(Opt("speculative_num_draft_tokens", "tokens",
              "tokens the target verifies per round (steps + 1 for topk 1)", 2, 65),
          c.speculative_num_draft_tokens);
  v.Param(Items("speculative_accept_rates", "",
                "per draft position: P(accepted | all earlier accepted), timing-only runs", 0, 1),
          c.speculative_accept_rates);
}

// The host cost profile and its overrides.
void BindHost(ParamVisitor& v, RunConfig& c) {
  v.Param(
      Opt("host_profile", "",
          "host cost profile: a name under configs/hosts or a YAML path (relative to this file)"),
      c.host_profile);
  v.Param(
      Opt("host_launch_us", "us",
          "override the profile's host cost of one eager kernel launch (-1 = profile)", -1, 1e7),
      c.host_launch_us);
  v.Param(Opt("host_graph_replay_us", "us",
              "override the profile's host cost of one graph replay (-1 = profile)", -1, 1e7),
          c.host_graph_replay_us);
  v.Param(Opt("host_graph_update_us", "us",
              "override the profile's host refresh of one replayed attention launch (-1 = profile)",
              -1, 1e7),
          c.host_graph_update_us);
  v.Param(Opt("host_step_us", "us", "override the profile's host cost per step (-1 = profile)", -1,
              1e8),
          c.host_step_us);
  v.Param(Opt("host_request_us", "us",
              "override the profile's front-end latency per request (-1 = profile)", -1, 1e8),
          c.host_request_us);
}

// The load bench_serving sends.
void BindLoad(ParamVisitor& v, RunConfig& c) {
  v.Param(OneOf("dataset_name",
                "load: random, generated-shared-prefix (bench_serving's) or trace (JSONL at "
                "dataset_path)",
                {"random", "generated-shared-prefix", "trace"}),
          c.dataset_name);
  v.Param(Opt("gsp_num_groups", "groups", "generated-shared-prefix: system prompts", 1, 1e7),
          c.gsp_num_groups);
  v.Param(Opt("gsp_prompts_per_group", "requests",
              "generated-shared-prefix: prompts sharing each system prompt", 1, 1e7),
          c.gsp_prompts_per_group);
  v.Param(Opt("gsp_system_prompt_len", "tokens",
              "generated-shared-prefix: shared system prompt length", 0, 1e8),
          c.gsp_system_prompt_len);
  v.Param(Opt("gsp_question_len", "tokens",
              "generated-shared-prefix: each prompt's own question length", 1, 1e8),
          c.gsp_question_len);
  v.Param(Opt("gsp_output_len", "tokens", "generated-shared-prefix: output length", 1, 1e8),
          c.gsp_output_len);
  v.Param(Opt("warmup_requests", "requests",
              "bench_serving warm-up requests before the timed load (0 or 1: the first prompt "
              "warms the cache)",
              0, 1),
          c.warmup_requests);
  v.Param(Opt("dataset_path", "",
              "JSONL trace: one request per line with input_len, output_len, optional arrival_s"),
          c.dataset_path);
  v.Param(Opt("num_prompts", "requests", "requests to send", 1, 1e7), c.num_prompts);
  v.Param(Opt("random_input_len", "tokens", "input length (upper end of the range)", 1, 1e8),
          c.random_input_len);
  v.Param(Opt("random_output_len", "tokens", "output length (upper end of the range)", 1, 1e8),
          c.random_output_len);
  v.Param(Opt("random_range_ratio", "", "lengths uniform in [ratio x len, len]", 0, 1),
          c.random_range_ratio);
  ParamSpec rate = Opt("request_rate", "req/s", "Poisson arrival rate; inf = all at once", 0,
                       std::numeric_limits<double>::infinity());
  rate.open_min = true;
  v.Param(rate, c.request_rate);
  v.Param(
      Opt("max_concurrency", "requests", "client-side cap on requests in flight; 0 = none", 0, 1e7),
      c.max_concurrency);
}

// What the outputs carry and capacity's objectives.
void BindOutputs(ParamVisitor& v, RunConfig& c) {
  v.Param(Opt("trace_kernels", "", "trace.json also gets every kernel launch (true/false)"),
          c.trace_kernels);
  v.Param(Opt("slo_ttft_p99_ms", "ms", "capacity: p99 TTFT objective (0 = none)", 0, 1e9),
          c.slo_ttft_p99_ms);
  v.Param(Opt("slo_tpot_p99_ms", "ms", "capacity: p99 TPOT objective (0 = none)", 0, 1e9),
          c.slo_tpot_p99_ms);
  v.Param(OneOf("capacity_search",
                "capacity: concurrency (requests sent at once, rising), request_rate (Poisson rate "
                "of num_prompts requests, bisected) or both",
                {"concurrency", "request_rate", "both"}),
          c.capacity_search);
}

}  // namespace

std::string RunConfig::At(const std::string& key) const {
  const auto it = key_at_.find(key);
  return it != key_at_.end() ? it->second : Where(*this);
}

void RunConfig::Bind(ParamVisitor& v) {
  BindSetup(v, *this);
  BindParallel(v, *this);
  BindBatches(v, *this);
  BindPools(v, *this);
  BindGraphsAndPrefill(v, *this);
  BindKernels(v, *this);
  BindSpeculative(v, *this);
  BindHost(v, *this);
  BindLoad(v, *this);
  BindOutputs(v, *this);
}

int64_t RunConfig::Replicas() const { return servers * (enable_dp_attention ? 1 : dp_size); }

int64_t RunConfig::Chips() const {
  if (Disaggregated()) return Pool("prefill").Chips() + Pool("decode").Chips();
  return Plan().tp * Replicas();
}

ParallelPlan RunConfig::Plan() const {
  ParallelPlan p;
  p.tp = tp_size;
  p.dp = enable_dp_attention ? dp_size
                             : 1;  // without DP attention dp_size counts replicas (Replicas())
  p.ep = ep_size;
  p.a2a = moe_a2a_backend == "deepep";
  p.dp_lm_head = enable_dp_lm_head;
  if (p.dp_lm_head && p.dp == 1) p.dp_lm_head = false;  // nothing to split differently
  return p;
}

MemoryOptions RunConfig::Memory() const {
  MemoryOptions o;
  o.mem_fraction_static = mem_fraction_static;
  o.ssm_dtype = mamba_ssm_dtype;
  o.gdn_decode_impl = gdn_decode_impl;
  o.quantization = quantization;
  o.draft_tokens = Mtp() ? speculative_num_draft_tokens : 0;
  o.draft_quantization = DraftQuantization();
  const int64_t dp = Plan().dp;
  o.max_running_requests = GroupRequestCap(max_running_requests, dp);
  o.page_size = page_size;
  o.max_total_tokens = max_total_tokens;
  o.mamba_slots = max_mamba_cache_size / dp;  // SGLang divides it over the DP-attention groups
  if (max_mamba_cache_size > 0 && o.mamba_slots == 0)
    throw InputError(At("max_mamba_cache_size") + ": max_mamba_cache_size " +
                     std::to_string(max_mamba_cache_size) +
                     " is less than one slot per DP group (" + std::to_string(dp) + " groups)");
  o.radix_cache = !disable_radix_cache;
  o.extra_buffer = mamba_scheduler_strategy == "extra_buffer";
  o.mamba_full_memory_ratio = mamba_full_memory_ratio;
  return o;
}

std::vector<double> RunConfig::AcceptRates() const {
  return speculative_accept_rates.empty() ? std::vector<double>{0} : speculative_accept_rates;
}

// A path in this run file, relative to the file's folder.
std::string RunConfig::Relative(const std::string& path) const {
  namespace fs = std::filesystem;
  if (path.empty() || fs::path(path).is_absolute() || file.empty()) return path;
  return (fs::path(file).parent_path() / path).lexically_normal().string();
}

std::string RunConfig::ModelPath() const { return Relative(model); }

namespace {
// A YAML scalar that reads back as the same text: quoted unless plainly a word or number.
std::string YamlScalar(const std::string& v) {
  const bool plain = !v.empty() && v.find_first_of(":#{}[],&*!|>'\"%@`\n") == std::string::npos &&
                     v.front() != ' ' && v.back() != ' ' && v.front() != '-' && v.front() != '?';
  if (plain) return v;
  std::string q = "\"";
  for (char c : v) {
    if (c == '"' || c == '\\') q += '\\';
    q += c == '\n' ? std::string("\\n") : std::string(1, c);
  }
  return q + "\"";
}
}  // namespace

std::string RunConfig::ResolvedYaml() const {
  namespace fs = std::filesystem;
  RunConfig c = *this;
  auto absolute = [](const std::string& p) {
    return p.empty() ? p : fs::absolute(p).lexically_normal().string();
  };
  c.model = absolute(ModelPath());
  if (!c.speculative_draft_model_path.empty())
    c.speculative_draft_model_path = absolute(DraftModelPath());
  if (!c.dataset_path.empty()) c.dataset_path = absolute(Relative(dataset_path));
  if (IsConfigPath(host_profile)) c.host_profile = absolute(Relative(host_profile));
  if (IsConfigPath(device))
    c.device = absolute(device);  // read from the working directory, like LoadDevice
  ParamTable t;
  c.Bind(t);
  std::string out =
      "# npusim run config with every key resolved (defaults and --set applied); re-runs as is\n";
  if (!file.empty()) out += "# from " + file + "\n";
  for (const auto& [k, v] : overrides) out += "#   --set " + k + "=" + v + "\n";
  for (const ParamTable::Row& r : t.rows()) {
    out += r.key + ": ";
    if (r.type == "list") {
      std::string items;
      size_t start = 0;
      while (!r.exact.empty() && start <= r.exact.size()) {
        const size_t comma = std::min(r.exact.find(',', start), r.exact.size());
        items += (items.empty() ? "" : ", ") + YamlScalar(r.exact.substr(start, comma - start));
        start = comma + 1;
      }
      out += "[" + items + "]\n";
    } else {
      out += (r.type == "text" || r.type == "choice" ? YamlScalar(r.exact) : r.exact) + "\n";
    }
  }
  if (Disaggregated()) {  // the pools' maps as written (their keys are server arguments: no paths)
    const YAML::Node root = LoadYamlString(pool_text_, file);
    for (const std::string p : {"prefill", "decode"}) {
      YAML::Node map = YAML::Clone(root[p]);
      // As the pool reads them: a plain --set wins over the map's own value, prefill.KEY goes in.
      for (const auto& [k, v] : overrides) {
        if (k.find('.') == std::string::npos && static_cast<const YAML::Node&>(map)[k]) map[k] = v;
        if (k.rfind(p + ".", 0) == 0) map[k.substr(p.size() + 1)] = v;
      }
      map.SetStyle(YAML::EmitterStyle::Flow);
      YAML::Emitter e;
      e << map;
      out += p + ": " + e.c_str() + "\n";
    }
  }
  return out;
}
std::string RunConfig::DraftModelPath() const { return Relative(speculative_draft_model_path); }

std::string RunConfig::DraftQuantization() const {
  return speculative_draft_model_quantization == "unquant" ? ""
                                                           : speculative_draft_model_quantization;
}

HostProfile RunConfig::Host() const {
  // A profile path (not a name under configs/hosts) is relative to the run file, like `model`.
  HostProfile h =
      LoadHostProfile(IsConfigPath(host_profile) ? Relative(host_profile) : host_profile);
  if (host_launch_us >= 0) h.launch_us = host_launch_us;
  if (host_graph_replay_us >= 0) h.graph_replay_us = host_graph_replay_us;
  if (host_graph_update_us >= 0) h.graph_update_us = host_graph_update_us;
  if (host_step_us >= 0) h.step_us = host_step_us;
  if (host_request_us >= 0) h.request_us = host_request_us;
  return h;
}

namespace {

// The keys a PD pool may not set: the load, the model and what the whole run shares.
const std::vector<std::string> kRunWideKeys = {"model",
                                               "seed",
                                               "mode",
                                               "fault",
                                               "dataset_name",
                                               "dataset_path",
                                               "gsp_num_groups",
                                               "gsp_prompts_per_group",
                                               "gsp_system_prompt_len",
                                               "gsp_question_len",
                                               "gsp_output_len",
                                               "warmup_requests",
                                               "num_prompts",
                                               "random_input_len",
                                               "random_output_len",
                                               "random_range_ratio",
                                               "request_rate",
                                               "max_concurrency",
                                               "trace_kernels",
                                               "slo_ttft_p99_ms",
                                               "slo_tpot_p99_ms",
                                               "capacity_search",
                                               "disaggregation_transfer_queue",
                                               "speculative_accept_rates"};

bool RunWide(const std::string& key) {
  return std::find(kRunWideKeys.begin(), kRunWideKeys.end(), key) != kRunWideKeys.end();
}

// PD: takes the `prefill:` and `decode:` maps out of `root`; for a pool, lays its map over the
// rest. Returns whether the file is a PD run.
bool SplitPools(YAML::Node& root, const std::string& file, const std::string& pool) {
  if (!root.IsMap()) return false;
  const YAML::Node& cr = root;
  const YAML::Node pre = cr["prefill"], dec = cr["decode"];
  if (!pre && !dec) {
    if (!pool.empty())
      throw std::logic_error("run config: pool '" + pool + "' of a run without PD");
    return false;
  }
  for (const auto& [name, node] :
       {std::pair<std::string, YAML::Node>{"prefill", pre}, {"decode", dec}}) {
    if (!node)
      throw InputError(file + ": PD needs both a 'prefill:' and a 'decode:' map (only '" +
                       (name == "prefill" ? "decode" : "prefill") + "' is given)");
    if (!node.IsMap())
      throw InputError(npusim::Where(file, node) + ": '" + name +
                       "' must be a map of server arguments for the " + name + " pool");
    for (auto it = node.begin(); it != node.end(); ++it) {
      const std::string k = RunKeyFromSglang(it->first.Scalar());
      if (k == "prefill" || k == "decode" || RunWide(k))
        throw InputError(npusim::Where(file, it->first) + ": '" + it->first.Scalar() +
                         "' is the whole run's, not a pool's: set it outside '" + name + ":'");
    }
  }
  YAML::Node out(YAML::NodeType::Map);
  for (auto it = root.begin(); it != root.end(); ++it) {
    const std::string k = it->first.Scalar();
    if (k == "prefill" || k == "decode") continue;
    if (!pool.empty() && (pool == "prefill" ? pre : dec)[k]) continue;  // the pool's value wins
    out.force_insert(it->first, it->second);
  }
  if (!pool.empty()) {
    const YAML::Node& mine = pool == "prefill" ? pre : dec;
    for (auto it = mine.begin(); it != mine.end(); ++it) out.force_insert(it->first, it->second);
  }
  root = out;
  return true;
}

}  // namespace

RunConfig RunConfig::Pool(const std::string& which) const {
  if (!Disaggregated()) throw std::logic_error("RunConfig::Pool on a run without PD");
  return ParseRunConfig(pool_text_, file, overrides, which);
}

namespace {

bool KnownKey(const std::vector<std::string>& keys, const std::string& k) {
  return std::find(keys.begin(), keys.end(), k) != keys.end();
}

// SGLang's spellings (`tp-size`) name the same keys as ours (`tp_size`): the same mapping with the
// keys renamed; unknown spellings stay, for the unknown-key error with their position. Lookups
// are const: a non-const [] would insert while iterating.
void RenameSglangKeys(YAML::Node& root, const std::string& file,
                      const std::vector<std::string>& keys) {
  if (!root.IsMap()) return;
  auto known = [&](const std::string& k) { return KnownKey(keys, k); };
  YAML::Node ours(YAML::NodeType::Map);
  bool renamed = false;
  for (auto it = root.begin(); it != root.end(); ++it) {
    const std::string k = it->first.Scalar(), key = RunKeyFromSglang(k);
    if (key == k || !known(key)) {
      ours.force_insert(it->first, it->second);
      continue;
    }
    if (static_cast<const YAML::Node&>(root)[key])
      throw InputError(npusim::Where(file, it->first) + ": '" + k + "' and '" + key +
                       "' are the same key, given twice");
    ours.force_insert(key, it->second);
    renamed = true;
  }
  if (renamed) root = ours;
}

// The --set overrides into `root`, each value checked on its own; returns where each key was set.
std::vector<std::pair<std::string, std::string>> ApplySets(
    YAML::Node& root, const std::vector<std::pair<std::string, std::string>>& sets, bool pd,
    const std::string& pool, const std::vector<std::string>& keys) {
  auto known = [&](const std::string& k) { return KnownKey(keys, k); };
  std::vector<std::pair<std::string, std::string>> at;
  for (const auto& [full_key, v] : sets) {
    // `--set prefill.tp_size=2` sets a key inside one pool's map (PD only).
    std::string set_key = full_key;
    const size_t dot = full_key.find('.');
    if (dot != std::string::npos) {
      const std::string which = full_key.substr(0, dot);
      if (which != "prefill" && which != "decode")
        throw InputError("--set " + full_key + "=" + v + ": unknown key '" + full_key +
                         "' (a dotted key names a PD pool: prefill.KEY or decode.KEY)");
      if (!pd)
        throw InputError("--set " + full_key + "=" + v + ": the run has no '" + which +
                         ":' map (PD needs prefill: and decode:)");
      set_key = full_key.substr(dot + 1);
      const std::string k = RunKeyFromSglang(set_key);
      if (RunWide(k))
        throw InputError("--set " + full_key + "=" + v + ": '" + set_key +
                         "' is the whole run's, not a pool's");
      if (which != pool) {
        if (!known(set_key) && !known(k))
          throw InputError("--set " + full_key + "=" + v + ": unknown key '" + set_key + "'" +
                           NearestHint(set_key, keys));
        continue;  // another pool's (or, for the run itself, checked and left to the pools)
      }
    }
    const std::string k = known(set_key) ? set_key : RunKeyFromSglang(set_key);
    if (!known(k))
      throw InputError("--set " + full_key + "=" + v + ": unknown key '" + set_key + "'" +
                       NearestHint(set_key, keys));
    {  // the value checked on its own first, so a bad one is blamed on the --set, not on the file's
       // line
      YAML::Node one(YAML::NodeType::Map);
      one[k] = v;
      if (k != "model") one["model"] = "-";  // the one required key, not under test here
      RunConfig scratch;
      YamlBinder check(one, "--set " + full_key + "=" + v);
      scratch.Bind(check);
      check.Finish();
    }
    root[k] = v;
    at.push_back({k, "--set " + full_key + "=" + v});
  }
  return at;
}

// Rules across keys, checked once every key is read.
void CheckRunConfig(const RunConfig& c, bool pd) {
  if (c.mamba_track_interval % c.page_size != 0)
    throw InputError(c.At("mamba_track_interval") + ": mamba_track_interval (" +
                     std::to_string(c.mamba_track_interval) +
                     ") must be a multiple of page_size (" + std::to_string(c.page_size) + ")");
  if (c.mamba_scheduler_strategy == "extra_buffer" && c.disable_radix_cache)
    throw InputError(c.At("mamba_scheduler_strategy") +
                     ": mamba_scheduler_strategy extra_buffer tracks states for the radix cache; "
                     "it cannot go with disable_radix_cache");
  if (c.fault != "none" && c.mode != "functional")
    throw InputError(c.At("fault") + ": fault '" + c.fault + "' needs mode: functional");
  if (pd && c.mode == "functional")
    throw InputError(c.At("mode") +
                     ": mode functional runs one server; PD (prefill: / decode:) is timing only");
  if (c.speculative_algorithm == "EAGLE3" && c.speculative_draft_model_path.empty())
    throw InputError(c.At("speculative_algorithm") +
                     ": speculative_algorithm EAGLE3 needs speculative_draft_model_path (the draft "
                     "model's config.json)");
  if (c.speculative_algorithm != "EAGLE3" && !c.speculative_draft_model_path.empty())
    throw InputError(c.At("speculative_draft_model_path") +
                     ": speculative_draft_model_path is read with speculative_algorithm EAGLE3 "
                     "only (NEXTN drafts with the model's own MTP layers)");
  if (c.Mtp() && c.speculative_num_draft_tokens != c.speculative_num_steps + 1)
    throw InputError(c.At("speculative_num_draft_tokens") +
                     ": with speculative_eagle_topk 1, speculative_num_draft_tokens (" +
                     std::to_string(c.speculative_num_draft_tokens) +
                     ") must be speculative_num_steps + 1 (" +
                     std::to_string(c.speculative_num_steps + 1) + ")");
  if (c.dataset_name == "trace" && c.dataset_path.empty())
    throw InputError(c.At("dataset_name") + ": dataset_name trace needs dataset_path");
}

}  // namespace

RunConfig ParseRunConfig(const std::string& text, const std::string& file,
                         const std::vector<std::pair<std::string, std::string>>& sets,
                         const std::string& pool) {
  YAML::Node root = LoadYamlString(text, file);
  const bool pd = SplitPools(root, file, pool);
  RunConfig c;
  ParamTable table;
  c.Bind(table);
  std::vector<std::string> keys;
  for (const auto& r : table.rows()) keys.push_back(r.key);
  RenameSglangKeys(root, file, keys);
  for (const auto& [k, where] : ApplySets(root, sets, pd, pool, keys)) c.key_at_[k] = where;
  if (root.IsMap())
    for (auto it = root.begin(); it != root.end(); ++it) {
      const YAML::Node at = it->second.Mark().is_null()
                                ? it->first
                                : it->second;  // the value's place, else the key's
      if (!at.Mark().is_null())
        c.key_at_.emplace(it->first.Scalar(), Where(file, at));  // a --set's entry stays
    }
  YamlBinder binder(root, file);
  c.Bind(binder);
  binder.Finish();
  c.file = file;
  c.overrides = sets;
  if (pd && pool.empty()) c.pool_text_ = text;
  CheckRunConfig(c, pd);
  c.Plan();
  c.Memory();
  return c;
}

RunConfig LoadRunConfig(const std::string& path,
                        const std::vector<std::pair<std::string, std::string>>& sets) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) throw InputError(path + ": no such run config");
  return ParseRunConfig(ReadConfigFile(path), path, sets);
}

}  // namespace npusim
