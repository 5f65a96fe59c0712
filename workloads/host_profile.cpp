#include "workloads/host_profile.h"

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
  v.Param(opt("framework", "", "serving framework the profile describes (sglang, vllm)", 0, 0),
          framework);
  v.Param({"launch_us", "us", "eager: host time to issue one kernel launch", 0, 1e6}, launch_us);
  v.Param({"torch_op_us", "us",
           "eager: host time to issue one small torch op of a composite written in PyTorch (a "
           "Python loop of ops, e.g. sgl-kernel-npu's chunk GDN of 2025-12: launch=torch)",
           0, 1e6},
          torch_op_us);
  v.Param(opt("glue_launches_per_layer", "launches",
              "eager: launches per decoder layer the framework issues besides the modelled kernels "
              "(copies, casts, slices)",
              0, 1000),
          glue_launches_per_layer);
  v.Param({"graph_replay_us", "us", "host time to replay one captured forward", 0, 1e6},
          graph_replay_us);
  v.Param(opt("graph_update_us", "us",
              "graph replay: host time to refresh one captured attention launch's host-side "
              "parameters (FIA's actual_seq_lengths_kv is a host list, so the captured task is "
              "re-issued on an update stream before it may run)",
              0, 1e6),
          graph_update_us);
  v.Param(opt("graph_update_during_replay", "",
              "graph replay: the refresh runs in a thread beside the replay call (true) or after "
              "it on the same thread (false)",
              0, 0),
          graph_update_during_replay);
  v.Param({"step_us", "us",
           "host time per step: scheduling, input preparation, sampling, output handling", 0, 1e7},
          step_us);
  v.Param(opt("request_us", "us",
              "per request: front-end latency from the client's send to the scheduler (HTTP, "
              "tokenization, hand-off to the engine process); it delays the request, not the "
              "steps, so it adds to TTFT and end-to-end latency but not to the step time",
              0, 1e7),
          request_us);
  v.Param(
      opt("mtp_round_us", "us", "host time per MTP round: draft and verify bookkeeping", 0, 1e7),
      mtp_round_us);
  v.Param(opt("a2a_normal_host_sync", "",
              "eager DeepEP dispatch waits on the host for the receive counts (true/false)", 0, 0),
          a2a_normal_host_sync);
}

HostProfile LoadHostProfile(const std::string& name_or_path) {
  const std::string path = ConfigFile("hosts", name_or_path, "host profile");
  return BindYamlFile<HostProfile>(path);
}

}  // namespace npusim
