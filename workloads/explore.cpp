#include "workloads/explore.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>

#include "model/config.h"
#include "model/error.h"
#include "model/text.h"
#include "ops/runner.h"
#include "workloads/step_cost.h"

namespace npusim {

namespace {

std::string Scalar(const std::string& file, const YAML::Node& n, const std::string& what) {
  if (!n.IsScalar()) throw InputError(Where(file, n) + ": " + what + " takes a single value");
  return n.Scalar();
}

// A list, or a range {from, to, step} (inclusive), of values.
std::vector<std::string> Values(const std::string& file, const YAML::Node& n,
                                const std::string& key) {
  std::vector<std::string> out;
  if (n.IsSequence()) {
    for (const auto& v : n) out.push_back(Scalar(file, v, "'" + key + "'"));
  } else if (n.IsMap()) {
    for (auto it = n.begin(); it != n.end(); ++it) {
      const std::string k = it->first.Scalar();
      if (k != "from" && k != "to" && k != "step")
        throw InputError(Where(file, it->first) + ": unknown key '" + k + "' in the range of '" +
                         key + "'" + NearestHint(k, {"from", "to", "step"}));
    }
    double from = 0, to = 0, step = 0;
    if (!n["from"] || !n["to"] || !n["step"] || !YAML::convert<double>::decode(n["from"], from) ||
        !YAML::convert<double>::decode(n["to"], to) ||
        !YAML::convert<double>::decode(n["step"], step) || step <= 0 || to < from)
      throw InputError(Where(file, n) + ": the range of '" + key +
                       "' needs numbers from <= to and step > 0");
    for (double v = from; v <= to + 1e-9 * std::fabs(to); v += step) out.push_back(FormatNumber(v));
  } else {
    out.push_back(Scalar(file, n, "'" + key + "'"));
  }
  if (out.empty()) throw InputError(Where(file, n) + ": '" + key + "' sweeps no value");
  return out;
}

std::vector<std::string> DeviceKeys() {
  DeviceConfig d;
  ParamTable t;
  d.Bind(t);
  std::vector<std::string> keys;
  for (const auto& r : t.rows()) keys.push_back(r.key);
  return keys;
}

void SetDevice(DeviceConfig& d, const std::string& key, const std::string& value) {
  ParamSetter set(key, value);
  d.Bind(set);
  if (!set.found())
    throw InputError("device_sweep: unknown device key '" + key + "'" +
                     NearestHint(key, DeviceKeys()));
}

// One point as a JSON line: status, time, roofline, bound, peaks, message.
std::string Encode(const KernelRun& r, const DeviceConfig& d) {
  const double terms[] = {r.memory_bound_us, r.cube_bound_us, r.vector_bound_us, r.link_bound_us};
  const char* names[] = {"memory", "cube", "vector", "link"};
  const int b =
      static_cast<int>(std::max_element(std::begin(terms), std::end(terms)) - std::begin(terms));
  nlohmann::json peaks = nlohmann::json::array();
  for (Mem m : {Mem::kUb, Mem::kL1, Mem::kL0A, Mem::kL0B, Mem::kL0C})
    peaks.push_back(r.launch.peak_bytes[static_cast<int>(m)]);
  return nlohmann::json{{"status", r.status},
                        {"time_us", r.launch.time_us},
                        {"roofline_us", r.roofline_us},
                        {"bound", names[b]},
                        {"peaks", peaks},
                        {"ub_bytes", d.ub_bytes},
                        {"message", r.message}}
             .dump() +
         "\n";
}

void Decode(const std::string& line, ExplorePoint& p) {
  try {
    const nlohmann::json j = nlohmann::json::parse(line);
    p.status = j.at("status").get<std::string>();
    p.time_us = j.at("time_us").get<double>();
    p.roofline_us = j.at("roofline_us").get<double>();
    p.bound = j.at("bound").get<std::string>();
    const nlohmann::json& peaks = j.at("peaks");
    p.ub_peak = peaks.at(0).get<int64_t>();
    p.l1_peak = peaks.at(1).get<int64_t>();
    p.l0a_peak = peaks.at(2).get<int64_t>();
    p.l0b_peak = peaks.at(3).get<int64_t>();
    p.l0c_peak = peaks.at(4).get<int64_t>();
    p.ub_bytes = j.at("ub_bytes").get<int64_t>();
    p.message = j.at("message").get<std::string>();
  } catch (const nlohmann::json::exception&) {
    throw std::runtime_error("explore: bad record '" + line + "'");
  }
  std::smatch m;
  static const std::regex kBits("requires ([0-9]+) bits while ([0-9]+) bits available");
  if (std::regex_search(p.message, m, kBits)) {
    p.required_bits = std::stoll(m[1]);
    p.available_bits = std::stoll(m[2]);
  }
}

}  // namespace

ExploreConfig ParseExploreConfig(const std::string& text, const std::string& file) {
  const YAML::Node root = LoadYamlString(text, file);
  if (!root.IsMap())
    throw InputError(
        Where(file, root) +
        ": an explore config is a mapping (kernel, devices, fixed, sweep, device_sweep)");
  RequireKnownKeys(root, file, {"kernel", "devices", "fixed", "sweep", "device_sweep"});
  ExploreConfig c;
  c.file = file;
  if (!root["kernel"])
    throw InputError(Where(file, root) +
                     ": missing key 'kernel' (the kernel to explore, see npusim kernel --list)");
  c.kernel = Scalar(file, root["kernel"], "'kernel'");
  const Op& op = FindOp(c.kernel);
  ParamValues check(op.params());
  auto params_of = [&](const char* section) {
    std::vector<std::pair<std::string, std::vector<std::string>>> out;
    const YAML::Node n = root[section];
    if (!n) return out;
    if (!n.IsMap())
      throw InputError(Where(file, n) + ": '" + section + "' maps kernel parameters to values");
    for (auto it = n.begin(); it != n.end(); ++it) {
      const std::string k = it->first.Scalar();
      std::vector<std::string> v = Values(file, it->second, k);
      try {
        for (const auto& x : v) check.Set(k, x);
      } catch (const InputError& e) {
        throw InputError(Where(file, it->first) + ": " + section + "." + k + ": " + e.what());
      }
      out.push_back({k, std::move(v)});
    }
    return out;
  };
  for (const auto& [k, v] : params_of("fixed")) {
    if (v.size() != 1)
      throw InputError(file + ": fixed." + k + " takes one value (sweep it under 'sweep')");
    c.fixed.push_back({k, v[0]});
  }
  c.sweep = params_of("sweep");
  if (root["devices"])
    c.devices = Values(file, root["devices"], "devices");
  else
    c.devices = {"Ascend910B3"};
  for (const auto& d : c.devices) {
    try {
      LoadDevice(d);
    } catch (const InputError& e) {
      throw InputError(Where(file, root["devices"]) + ": " + e.what());
    }
  }
  if (const YAML::Node n = root["device_sweep"]) {
    if (!n.IsMap())
      throw InputError(
          Where(file, n) +
          ": 'device_sweep' maps dotted device keys (buffers.ub_bytes, ...) to values");
    DeviceConfig probe = LoadDevice(c.devices.front());
    for (auto it = n.begin(); it != n.end(); ++it) {
      const std::string k = it->first.Scalar();
      std::vector<std::string> v = Values(file, it->second, k);
      try {
        for (const auto& x : v) SetDevice(probe, k, x);
      } catch (const InputError& e) {
        throw InputError(Where(file, it->first) + ": " + e.what());
      }
      c.device_sweep.push_back({k, std::move(v)});
    }
    // Every device variant keeps the device files' own rules (a device_sweep bypassed them).
    for (const std::string& dev : c.devices)
      for (const KeyValues& dv : Combinations(c.device_sweep)) {
        DeviceConfig d = LoadDevice(dev);
        std::string what;
        for (const auto& [k, x] : dv) {
          SetDevice(d, k, x);
          what += (what.empty() ? "" : " ") + k + "=" + x;
        }
        CheckDevice(d, Where(file, n) + ": device_sweep point " + dev + " " + what);
      }
  }
  return c;
}

ExploreConfig LoadExploreConfig(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw InputError(path + ": no such explore config");
  LoadYamlFile(path);  // syntax errors with file:line:col
  std::stringstream ss;
  ss << in.rdbuf();
  return ParseExploreConfig(ss.str(), path);
}

ExploreResult RunExplore(const ExploreConfig& c, const ExploreProgress& progress) {
  ExploreResult res;
  res.config = c;
  const std::vector<KeyValues> kernel_grid = Combinations(c.sweep),
                               device_grid = Combinations(c.device_sweep);
  const int64_t total =
      static_cast<int64_t>(c.devices.size() * device_grid.size() * kernel_grid.size());
  const Op& op = FindOp(c.kernel);
  for (const std::string& dev : c.devices)
    for (const KeyValues& dv : device_grid) {
      // One child per device variant: it builds that chip and runs every kernel point on it.
      const std::string lines = RunInChildProcess([&] {
        DeviceConfig d = LoadDevice(dev);
        for (const auto& [k, v] : dv) SetDevice(d, k, v);
        std::string out;
        for (const KeyValues& kv : kernel_grid) {
          ParamValues p(op.params());
          for (const auto& [k, v] : c.fixed) p.Set(k, v);
          for (const auto& [k, v] : kv) p.Set(k, v);
          RunOptions ro;
          ro.mode = ModeChoice::kTimingOnly;
          KernelRun r;
          try {
            r = RunKernel(op, p, d, ro);
          } catch (const InputError&
                       e) {  // a combination the kernel rejects (e.g. a tile that does not divide)
            r.status = "invalid";
            r.message = e.what();
          }
          out += Encode(r, d);
        }
        return out;
      });
      std::istringstream in(lines);
      std::string line;
      for (const KeyValues& kv : kernel_grid) {
        std::getline(in, line);
        ExplorePoint p;
        p.device = LoadDevice(dev).soc;
        p.device_values = dv;
        p.params = kv;
        Decode(line, p);
        res.points.push_back(std::move(p));
        if (progress) progress(static_cast<int64_t>(res.points.size()), total);
      }
    }
  std::vector<int> ok;
  for (size_t i = 0; i < res.points.size(); ++i)
    if (res.points[i].status == "ok") ok.push_back(static_cast<int>(i));
  std::stable_sort(ok.begin(), ok.end(),
                   [&](int a, int b) { return res.points[a].time_us < res.points[b].time_us; });
  if (!ok.empty()) res.fastest = ok.front();
  int64_t best_ub = INT64_MAX;
  for (int i : ok)
    if (res.points[static_cast<size_t>(i)].ub_peak < best_ub) {
      best_ub = res.points[static_cast<size_t>(i)].ub_peak;
      res.pareto.push_back(i);
    }
  return res;
}

}  // namespace npusim
