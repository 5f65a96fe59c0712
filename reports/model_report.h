// `npusim model FILE`: what the simulator reads from a model config (layers, attention, GDN, MoE,
// parameter counts), one rank's shapes and HBM plan under a parallel plan, and optionally one
// step's device time by where it goes (and one MTP round) — as the text the command prints.
#pragma once

#include <string>

#include "devices/device_config.h"
#include "workloads/memory_plan.h"
#include "workloads/model_config.h"
#include "workloads/step_graph.h"

namespace npusim {

std::string ModelSummary(const ModelConfig& m);
// One rank's shapes under the plan, then (a separate line, as planning may fail) its HBM plan.
std::string RankSummary(const ModelConfig& m, const ParallelPlan& p, const DeviceConfig& d);
std::string HbmSummary(const MemoryOptions& mo, const MemoryPlan& mp);
std::string StepSummary(const StepStudy& s);

}  // namespace npusim
