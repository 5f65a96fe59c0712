#include "workloads/config_check.h"

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include "devices/device_config.h"
#include "model/config.h"
#include "model/error.h"
#include "workloads/calibration.h"
#include "workloads/explore.h"
#include "workloads/host_profile.h"
#include "workloads/run_config.h"
#include "workloads/serving.h"
#include "workloads/sweep.h"

namespace npusim {

namespace {

std::string Explore(const std::string& path) {
  const ExploreConfig c = LoadExploreConfig(path);
  return fmt::format("{} is a valid explore config: {}, {} device(s)", path, c.kernel,
                     c.devices.size());
}

std::string Sweep(const std::string& path) {
  const SweepConfig c = LoadSweepConfig(path);
  ValidateSweepPoints(c);
  return fmt::format("{} is a valid sweep config: {} points", path, SweepPoints(c).size());
}

std::string Run(const std::string& path) {
  const ResolvedRun s = ResolveRun(LoadRunConfig(path));
  return fmt::format(
      "{} is a valid run config: {} on {} x {}, {} request{}, KV pool {} tokens per rank", path,
      s.model.file, s.run.Chips(), s.device.soc, s.requests.size(),
      s.requests.size() == 1 ? "" : "s", s.memory.kv_tokens);
}

std::string Row(const std::string& path) {
  const CalibrationRow r = ReadRowCheck(path);
  return fmt::format("{} is a valid calibration row: {} ({}, {}{})", path, r.id, r.kind, r.role,
                     r.status == "ok" ? "" : ", " + r.status);
}

std::string Host(const std::string& path) {
  const HostProfile h = LoadHostProfile(path);
  return fmt::format(
      "{} is a valid host profile: {}, eager launch {:g} us, graph replay {:g} us, step {:g} us",
      path, h.name, h.launch_us, h.graph_replay_us, h.step_us);
}

std::string Device(const std::string& path) {
  const DeviceConfig d = LoadDeviceFile(path);
  return fmt::format(
      "{} is a valid device config: {}, {} AIC + {} AIV at {:g} MHz, UB {} B, L1 {} B, HBM {:g} "
      "GB/s",
      path, d.soc, d.aic_count, d.aiv_count, d.clock_mhz, d.ub_bytes, d.l1_bytes,
      d.hbm_bandwidth_gbps);
}

}  // namespace

std::string DescribeConfigFile(const std::string& path) {
  const YAML::Node root = LoadYamlFile(path);
  const bool map = root.IsMap();
  if (map && root["kernel"] && (root["sweep"] || root["device_sweep"] || root["fixed"]))
    return Explore(path);
  if (map && root["grid"]) return Sweep(path);
  if (map && root["model"]) return Run(path);
  if (map && root["measured"] && root["source"]) return Row(path);
  if (map && root["launch_us"] && root["step_us"]) return Host(path);
  if (map && root["soc"]) return Device(path);
  throw InputError(
      Where(path, root) +
      ": not a device (soc), run (model), explore (kernel + sweep), sweep (grid), host profile " +
      "(launch_us, step_us) or calibration row (source, measured)");
}

}  // namespace npusim
