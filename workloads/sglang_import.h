// SGLang's own spellings as input: a pasted `python -m sglang.launch_server ...` line (and
// optionally its `python -m sglang.bench_serving ...` line) becomes a run config. Every argument
// is either mapped to a run key, accepted as changing nothing in a simulation (listed as
// ignored), or refused with an InputError naming it: an argument that would change the
// simulation but is not modelled must not be dropped silently. Plain C++.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace npusim {

struct SglangImportOptions {
  std::string device = "Ascend910_9392";  // SGLang's --device npu does not say which chip
  // The weights a `--quantization modelslim` checkpoint carries (the scheme is in the checkpoint,
  // not the launch line): w8a8_dynamic or w4a8_dynamic.
  std::string weights;
  // The model's (and the EAGLE3 draft's) config.json, written into the run config as given (a
  // path relative to the run config's folder), when --model-path / --speculative-draft-model-path
  // do not lead to one (a checkpoint folder holds config.json, which is what is used otherwise).
  std::string model, draft_model;
};

struct SglangImport {
  std::vector<std::pair<std::string, std::string>>
      keys;                          // run keys in order, values as YAML scalars / flow lists
  std::vector<std::string> ignored;  // "--host 0.0.0.0: ..." why it changes nothing
  std::vector<std::string> assumed;  // values the lines do not give
  std::string Yaml() const;          // the run config, a header comment listing the above
};

// Splits a shell command line into words (single / double quotes, backslash escapes, line
// continuations); InputError on an unterminated quote.
std::vector<std::string> ShellWords(const std::string& line);

// `server` is the launch_server line; `bench` the bench_serving line or empty.
SglangImport ImportSglang(const std::string& server, const std::string& bench,
                          const SglangImportOptions& o);

// A run-config key in SGLang's spelling (`tp-size`) as the run config's (`tp_size`).
std::string RunKeyFromSglang(const std::string& key);

}  // namespace npusim
