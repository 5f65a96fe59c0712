// Capacity planning (`npusim capacity`) as library code: one rank's HBM plan and what it allows
// (concurrent requests at the run's lengths, the longest context), then serving runs searching
// the load that still meets the SLOs (p99 TTFT / TPOT): rising concurrency (requests sent at
// once) and/or the Poisson request rate (bracketed, then bisected); with `--try` knobs, one search
// per combination and a recommendation per chip. The caller supplies the probe (one serving run
// at a given load: app/ runs it as a child process); everything here decides what to probe and
// what the probes mean. Rendering is reports/capacity_report.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "model/config.h"
#include "workloads/serving.h"

namespace npusim {

struct RateSearch {
  double best = 0;             // highest rate that met the objectives (0: none did)
  double lowest_failing = 0;   // lowest rate that did not (0: none failed)
  std::vector<double> probed;  // in probing order
};

// From `start`: doubles while runs pass (or halves while they fail) to bracket the limit, then
// bisects geometrically until the bracket is within a factor 1 + `tolerance`. At most
// `max_probes` runs; serving latency rises with the rate, so one bracket is enough.
RateSearch SearchHighestRate(double start, const std::function<bool(double rate)>& meets,
                             double tolerance = 0.1, int max_probes = 12);

struct CapacityPoint {
  int64_t concurrency = 0;  // the concurrency search's load (0 on rate points)
  double request_rate = 0;  // the rate search's load, req/s (0 on concurrency points)
  int exit_code = 0;
  std::string status;
  double ttft_p99_ms = 0, tpot_p99_ms = 0, output_throughput = 0, request_throughput = 0;
};

struct CapacityAnswer {
  int64_t max_by_memory = 0, max_context_tokens = 0;
  std::vector<CapacityPoint> curve;       // concurrency search, rising
  int64_t max_concurrency = 0;            // the largest point meeting the SLOs (0: none does)
  std::string binding;                    // memory, ttft, tpot or failure ("" when not searched)
  std::vector<CapacityPoint> rate_curve;  // rate search, by rising rate
  double max_request_rate = 0;            // highest rate meeting the SLOs (0: none did)
  std::string rate_binding;  // ttft, tpot, failure, or "not reached" ("" when not searched)
};

// What a point breaks: "" (meets the SLOs), "failure", "ttft" or "tpot".
std::string SloBreak(const RunConfig& run, const CapacityPoint& p);
// The same as words, for the probe log and the curve tables: "meets the SLOs", "breaks the TTFT
// SLO", "breaks the TPOT SLO", or the failure's status.
std::string SloVerdict(const RunConfig& run, const CapacityPoint& p);
// Fills max_concurrency / binding from the concurrency curve, the SLOs and the memory limit.
void Decide(const RunConfig& run, CapacityAnswer& a);
// Fills max_request_rate / rate_binding from the rate curve (sorted here by rate).
void DecideRate(const RunConfig& run, CapacityAnswer& a);

// What one rank's HBM plan allows at the run's lengths: requests held at once over the whole
// deployment (each reserves its prompt and output in whole pages; a DP group holds at most its
// request cap), and the longest context one request can hold. `oom` says why not one request
// fits (then max_by_memory is 0).
struct MemoryLimits {
  int64_t max_by_memory = 0, max_context_tokens = 0;
  std::string oom;
};
MemoryLimits CapacityMemoryLimits(const ResolvedRun& s);

// One serving run of the variant at `load` (keys set on top of the variant's); `where` names
// the point ("points/4", "rate_points/all_at_once", "rate_points/2") for its output folder.
using CapacityProbe = std::function<CapacityPoint(const std::string& where, const KeyValues& load)>;
// The concurrency search (1, 2, 4, ... then the memory limit, one wave of c requests each, up to
// the first point that breaks an SLO) and the rate search (when asked and SLOs are given; none
// when all num_prompts requests sent at once meet the SLOs), by run.capacity_search.
void SearchCapacity(const RunConfig& run, CapacityAnswer& a, const CapacityProbe& probe);

// `--try` keys with their values; Combinations (model/config.h) gives every combination.
using KnobTries = std::vector<std::pair<std::string, std::vector<std::string>>>;

// One combination of `--try` knobs and its answer (or why it could not be served at all).
struct CapacityVariant {
  KeyValues knobs;
  CapacityAnswer answer;
  std::string error;
  int64_t chips = 0;
  std::optional<ResolvedRun> setup;  // absent when the variant does not fit at all
  double OutputThroughputAtAnswer() const;
  double PerChip() const {
    return chips > 0 ? OutputThroughputAtAnswer() / static_cast<double>(chips) : 0.0;
  }
};
// Per chip (a deployment grows by replicas, so more chips must earn their keep): most concurrent
// requests within the SLOs, then the highest request rate, then output throughput.
size_t Recommend(const std::vector<CapacityVariant>& v);

// The whole plan: for each combination of `tries` (on top of `sets`) the memory limits and the
// searches, `probe(variant, sets of the variant, where, load)` running each point. With one
// combination a setup that does not fit throws its SimFailure; with several it is recorded as
// that variant's error and the others go on.
using VariantProbe = std::function<CapacityPoint(size_t variant, const KeyValues& sets,
                                                 const std::string& where, const KeyValues& load)>;
std::vector<CapacityVariant> PlanCapacity(const std::string& run_path, const KeyValues& sets,
                                          const KnobTries& tries, const VariantProbe& probe);

// A probe's figures read back from the metrics.json its serving run wrote into `dir`.
CapacityPoint ReadCapacityPoint(int exit_code, const std::string& dir);

// The probe PlanCapacity uses from the command line: each point is `npusim run RUN --set ...`
// (the variant's keys, then the point's load) in its own process, in variant_dir(v)/<where>,
// stopped after `timeout_s` (0: no limit).
VariantProbe ChildRunProbe(const std::string& run_path,
                           const std::function<std::string(size_t)>& variant_dir, double timeout_s);

}  // namespace npusim
