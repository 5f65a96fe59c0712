// What the serving framework's host side costs, as a profile read from configs/hosts/<name>.yaml
// (beside the device YAML: the device model times kernels, the host profile times everything the
// host does around them). Every value is declared once in Bind() with unit, range and meaning;
// the YAML names each value's source, and `npusim calibrate --fit` rewrites the fitted ones.
#pragma once

#include <string>

#include "model/config.h"

namespace npusim {

struct HostProfile {
  std::string name;         // the profile's own name (file stem)
  std::string framework;    // sglang, vllm: informational, shown in reports
  std::string source_file;  // the YAML it came from
  double launch_us = 0;     // eager: host time to issue one kernel launch
  double torch_op_us = 0;   // eager: host time per torch op of a composite written in PyTorch
  double glue_launches_per_layer =
      0;  // eager: framework launches per decoder layer besides the modelled kernels
  double graph_replay_us = 0;  // host time to replay one captured forward
  // Graph replay: host time to refresh one captured attention launch's host-side parameters
  // (its sequence lengths), which that launch waits for on the device.
  double graph_update_us = 0;
  bool graph_update_during_replay = false;  // the refresh runs beside the replay call, not after
  double step_us = 0;       // per step: scheduling, input preparation, sampling, output handling
  double request_us = 0;    // per request: the front end's latency before the scheduler sees it
  double mtp_round_us = 0;  // per MTP round: draft and verify bookkeeping on the host
  bool a2a_normal_host_sync = true;  // eager DeepEP (normal mode): the host waits for each
                                     // dispatch's counts

  void Bind(ParamVisitor& v);
};

// Loads a profile by name (configs/hosts/<name>.yaml) or by YAML path.
HostProfile LoadHostProfile(const std::string& name_or_path);

}  // namespace npusim
