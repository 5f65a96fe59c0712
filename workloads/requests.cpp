#include "workloads/requests.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>

#include "model/config.h"
#include "model/error.h"
#include "model/rng.h"
#include "model/text.h"

namespace npusim {

namespace {
// Request arrivals stay within the simulated clock's comfortable range (SystemC time in ps is an
// int64: 9.2e6 s in all; a run also adds its own length after the last arrival).
constexpr double kMaxArrivalS = 1e6;

// Where a request error comes from: the run config's file, or "run config" for one built in code.
std::string ConfigName(const RunConfig& c) { return c.file.empty() ? "run config" : c.file; }

// dataset_name trace: the JSONL file's requests, at most num_prompts of them.
std::vector<Request> TraceRequests(const RunConfig& c) {
  std::vector<Request> out;
  std::string path = c.dataset_path;
  if (!c.file.empty() && !std::filesystem::path(path).is_absolute())
    path = (std::filesystem::path(c.file).parent_path() / path).lexically_normal().string();
  out = ReadTrace(path);
  if (static_cast<int64_t>(out.size()) > c.num_prompts) {
    spdlog::warn("{}: {} requests, num_prompts {} serves the first {} by arrival", path, out.size(),
                 c.num_prompts, c.num_prompts);
    out.resize(c.num_prompts);
  }
  return out;
}

// bench_serving's generated-shared-prefix generator: every prompt of group g is system prompt g
// followed by a question of its own; the groups' prompts are shuffled (seeded; not Python's
// sequence) and the load is all of them (num_prompts is not read, as in bench_serving).
std::vector<Request> SharedPrefixRequests(const RunConfig& c) {
  std::vector<Request> out;
  const int64_t total = c.gsp_num_groups * c.gsp_prompts_per_group;
  if (total > 10000000)
    throw InputError(ConfigName(c) + ": gsp_num_groups x gsp_prompts_per_group is " +
                     std::to_string(total) + " requests, over 1e7");
  for (int64_t g = 0; g < c.gsp_num_groups; ++g)
    for (int64_t q = 0; q < c.gsp_prompts_per_group; ++q) {
      Request r;
      r.input_len = c.gsp_system_prompt_len + c.gsp_question_len;
      r.output_len = c.gsp_output_len;
      // Content ids: system prompts 2^62 + g, questions 2^62 + 2^40 + their index.
      if (c.gsp_system_prompt_len > 0)
        r.prompt.push_back(
            {(uint64_t{1} << 62) + static_cast<uint64_t>(g), c.gsp_system_prompt_len});
      r.prompt.push_back({(uint64_t{1} << 62) + (uint64_t{1} << 40) +
                              static_cast<uint64_t>(g * c.gsp_prompts_per_group + q),
                          c.gsp_question_len});
      out.push_back(std::move(r));
    }
  Rng shuffle(static_cast<uint64_t>(c.seed) * 0x9e3779b97f4a7c15ULL + 31);
  for (size_t i = out.size(); i > 1; --i)
    std::swap(out[i - 1],
              out[static_cast<size_t>(shuffle.UniformInt(0, static_cast<int64_t>(i) - 1))]);
  for (size_t i = 0; i < out.size(); ++i) out[i].id = static_cast<int64_t>(i);
  return out;
}

// bench_serving random: lengths uniform in [max(1, ratio x len), len].
std::vector<Request> RandomRequests(const RunConfig& c) {
  std::vector<Request> out;
  Rng rng(static_cast<uint64_t>(c.seed) * 0x9e3779b97f4a7c15ULL + 11);
  const int64_t in_lo = std::max<int64_t>(
      1, static_cast<int64_t>(static_cast<double>(c.random_input_len) * c.random_range_ratio));
  const int64_t out_lo = std::max<int64_t>(
      1, static_cast<int64_t>(static_cast<double>(c.random_output_len) * c.random_range_ratio));
  for (int64_t i = 0; i < c.num_prompts; ++i) {
    Request r;
    r.id = i;
    r.input_len = rng.UniformInt(in_lo, c.random_input_len);
    r.output_len = rng.UniformInt(out_lo, c.random_output_len);
    out.push_back(r);
  }
  return out;
}

// Poisson arrivals at request_rate (exponential gaps, the first request at t = 0); inf leaves
// every request at t = 0.
void PoissonArrivals(const RunConfig& c, std::vector<Request>& out) {
  const double rate = c.request_rate;
  if (std::isfinite(rate)) {  // Poisson process: exponential gaps, the first request at t = 0
    Rng gaps(static_cast<uint64_t>(c.seed) * 0x9e3779b97f4a7c15ULL + 23);
    double t = 0;
    for (Request& r : out) {
      r.arrival_us = t;
      t += -std::log(1.0 - gaps.Uniform()) / rate * 1e6;
    }
    // A rate so low that the arrivals leave the simulated clock's range would saturate time.
    if (!out.empty() && !(out.back().arrival_us <= kMaxArrivalS * 1e6))
      throw InputError(
          ConfigName(c) + ": request_rate " + FormatNumber(rate) + " puts request " +
          std::to_string(out.back().id) + " at " + FormatNumber(out.back().arrival_us / 1e6) +
          " s, past the 1e6 s a run can simulate; raise request_rate or lower num_prompts");
  }
}

}  // namespace

std::vector<Request> GenerateRequests(const RunConfig& c) {
  std::vector<Request> out = c.dataset_name == "trace"                     ? TraceRequests(c)
                             : c.dataset_name == "generated-shared-prefix" ? SharedPrefixRequests(c)
                                                                           : RandomRequests(c);
  if (c.dataset_name != "trace") PoissonArrivals(c, out);
  // A random or trace prompt shares its tokens with no other (its own content id); the warm-up
  // replays the first one, so that request finds its pages cached.
  for (Request& r : out)
    if (r.prompt.empty())
      r.prompt = {{(uint64_t{1} << 63) | static_cast<uint64_t>(r.id), r.input_len}};
  for (const Request& r : out)
    if (r.input_len + r.output_len > c.context_length)
      throw InputError(ConfigName(c) + ": request " + std::to_string(r.id) + " needs " +
                       std::to_string(r.input_len + r.output_len) +
                       " tokens, over context_length " + std::to_string(c.context_length));
  return out;
}

std::vector<Request> ReadTrace(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw InputError(path + ": cannot open the request trace");
  std::vector<Request> out;
  std::string line;
  int64_t lineno = 0;
  while (std::getline(in, line)) {
    ++lineno;
    if (line.find_first_not_of(" \t\r") == std::string::npos ||
        line[line.find_first_not_of(" \t")] == '#')
      continue;
    const std::string where = path + ":" + std::to_string(lineno);
    YAML::Node n;
    try {
      n = YAML::Load(line);  // a JSON object is a YAML flow mapping
    } catch (const YAML::Exception& e) {
      throw InputError(where + ":" + std::to_string(e.mark.column + 1) +
                       ": not a JSON object: " + e.msg);
    }
    if (!n.IsMap()) throw InputError(where + ":1: expected a JSON object per line");
    Request r;
    r.id = static_cast<int64_t>(out.size());
    std::vector<std::string> known = {"input_len", "output_len", "arrival_s"};
    for (auto it = n.begin(); it != n.end(); ++it) {
      const std::string key = it->first.Scalar();
      if (std::find(known.begin(), known.end(), key) == known.end())
        throw InputError(where + ":" + std::to_string(it->first.Mark().column + 1) +
                         ": unknown key '" + key + "'" + NearestHint(key, known));
    }
    // Bounded so input + output cannot overflow before the context check (a request longer
    // than any context is refused there anyway).
    constexpr int64_t kMaxLen = 1000000000;
    auto integer = [&](const char* key) {
      int64_t v = 0;
      if (!n[key] || !YAML::convert<int64_t>::decode(n[key], v) || v < 1 || v > kMaxLen)
        throw InputError(where + ": '" + key + "' must be an integer in [1, 1e9] tokens");
      return v;
    };
    r.input_len = integer("input_len");
    r.output_len = integer("output_len");
    if (n["arrival_s"]) {
      double s = 0;
      if (!YAML::convert<double>::decode(n["arrival_s"], s) || !(s >= 0) || !(s <= kMaxArrivalS))
        throw InputError(
            where +
            ": 'arrival_s' must be a time in [0, 1e6] seconds (the simulated clock's range)");
      r.arrival_us = s * 1e6;
    }
    out.push_back(r);
  }
  if (out.empty()) throw InputError(path + ": the trace has no requests");
  std::stable_sort(out.begin(), out.end(),
                   [](const Request& a, const Request& b) { return a.arrival_us < b.arrival_us; });
  return out;
}

}  // namespace npusim
