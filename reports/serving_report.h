// Writers for a serving run (`npusim run`): metrics.json (bench_serving's figures with stable
// names, the setup, memory breakdown, per-kernel shares), requests.csv (one row per request),
// op_summary.csv (one row per kernel call and forward kind: launches, time, share), trace.json
// (Perfetto: host steps, device forwards, optionally every kernel launch; request lifetimes)
// and report.md; plus the console summary.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "workloads/metrics.h"
#include "workloads/serving.h"

namespace npusim {

nlohmann::ordered_json ServingMetricsJson(const ServingSetup& s, const ServingResult& r, const ServingMetrics& m);
void WriteServingOutputs(const ServingSetup& s, const ServingResult& r, const std::string& dir);
std::string ServingSummary(const ServingSetup& s, const ServingResult& r, const ServingMetrics& m);

}  // namespace npusim
