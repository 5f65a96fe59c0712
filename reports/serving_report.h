// Writers for a serving run (`npusim run`): metrics.json (bench_serving's figures with stable
// names, the setup, memory breakdown, per-kernel shares), requests.csv (one row per request),
// kernel_calls.csv (one row per kernel call and forward kind: launches, time, share), trace.json
// (Perfetto: host steps, device forwards, optionally every kernel launch; request lifetimes)
// report.md and report.html; plus the console summary.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "model/error.h"
#include "reports/html.h"
#include "workloads/functional_run.h"
#include "workloads/metrics.h"
#include "workloads/serving.h"

namespace npusim {

// `f` (functional runs, may be null) adds the numbers: tokens, run comparisons, kernel errors
// (metrics.json "functional", report.md, tokens.csv).
nlohmann::ordered_json ServingMetricsJson(const ResolvedRun& s, const ServingResult& r,
                                          const ServingMetrics& m,
                                          const FunctionalStudy* f = nullptr);
// `charts_omitted_why` non-empty: report.html's figures say it instead of a chart (run
// --no-charts).
void WriteServingOutputs(const ResolvedRun& s, const ServingResult& r, const std::string& dir,
                         const FunctionalStudy* f = nullptr,
                         const std::string& charts_omitted_why = "");
html::Page ServingPage(const ResolvedRun& s, const ServingResult& r, const ServingMetrics& m,
                       const FunctionalStudy* f = nullptr);
std::string ServingSummary(const ResolvedRun& s, const ServingResult& r, const ServingMetrics& m,
                           const FunctionalStudy* f = nullptr);
// A run that failed: metrics.json with its status and message, and the config that ran.
void WriteFailedRunOutputs(const RunConfig& rc, const std::string& config, const SimFailure& e,
                           const std::string& dir);
// The run's bench_serving result line appended to `file` in one write, so that concurrent runs
// appending to the same file do not interleave.
void AppendResultLine(const std::string& file, const ResolvedRun& s, const ServingResult& r,
                      const FunctionalStudy* f = nullptr);

}  // namespace npusim
