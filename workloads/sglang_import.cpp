#include "workloads/sglang_import.h"

#include <algorithm>
#include <functional>
#include <map>

#include "model/error.h"
#include "model/text.h"

namespace npusim {

namespace {

// How an argument is read and what it becomes.
enum class Kind {
  kKey,      // --name VALUE -> run key
  kFlag,     // --name -> run key: true
  kList,     // --name V1 V2 ... -> run key: [V1, V2, ...]
  kSpecial,  // handled by name below
  kIgnore,   // --name VALUE: changes nothing in a simulation
  kIgnoreFlag,
};

struct Arg {
  Kind kind;
  std::string key;  // run key (kKey, kFlag, kList) or why it changes nothing (kIgnore*)
};

const std::map<std::string, Arg>& ServerArgs() {
  static const std::map<std::string, Arg> m = {
      {"model-path", {Kind::kSpecial, ""}},
      {"model", {Kind::kSpecial, ""}},
      {"tp-size", {Kind::kKey, "tp_size"}},
      {"tp", {Kind::kKey, "tp_size"}},
      {"tensor-parallel-size", {Kind::kKey, "tp_size"}},
      {"dp-size", {Kind::kKey, "dp_size"}},
      {"dp", {Kind::kKey, "dp_size"}},
      {"data-parallel-size", {Kind::kKey, "dp_size"}},
      {"ep-size", {Kind::kKey, "ep_size"}},
      {"ep", {Kind::kKey, "ep_size"}},
      {"expert-parallel-size", {Kind::kKey, "ep_size"}},
      {"enable-dp-attention", {Kind::kFlag, "enable_dp_attention"}},
      {"load-balance-method", {Kind::kKey, "load_balance_method"}},
      {"enable-dp-lm-head", {Kind::kFlag, "enable_dp_lm_head"}},
      {"moe-a2a-backend", {Kind::kSpecial, ""}},
      {"deepep-mode", {Kind::kSpecial, ""}},
      {"max-running-requests", {Kind::kKey, "max_running_requests"}},
      {"context-length", {Kind::kKey, "context_length"}},
      {"chunked-prefill-size", {Kind::kKey, "chunked_prefill_size"}},
      {"max-prefill-tokens", {Kind::kKey, "max_prefill_tokens"}},
      {"page-size", {Kind::kKey, "page_size"}},
      {"max-total-tokens", {Kind::kKey, "max_total_tokens"}},
      {"mem-fraction-static", {Kind::kKey, "mem_fraction_static"}},
      {"mamba-ssm-dtype", {Kind::kKey, "mamba_ssm_dtype"}},
      {"quantization", {Kind::kSpecial, ""}},
      {"cuda-graph-bs", {Kind::kList, "cuda_graph_bs"}},
      {"cuda-graph-max-bs", {Kind::kSpecial, ""}},
      {"disable-cuda-graph", {Kind::kFlag, "disable_cuda_graph"}},
      {"enable-mixed-chunk", {Kind::kFlag, "enable_mixed_chunk"}},
      {"enable-prefill-delayer", {Kind::kFlag, "enable_prefill_delayer"}},
      {"prefill-delayer-max-delay-passes", {Kind::kKey, "prefill_delayer_max_delay_passes"}},
      {"prefill-max-requests", {Kind::kKey, "prefill_max_requests"}},
      {"prefill-delayer-queue-min-ratio", {Kind::kKey, "prefill_delayer_queue_min_ratio"}},
      {"prefill-delayer-max-delay-ms", {Kind::kKey, "prefill_delayer_max_delay_ms"}},
      {"sampling-backend",
       {Kind::kIgnore,
        "which sampling kernels run (the step graph times greedy sampling, lm_head_argmax)"}},
      {"speculative-algorithm", {Kind::kKey, "speculative_algorithm"}},
      {"speculative-num-steps", {Kind::kKey, "speculative_num_steps"}},
      {"speculative-eagle-topk", {Kind::kKey, "speculative_eagle_topk"}},
      {"speculative-num-draft-tokens", {Kind::kKey, "speculative_num_draft_tokens"}},
      {"speculative-draft-model-path", {Kind::kSpecial, ""}},
      {"speculative-draft-model-quantization", {Kind::kSpecial, ""}},
      {"dtype", {Kind::kSpecial, ""}},
      {"kv-cache-dtype", {Kind::kSpecial, ""}},
      {"attention-backend", {Kind::kSpecial, ""}},
      {"device", {Kind::kSpecial, ""}},
      {"random-seed", {Kind::kKey, "seed"}},
      {"disable-radix-cache", {Kind::kFlag, "disable_radix_cache"}},
      {"mamba-scheduler-strategy", {Kind::kKey, "mamba_scheduler_strategy"}},
      {"mamba-track-interval", {Kind::kKey, "mamba_track_interval"}},
      {"max-mamba-cache-size", {Kind::kKey, "max_mamba_cache_size"}},
      {"mamba-full-memory-ratio", {Kind::kKey, "mamba_full_memory_ratio"}},
      {"host", {Kind::kIgnore, "the server's address"}},
      {"port", {Kind::kIgnore, "the server's address"}},
      {"trust-remote-code", {Kind::kIgnoreFlag, "the model is read from its config.json"}},
      {"nnodes", {Kind::kIgnore, "the dies are counted by tp_size"}},
      {"node-rank", {Kind::kIgnore, "one node's part of the same server"}},
      {"dist-init-addr", {Kind::kIgnore, "the server's rendezvous address"}},
      {"log-level", {Kind::kIgnore, "the server's logging"}},
      {"served-model-name", {Kind::kIgnore, "a name in the API"}},
      {"watchdog-timeout", {Kind::kIgnore, "a server safety timeout"}},
      {"reasoning-parser",
       {Kind::kIgnore,
        "splits the output text into reasoning and answer: tokens are counted the same"}},
      {"tool-call-parser", {Kind::kIgnore, "parses tool calls out of the output text"}},
      {"enable-metrics", {Kind::kIgnoreFlag, "the server's Prometheus metrics"}},
      {"mm-attention-backend", {Kind::kIgnore, "the vision encoder's attention (text-only loads)"}},
      {"enable-multimodal", {Kind::kIgnoreFlag, "the vision encoder (text-only loads)"}},
      {"base-gpu-id", {Kind::kIgnore, "which devices, not how many"}},
      {"api-key", {Kind::kIgnore, "API access"}},
      {"tokenizer-path", {Kind::kIgnore, "loads are token counts"}},
      {"skip-server-warmup", {Kind::kIgnoreFlag, "bench_serving's own warm-up is not simulated"}},
  };
  return m;
}

const std::map<std::string, Arg>& BenchArgs() {
  static const std::map<std::string, Arg> m = {
      {"dataset-name", {Kind::kSpecial, ""}},
      {"random-input-len", {Kind::kKey, "random_input_len"}},
      {"random-input", {Kind::kKey, "random_input_len"}},
      {"random-output-len", {Kind::kKey, "random_output_len"}},
      {"random-output", {Kind::kKey, "random_output_len"}},
      {"random-range-ratio", {Kind::kKey, "random_range_ratio"}},
      {"num-prompts", {Kind::kKey, "num_prompts"}},
      {"max-concurrency", {Kind::kKey, "max_concurrency"}},
      {"request-rate", {Kind::kKey, "request_rate"}},
      {"seed", {Kind::kKey, "seed"}},
      {"backend", {Kind::kIgnore, "the client's API flavour"}},
      {"host", {Kind::kIgnore, "the server's address"}},
      {"port", {Kind::kIgnore, "the server's address"}},
      {"base-url", {Kind::kIgnore, "the server's address"}},
      {"model", {Kind::kIgnore, "the server's model is the launch line's"}},
      {"tokenizer", {Kind::kIgnore, "loads are token counts"}},
      {"output-file", {Kind::kIgnore, "where bench_serving writes its results"}},
      {"disable-tqdm", {Kind::kIgnoreFlag, "the client's progress bar"}},
      {"gsp-num-groups", {Kind::kKey, "gsp_num_groups"}},
      {"gsp-prompts-per-group", {Kind::kKey, "gsp_prompts_per_group"}},
      {"gsp-system-prompt-len", {Kind::kKey, "gsp_system_prompt_len"}},
      {"gsp-question-len", {Kind::kKey, "gsp_question_len"}},
      {"gsp-output-len", {Kind::kKey, "gsp_output_len"}},
      {"warmup-requests", {Kind::kSpecial, ""}},
      {"flush-cache", {Kind::kSpecial, ""}},
  };
  return m;
}

// A checkpoint folder's config.json, or the path itself when it names a .json file.
std::string ConfigJson(const std::string& path) {
  if (path.size() >= 5 && path.compare(path.size() - 5, 5, ".json") == 0) return path;
  return path + (path.empty() || path.back() == '/' ? "" : "/") + "config.json";
}

bool IsOption(const std::string& w) { return w.size() > 2 && w[0] == '-' && w[1] == '-'; }

// Words after the `-m MODULE` (or `MODULE`) that starts the command; leading VAR=value words
// are the command's environment.
std::vector<std::string> AfterModule(const std::vector<std::string>& words,
                                     const std::string& module, const std::string& what,
                                     std::vector<std::pair<std::string, std::string>>* env) {
  for (size_t i = 0; i < words.size(); ++i) {
    if (words[i] == module) return {words.begin() + static_cast<long>(i) + 1, words.end()};
    const size_t eq = words[i].find('=');
    if (env && eq != std::string::npos && eq > 0 && words[i][0] != '-')
      env->push_back({words[i].substr(0, eq), words[i].substr(eq + 1)});
  }
  throw InputError(what + ": not a `python -m " + module + "` command line");
}

std::string Refuse(const std::string& arg, const std::string& value, const std::string& why) {
  return "--" + arg + (value.empty() ? "" : " " + value) + ": " + why;
}

}  // namespace

std::string RunKeyFromSglang(const std::string& key) {
  std::string k = key;
  std::replace(k.begin(), k.end(), '-', '_');
  return k;
}

std::vector<std::string> ShellWords(const std::string& line) {
  std::vector<std::string> out;
  std::string cur;
  bool in_word = false;
  char quote = 0;
  for (size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (quote) {
      if (c == quote)
        quote = 0;
      else if (c == '\\' && quote == '"' && i + 1 < line.size())
        cur += line[++i];
      else
        cur += c;
      continue;
    }
    if (c == '\\' && i + 1 < line.size()) {
      if (line[i + 1] == '\n')
        ++i;  // line continuation
      else
        cur += line[++i], in_word = true;
      continue;
    }
    if (c == '\'' || c == '"') {
      quote = c;
      in_word = true;
      continue;
    }
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
      if (in_word) out.push_back(cur), cur.clear(), in_word = false;
      continue;
    }
    cur += c;
    in_word = true;
  }
  if (quote) throw InputError(std::string("unterminated ") + quote + " quote in the command line");
  if (in_word) out.push_back(cur);
  return out;
}

namespace {

// One import: the keys set so far (each once, or to the same value again), what was assumed and
// what was ignored, filled line by line.
class Importer {
 public:
  explicit Importer(const SglangImportOptions& o) : o_(o) {
    Set("device", o.device, "--device");
    out_.assumed.push_back(
        "device " + o.device +
        " (SGLang's --device npu does not say which chip; npusim import-sglang --device sets it)");
  }

  void Server(const std::string& server) {
    const std::vector<std::string> words =
        AfterModule(ShellWords(server), "sglang.launch_server", "the server line", &env_);
    Read(words, ServerArgs(), "the server line",
         [&](const std::string& name, const std::string& v) { ServerSpecial(name, v); });
    if (!model_seen_) throw InputError("the server line: --model-path is missing");
    DraftPath();
    Quantization();
    if (Value("moe_a2a_backend") == "deepep" && !at_.count("ep_size") && at_.count("tp_size")) {
      Set("ep_size", Value("tp_size"), "--moe-a2a-backend deepep");
      out_.assumed.push_back("ep_size = tp_size: SGLang's DeepEP runs the experts over every rank");
    }
    Environment();
  }

  void Bench(const std::string& bench) {
    if (bench.empty()) {
      out_.assumed.push_back("the load (no bench_serving line): the run config's defaults");
      return;
    }
    const std::vector<std::string> words =
        AfterModule(ShellWords(bench), "sglang.bench_serving", "the bench_serving line", nullptr);
    Read(words, BenchArgs(), "the bench_serving line",
         [&](const std::string& name, const std::string& v) {
           if (name == "dataset-name") {
             if (v != "random" && v != "generated-shared-prefix")
               throw InputError(
                   Refuse(name, v,
                          "not modelled: npusim's loads are random, generated-shared-prefix "
                          "(bench_serving's) or a JSONL trace of lengths"));
             Set("dataset_name", v, "--dataset-name");
           } else if (name == "warmup-requests") {  // bench_serving sends that many copies of the
                                                    // first prompt
             Set("warmup_requests", v == "0" ? "0" : "1", "--warmup-requests");
           } else if (name == "flush-cache") {  // flushed after the warm-up: the timed run starts
                                                // with an empty cache
             Set("warmup_requests", "0", "--flush-cache");
           }
         });
  }

  SglangImport Result() const { return out_; }

 private:
  using Special = std::function<void(const std::string&, const std::string&)>;

  void Set(const std::string& key, const std::string& value, const std::string& from) {
    auto it = at_.find(key);
    if (it != at_.end() && out_.keys[it->second].second != value)
      throw InputError(from + ": sets " + key + " to " + value +
                       " after another argument set it to " + out_.keys[it->second].second);
    if (it == at_.end()) at_[key] = out_.keys.size(), out_.keys.push_back({key, value});
  }
  std::string Value(const std::string& key) const {  // "" when not set
    auto it = at_.find(key);
    return it == at_.end() ? std::string() : out_.keys[it->second].second;
  }

  // Reads one line's arguments against `table`; `special` handles Kind::kSpecial.
  void Read(const std::vector<std::string>& words, const std::map<std::string, Arg>& table,
            const std::string& line_name, const Special& special) {
    std::vector<std::string> names;
    for (const auto& [k, v] : table) names.push_back("--" + k);
    for (size_t i = 0; i < words.size(); ++i) {
      std::string w = words[i], inline_value;
      bool has_inline = false;
      if (!IsOption(w)) throw InputError(line_name + ": '" + w + "' is not an --argument");
      const size_t eq = w.find('=');
      if (eq != std::string::npos)
        inline_value = w.substr(eq + 1), w = w.substr(0, eq), has_inline = true;
      const std::string name = w.substr(2);
      auto it = table.find(name);
      if (it == table.end())
        throw InputError(line_name + ": --" + name +
                         " is not known to npusim: it may change what is simulated, so it is "
                         "refused rather than dropped" +
                         NearestHint("--" + name, names));
      auto value = [&]() -> std::string {
        if (has_inline) return inline_value;
        if (i + 1 >= words.size() || IsOption(words[i + 1]))
          throw InputError(line_name + ": --" + name + " needs a value");
        return words[++i];
      };
      const Arg& a = it->second;
      switch (a.kind) {
        case Kind::kKey:
          Set(a.key, value(), "--" + name);
          break;
        case Kind::kFlag:
          Set(a.key, "true", "--" + name);
          break;
        case Kind::kIgnoreFlag:
          out_.ignored.push_back("--" + name + ": " + a.key);
          break;
        case Kind::kIgnore: {
          const std::string v = value();
          out_.ignored.push_back("--" + name + " " + v + ": " + a.key);
          break;
        }
        case Kind::kList: {
          std::string list;
          if (has_inline) list = inline_value;
          while (!has_inline && i + 1 < words.size() && !IsOption(words[i + 1]))
            list += (list.empty() ? "" : ", ") + words[++i];
          if (list.empty())
            throw InputError(line_name + ": --" + name + " needs at least one value");
          Set(a.key, "[" + list + "]", "--" + name);
          break;
        }
        case Kind::kSpecial:
          special(name, name == "flush-cache" ? std::string() : value());
          break;  // flush-cache: a flag
      }
    }
  }

  // The server arguments that need more than a key: checked values, derived keys, notes.
  void ServerSpecial(const std::string& name, const std::string& v) {
    if (name == "model-path" || name == "model") {
      model_seen_ = true;
      Set("model", o_.model.empty() ? ConfigJson(v) : o_.model, "--" + name);
    } else if (name == "moe-a2a-backend") {
      if (v != "none" && v != "deepep")
        throw InputError(Refuse(name, v, "not modelled (npusim has none and deepep)"));
      Set("moe_a2a_backend", v, "--" + name);
    } else if (name == "deepep-mode") {
      if (v != "auto")
        throw InputError(Refuse(name, v,
                                "not modelled: npusim times DeepEP as `auto` does (normal mode for "
                                "prefill, low-latency for decode)"));
      out_.ignored.push_back("--deepep-mode auto: what npusim models");
    } else if (name == "quantization") {
      quantization_ = v;
    } else if (name == "cuda-graph-max-bs") {
      GraphMaxBatch(name, v);
    } else if (name == "speculative-draft-model-path") {
      draft_path_ = v;
    } else if (name == "speculative-draft-model-quantization") {
      if (v != "unquant" && v != "w8a8_dynamic")
        throw InputError(Refuse(name, v, "not modelled: the draft is unquant or w8a8_dynamic"));
      if (v == "unquant")
        out_.ignored.push_back("--speculative-draft-model-quantization unquant: npusim's default");
      else
        Set("speculative_draft_model_quantization", v, "--" + name);
    } else {
      ServerChecked(name, v);
    }
  }
  // Arguments npusim reads only to check they ask for what it models.
  void ServerChecked(const std::string& name, const std::string& v) {
    if (name == "dtype") {
      if (v != "bfloat16" && v != "auto")
        throw InputError(Refuse(name, v, "not modelled: activations are bf16"));
      out_.ignored.push_back("--dtype " + v + ": bf16 activations, as npusim models");
    } else if (name == "kv-cache-dtype") {
      if (v != "auto" && v != "bfloat16")
        throw InputError(Refuse(name, v, "not modelled: the KV cache is bf16"));
      out_.ignored.push_back("--kv-cache-dtype " + v + ": a bf16 KV cache, as npusim models");
    } else if (name == "attention-backend") {
      if (v != "ascend")
        throw InputError(
            Refuse(name, v, "not modelled: npusim's attention is the ascend backend's (FIA)"));
      out_.ignored.push_back("--attention-backend ascend: the backend npusim models");
    } else if (name == "device") {
      if (v != "npu") throw InputError(Refuse(name, v, "npusim simulates Ascend NPUs"));
      out_.ignored.push_back("--device npu: which chip is npusim's --device");
    }
  }
  // SGLang's capture list up to the maximum: 1, 2, 4, 8, then every 8.
  void GraphMaxBatch(const std::string& name, const std::string& v) {
    long max = 0;
    try {
      max = std::stol(v);
    } catch (const std::exception&) {
    }
    if (max < 1) throw InputError(Refuse(name, v, "takes a positive batch size"));
    std::string list;
    for (long b : {1L, 2L, 4L, 8L})
      if (b <= max) list += (list.empty() ? "" : ", ") + std::to_string(b);
    for (long b = 16; b <= max; b += 8) list += ", " + std::to_string(b);
    if (max > 8 && max % 8) list += ", " + std::to_string(max);
    Set("cuda_graph_bs", "[" + list + "]", "--cuda-graph-max-bs");
    out_.assumed.push_back("graph batch sizes from --cuda-graph-max-bs " + v +
                           ": 1, 2, 4, 8 and every 8 up to it");
  }

  // --speculative-draft-model-path, read once the algorithm is known: Ascend NEXTN launch lines
  // name the target's own checkpoint as the draft (the MTP layers are in it).
  void DraftPath() {
    if (draft_path_.empty()) return;
    if (Value("speculative_algorithm") == "EAGLE3")
      Set("speculative_draft_model_path",
          o_.draft_model.empty() ? ConfigJson(draft_path_) : o_.draft_model,
          "--speculative-draft-model-path");
    else
      out_.ignored.push_back("--speculative-draft-model-path " + draft_path_ +
                             ": NEXTN drafts with the model's own MTP layers");
  }
  void Quantization() {
    if (quantization_.empty()) return;
    if (quantization_ != "modelslim" && quantization_ != "w8a8_int8")
      throw InputError(Refuse("quantization", quantization_,
                              "not modelled (modelslim W8A8 / W4A8 checkpoints are)"));
    if (o_.weights != "w8a8_dynamic" && o_.weights != "w4a8_dynamic")
      throw InputError("--quantization " + quantization_ +
                       ": the checkpoint carries its scheme; say which with import-sglang "
                       "--weights w8a8_dynamic or w4a8_dynamic");
    Set("quantization", o_.weights, "--quantization");
  }
  void Environment() {
    bool hccl_mode = false;
    for (const auto& [k, v] : env_) {
      if (k == "HCCL_OP_EXPANSION_MODE") {
        hccl_mode = true;
        HcclExpansion(v);
      } else if (k == "GDN_ATTN_BACKEND_TRITON" && v == "1")
        Set("gdn_decode_impl", "triton_chain", k);
      else if (k == "ENABLE_ASCENDC_FUSION_GDN" && v == "1")
        Set("gdn_decode_impl", "fused", k);
      else if (k == "SGLANG_NPU_USE_MLAPO" && (v == "1" || v == "true"))
        Set("mla_prolog", "fused", k);
      else if (k == "DEEP_NORMAL_MODE_USE_INT8_QUANT" && (v == "1" || v == "true"))
        Set("deepep_normal_dispatch", "int8", k);
      // SGLang's server_args reads these two as --enable-prefill-delayer and its pass bound.
      else if (k == "SGLANG_SCHEDULER_DECREASE_PREFILL_IDLE" && (v == "1" || v == "true"))
        Set("enable_prefill_delayer", "true", k);
      else if (k == "SGLANG_PREFILL_DELAYER_MAX_DELAY_PASSES")
        Set("prefill_delayer_max_delay_passes", v, k);
      else
        out_.ignored.push_back("environment " + k + "=" + v + ": not read by npusim");
    }
    if (!hccl_mode && Value("tp_size") != "" && Value("tp_size") != "1") HcclExpansion("");
  }
  // npusim times every collective as HCCL expands it on the vector cores (AIV). Another expansion
  // (AI_CPU is A3's default, CANN envref_07_0096) has a fixed per-call cost npusim does not model:
  // say so where the launch does not ask for AIV.
  void HcclExpansion(const std::string& v) {
    if (v == "AIV") {
      out_.ignored.push_back(
          "environment HCCL_OP_EXPANSION_MODE=AIV: the expansion npusim times collectives with");
      return;
    }
    out_.assumed.push_back(
        "collectives timed as HCCL's AIV expansion, though the launch " +
        (v.empty() ? std::string("leaves HCCL_OP_EXPANSION_MODE unset (A3's default is AI_CPU)")
                   : "sets HCCL_OP_EXPANSION_MODE=" + v) +
        ": the per-call cost of that expansion is not modelled");
  }

  const SglangImportOptions& o_;
  SglangImport out_;
  std::map<std::string, size_t> at_;  // run key -> index in out_.keys
  std::vector<std::pair<std::string, std::string>> env_;
  bool model_seen_ = false;
  std::string draft_path_, quantization_;
};

}  // namespace

SglangImport ImportSglang(const std::string& server, const std::string& bench,
                          const SglangImportOptions& o) {
  Importer im(o);
  im.Server(server);
  im.Bench(bench);
  return im.Result();
}

std::string SglangImport::Yaml() const {
  std::string y = "# Written by `npusim import-sglang` from SGLang command lines.\n";
  for (const auto& a : assumed) y += "# assumed: " + a + "\n";
  for (const auto& i : ignored) y += "# ignored: " + i + "\n";
  for (const auto& [k, v] : keys) y += k + ": " + v + "\n";
  return y;
}

}  // namespace npusim
