#include "workloads/host_profile.h"

#include <algorithm>
#include <filesystem>

#include "devices/device_config.h"
#include "model/error.h"
#include "model/text.h"

namespace npusim {

void HostProfile::Bind(ParamVisitor& v) {
  auto opt = [](const char* name, const char* unit, const char* desc, double lo, double hi) {
    ParamSpec s{name, unit, desc, lo, hi};
    s.optional = true;
    return s;
  };
  v.Param({"name", "", "profile name (the file stem under configs/hosts)"}, name);
  v.Param(opt("framework", "", "serving framework the profile describes (sglang, vllm)", 0, 0), framework);
  v.Param({"launch_us", "us", "eager: host time to issue one kernel launch", 0, 1e6}, launch_us);
  v.Param(opt("glue_launches_per_layer", "launches",
              "eager: launches per decoder layer the framework issues besides the modelled kernels (copies, casts, slices)", 0, 1000),
          glue_launches_per_layer);
  v.Param({"graph_replay_us", "us", "host time to replay one captured forward", 0, 1e6}, graph_replay_us);
  v.Param({"step_us", "us", "host time per step: scheduling, input preparation, sampling, output handling", 0, 1e7}, step_us);
  v.Param(opt("mtp_round_us", "us", "host time per MTP round: draft and verify bookkeeping", 0, 1e7), mtp_round_us);
  v.Param(opt("a2a_normal_host_sync", "", "eager DeepEP dispatch waits on the host for the receive counts (true/false)", 0, 0),
          a2a_normal_host_sync);
}

HostProfile LoadHostProfile(const std::string& name_or_path) {
  namespace fs = std::filesystem;
  std::string path = name_or_path;
  if (!fs::exists(path) || fs::is_directory(path)) {
    const std::string dir = ConfigDir() + "/hosts";
    path = dir + "/" + name_or_path + ".yaml";
    if (!fs::exists(path)) {
      std::vector<std::string> names;
      if (fs::is_directory(dir))
        for (const auto& e : fs::directory_iterator(dir))
          if (e.path().extension() == ".yaml") names.push_back(e.path().stem().string());
      std::sort(names.begin(), names.end());
      throw InputError("unknown host profile '" + name_or_path + "'" + NearestHint(name_or_path, names) + "; profiles are in " + dir);
    }
  }
  HostProfile h;
  YamlBinder binder(LoadYamlFile(path), path);
  h.Bind(binder);
  binder.Finish();
  if (h.a2a_normal_host_sync != "true" && h.a2a_normal_host_sync != "false")
    throw InputError(path + ": 'a2a_normal_host_sync' takes true or false, got '" + h.a2a_normal_host_sync + "'");
  h.source_file = path;
  return h;
}

}  // namespace npusim
