// Writers for one kernel run: metrics.json (stable field names), op_summary.csv (msprof
// op-summary columns), report.md, report.html, and the console summary. trace.json comes from the
// recorder.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "devices/device_config.h"
#include "model/trace.h"
#include "ops/runner.h"
#include "reports/html.h"

namespace npusim {

nlohmann::ordered_json KernelMetrics(const KernelRun& run, const DeviceConfig& d);
std::string OpSummaryCsv(const KernelRun& run, const DeviceConfig& d);
std::string KernelReportMarkdown(const KernelRun& run, const DeviceConfig& d);
html::Page KernelPage(const KernelRun& run, const DeviceConfig& d);
std::string KernelConsoleSummary(const KernelRun& run, const DeviceConfig& d);
// Writes every file of a kernel run into `dir` (created), outputs as <tensor>.npy.
void WriteKernelOutputs(const KernelRun& run, const DeviceConfig& d, const std::string& dir,
                        const TraceRecorder* trace);

}  // namespace npusim
