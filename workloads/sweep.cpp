#include "workloads/sweep.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "model/config.h"
#include "model/error.h"
#include "model/progress.h"
#include "model/text.h"
#include "ops/op.h"
#include "workloads/run_config.h"
#include "workloads/self_runs.h"

namespace npusim {

namespace {

std::vector<std::string> SplitKeys(const std::string& s) {
  std::vector<std::string> out(1);
  for (char c : s) {
    if (c == ',')
      out.emplace_back();
    else if (c != ' ')
      out.back() += c;
  }
  return out;
}

std::string One(const std::string& file, const YAML::Node& n) {
  if (!n.IsScalar()) throw InputError(Where(file, n) + ": expected a single value");
  return n.Scalar();
}

}  // namespace

SweepConfig ParseSweepConfig(const std::string& text, const std::string& file) {
  const YAML::Node root = LoadYamlString(text, file);
  if (!root.IsMap())
    throw InputError(Where(file, root) +
                     ": a sweep config is a mapping (run or kernel, device, grid)");
  RequireKnownKeys(root, file, {"run", "kernel", "device", "grid"});
  SweepConfig c;
  c.file = file;
  if (root["run"]) {
    c.run = One(file, root["run"]);
    if (!std::filesystem::path(c.run).is_absolute())
      c.run = (std::filesystem::path(file).parent_path() / c.run).lexically_normal().string();
  }
  if (root["kernel"]) c.kernel = One(file, root["kernel"]);
  if (c.run.empty() == c.kernel.empty())
    throw InputError(Where(file, root) +
                     ": a sweep needs exactly one of 'run' (a run config) or 'kernel'");
  if (root["device"]) c.device = One(file, root["device"]);
  // Valid keys: the run config's, or the kernel's parameters.
  std::vector<std::string> valid;
  if (!c.run.empty()) {
    RunConfig probe;
    ParamTable t;
    probe.Bind(t);
    for (const auto& r : t.rows()) valid.push_back(r.key);
  } else {
    for (const auto& p : FindOp(c.kernel).params()) valid.push_back(p.name);
  }
  const YAML::Node grid = root["grid"];
  if (!grid) throw InputError(Where(file, root) + ": missing key 'grid' (keys to lists of values)");
  if (!grid.IsMap() || grid.size() == 0)
    throw InputError(Where(file, grid) + ": 'grid' maps keys to lists of values");
  for (auto it = grid.begin(); it != grid.end(); ++it) {
    SweepAxis a;
    a.keys = SplitKeys(it->first.Scalar());
    for (const auto& k : a.keys)
      if (std::find(valid.begin(), valid.end(), k) == valid.end())
        throw InputError(Where(file, it->first) + ": unknown key '" + k + "'" +
                         NearestHint(k, valid));
    const YAML::Node values = it->second;
    if (!values.IsSequence() || values.size() == 0)
      throw InputError(Where(file, values) + ": '" + it->first.Scalar() +
                       "' takes a list of values");
    for (size_t vi = 0; vi < values.size(); ++vi) {
      const YAML::Node v = values[vi];
      std::vector<std::string> step;
      if (a.keys.size() == 1) {
        step.push_back(One(file, v));
      } else {
        if (!v.IsSequence() || v.size() != a.keys.size())
          throw InputError(Where(file, v) + ": each value of '" + it->first.Scalar() + "' lists " +
                           std::to_string(a.keys.size()) + " values");
        for (size_t xi = 0; xi < v.size(); ++xi) step.push_back(One(file, v[xi]));
      }
      a.values.push_back(std::move(step));
    }
    c.axes.push_back(std::move(a));
  }
  return c;
}

SweepConfig LoadSweepConfig(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw InputError(path + ": no such sweep config");
  LoadYamlFile(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ParseSweepConfig(ss.str(), path);
}

std::vector<std::vector<std::pair<std::string, std::string>>> SweepPoints(const SweepConfig& c) {
  std::vector<std::vector<std::pair<std::string, std::string>>> out = {{}};
  for (const SweepAxis& a : c.axes) {
    std::vector<std::vector<std::pair<std::string, std::string>>> next;
    for (const auto& p : out)
      for (const auto& step : a.values) {
        auto q = p;
        for (size_t i = 0; i < a.keys.size(); ++i) q.push_back({a.keys[i], step[i]});
        next.push_back(std::move(q));
      }
    out = std::move(next);
  }
  return out;
}

std::pair<int64_t, int64_t> ParseShard(const std::string& s) {
  const auto slash = s.find('/');
  try {
    if (slash != std::string::npos) {
      size_t a = 0, b = 0;
      const long long i = std::stoll(s.substr(0, slash), &a),
                      n = std::stoll(s.substr(slash + 1), &b);
      if (a == slash && b == s.size() - slash - 1 && n >= 1 && i >= 1 && i <= n) return {i, n};
    }
  } catch (const std::exception&) {
  }
  throw InputError("--shard takes I/N with 1 <= I <= N (e.g. 2/4), got '" + s + "'");
}

std::string SweepGridId(const SweepConfig& c) {
  uint64_t h = 1469598103934665603ull;  // FNV-1a, 64 bit
  auto mix = [&](const std::string& text) {
    for (unsigned char ch : text) h = (h ^ ch) * 1099511628211ull;
    h = (h ^ 0xffu) * 1099511628211ull;  // a separator no text byte sequence can fake
  };
  if (!c.run.empty()) {
    std::ifstream in(c.run, std::ios::binary);
    std::stringstream text;
    text << in.rdbuf();
    mix("run");
    mix(text.str());
  } else {
    mix("kernel " + c.kernel);
    mix(c.device);
  }
  for (const auto& point : SweepPoints(c))
    for (const auto& [k, v] : point) mix(k + "=" + v);
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(h));
  return hex;
}

void ValidateSweepPoints(const SweepConfig& c) {
  if (c.run.empty()) {
    FindOp(c.kernel);
    return;
  }
  const auto points = SweepPoints(c);
  for (size_t i = 0; i < points.size(); ++i) {
    try {
      LoadRunConfig(c.run, points[i]);
    } catch (const InputError& e) {
      std::string sets;
      for (const auto& [k, v] : points[i]) sets += (sets.empty() ? "" : " ") + k + "=" + v;
      throw InputError(c.file + ": point " + std::to_string(i) + " (" + sets + "): " + e.what());
    }
  }
}

std::vector<int64_t> ShardPoints(int64_t total, std::pair<int64_t, int64_t> shard) {
  std::vector<int64_t> mine;
  for (int64_t i = 0; i < total; ++i)
    if (InShard(i, shard)) mine.push_back(i);
  return mine;
}

std::vector<std::string> SweepPointCommand(
    const SweepConfig& c, const std::vector<std::pair<std::string, std::string>>& point) {
  std::vector<std::string> args =
      c.run.empty()
          ? std::vector<std::string>{"kernel", c.kernel, "--device", c.device, "--timing-only"}
          : std::vector<std::string>{"run", c.run};
  for (const auto& [k, v] : point) args.insert(args.end(), {"--set", k + "=" + v});
  return args;
}

bool SweepPointFinished(int code) {
  return code == kExitOk || code == kExitInvalidInput || code == kExitSimulatedFailure;
}

std::string SweepDefaultOut(const std::string& config_path, std::pair<int64_t, int64_t> shard) {
  return "reports/out/sweep-" + std::filesystem::path(config_path).stem().string() +
         (shard.second > 1 ? "-" + std::to_string(shard.first) + "of" + std::to_string(shard.second)
                           : "");
}

// Points of `mine` an earlier run of the same grid finished, with their exit codes: in
// DIR.partial (an interrupted sweep) or DIR (a finished one, copied so DIR stays whole until the
// commit). A partial folder of another grid (or of none) is cleared and stamped with this one.
std::map<int64_t, int> AdoptFinishedPoints(const std::string& partial, const std::string& final_dir,
                                           const std::string& grid,
                                           const std::vector<int64_t>& mine) {
  namespace fs = std::filesystem;
  auto stamp_of = [](const std::string& dir) {
    std::string s = ReadFileText(dir + "/grid_id");
    while (!s.empty() && s.back() == '\n') s.pop_back();
    return s;
  };
  if (stamp_of(partial) != grid) {
    for (const auto& e : fs::directory_iterator(partial)) fs::remove_all(e.path());
    WriteFileOrThrow(partial + "/grid_id", grid + "\n");
  }
  const bool finished_here = stamp_of(final_dir) == grid;
  std::map<int64_t, int> done;
  for (int64_t i : mine) {
    const std::string rel = "/points/" + std::to_string(i);
    if (!fs::exists(partial + rel + "/exit_code") && finished_here &&
        fs::exists(final_dir + rel + "/exit_code")) {
      fs::remove_all(partial + rel);
      fs::create_directories(partial + "/points");
      fs::copy(final_dir + rel, partial + rel, fs::copy_options::recursive);
    }
    const std::string code = ReadFileText(partial + rel + "/exit_code");
    if (!code.empty()) done[i] = std::atoi(code.c_str());
  }
  return done;
}

void RunSweepPoints(const SweepConfig& c, const SweepShardRun& run, const std::string& points_dir,
                    std::map<int64_t, int>& codes) {
  const auto points = SweepPoints(c);
  std::vector<int64_t> todo;
  std::vector<std::vector<std::string>> commands;
  for (int64_t i : ShardPoints(static_cast<int64_t>(points.size()), run.shard))
    if (!codes.count(i)) {
      todo.push_back(i);
      commands.push_back(SweepPointCommand(c, points[static_cast<size_t>(i)]));
    }
  auto dir = [&](size_t k) { return points_dir + "/" + std::to_string(todo[k]); };
  const EtaProgress eta(
      "points of shard " + std::to_string(run.shard.first) + "/" + std::to_string(run.shard.second),
      static_cast<int64_t>(todo.size()));
  int64_t finished = 0;
  const std::vector<int> exit_codes = RunChildren(
      commands, dir, run.jobs,
      [&](size_t k, int code) {
        if (SweepPointFinished(code))
          WriteFileOrThrow(dir(k) + "/exit_code", std::to_string(code) + "\n");
        eta.Done(++finished, "point " + std::to_string(todo[k]) + ": " +
                                 (code == kExitTimeout ? "killed at --point-timeout"
                                                       : "exit " + std::to_string(code)));
      },
      run.point_timeout_s);
  for (size_t k = 0; k < todo.size(); ++k) codes[todo[k]] = exit_codes[k];
}

}  // namespace npusim
