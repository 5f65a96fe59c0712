// The serving engine: a benchmark client, the host (scheduler + kernel issue) and the device as
// SystemC processes over one simulated clock. The client sends requests at their arrival times
// under max_concurrency; the host forms each step with the Scheduler, pays its scheduling cost,
// then issues the step's forwards launch by launch (eager: the host profile's launch cost for each
// device launch and for the framework's glue launches) or as one graph replay (decode batches up
// to the largest cuda_graph_bs, padded to a captured size); the device runs each launch once it
// is issued and the previous one is done, so host-bound phases leave it idle (calibration.md C3,
// C4, C8). An eager DeepEP dispatch makes the host wait for the device (the receive counts). With
// MTP (NEXTN, topk 1) a decode step is a round: draft forwards, the target's verify over d tokens
// with greedy acceptance and the state commit, and the draft extend; timing-only acceptance follows
// speculative_accept_rates with the run's seed. Kernel times come from a KernelTimer (step_cost.h),
// memoised per forward shape; shapes are bucketed (8 buckets per octave of tokens, context and
// eager decode batch) so a long run needs few simulations.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "devices/device_config.h"
#include "workloads/fidelity.h"
#include "workloads/memory_plan.h"
#include "workloads/model_config.h"
#include "workloads/requests.h"
#include "workloads/run_config.h"
#include "workloads/step_cost.h"

namespace npusim {

// A run config with everything derived from it resolved once, for every reader (scheduler
// set-up, step shapes, memory plan, capacity search, functional study, reports): the files it
// names loaded, the parallel plan and per-rank shapes, the GDN state pool's dtype, the request
// cap of a DP group and one rank's memory plan.
struct ResolvedRun {
  RunConfig run;
  HostProfile host;  // run.Host(): the profile with the run's overrides
  ModelConfig model;
  std::optional<ModelConfig> eagle3_draft;  // speculative_algorithm EAGLE3: the draft model
  DeviceConfig device;
  ParallelPlan plan;
  RankShapes shapes;
  std::string ssm_dtype;  // the GDN state pool's dtype (SsmPoolDtype of the run and model)
  MemoryPlan memory;      // one rank's HBM (out_of_memory is thrown by ResolveRun)
  // Requests one DP group may run: the server's max_running_requests over the groups
  // (GroupRequestCap), capped by the mamba pool. The memory plan holds it; this names it.
  int64_t group_request_cap() const { return memory.max_running; }
  std::vector<Request> requests;
  Fidelity fidelity;     // how far the device and host profiles are calibrated, for the reports
  int64_t replicas = 1;  // servers x replicated DP (dp_size without DP attention): copies of the
                         // whole setup behind a router
  // PD disaggregation: the prefill and the decode pool, each a whole setup of its own (the fields
  // above are the decode pool's, the requests the run's).
  std::vector<ResolvedRun> pools;
  // PD: moving one request's KV (full-attention layers, sliding windows) and GDN state from its
  // prefill ranks to its decode ranks, every rank over its own stream: the larger of the two
  // sides' per-rank bytes, at the decode device's links.kv_transfer_gbps (its latency apart).
  int64_t TransferBytesPerRank(int64_t input_len) const;
  double TransferStreamUs(int64_t input_len) const;
};
ResolvedRun ResolveRun(const RunConfig& run);

struct RequestRecord {
  int64_t id = 0, input_len = 0, output_len = 0, group = 0;
  double arrival_us = 0, sent_us = 0, first_token_us = -1, finish_us = -1;
  std::vector<double> token_times_us;  // one entry per emission (a step's tokens arrive together)
  int64_t verify_rounds = 0, round_tokens = 0;  // MTP: rounds and tokens they produced
  int64_t cached_tokens = 0;  // prompt tokens found in the prefix cache (not computed)
  int64_t replica = 0;  // replicated DP: the replica the router sent it to (PD: the decode replica)
  int64_t prefill_replica = -1;  // PD: the prefill replica
  double prefill_end_us = -1, transfer_start_us = -1,
         transfer_end_us = -1;  // PD: its KV's hand-off
};

struct LaunchRecord {  // trace_kernels only
  int call = 0;
  double start_us = 0, end_us = 0;
};

struct ForwardRecord {
  ForwardKind kind = ForwardKind::kDecode;
  int64_t batch = 0, tokens = 0, prefix = 0;  // the per-rank shape it was timed at
  bool graph = false;
  int64_t launches = 0;
  int64_t host_syncs = 0;       // launches the host waited for (eager DeepEP dispatch)
  int64_t graph_refreshes = 0;  // replayed launches whose host-side parameters were refreshed
  double issue_start_us = 0, issue_end_us = 0, device_start_us = 0, device_end_us = 0,
         device_busy_us = 0;
  double commit_us = 0;  // move_intermediate_cache + conv_state_rollback inside (verify)
  std::string shape_key;
  std::vector<LaunchRecord> launch_log;
};

struct StepRecord {
  int64_t index = 0, replica = 0;
  int pool = 0;  // 0 a unified server, 1 the prefill pool, 2 the decode pool (PD)
  bool prefill = false;
  int64_t requests = 0, new_tokens = 0, decode_requests = 0;
  double start_us = 0, end_us = 0;
  std::vector<ForwardRecord> forwards;
};

// Launches of one or more kernel calls added up: time against roofline, work, pipe busy time.
struct ProfileTotal {
  double us = 0, roofline_us = 0, cube_flops = 0, hbm_bytes = 0;
  std::map<std::string, double> bound_us;  // device time by the launch's roofline bound
  std::array<double, 2 * kNumPipes> busy_us{};
  void Add(const KernelProfile& p, int64_t launches);
  void Add(const ProfileTotal& o);
};

struct OpTotal {
  std::string forward, op, where, params;
  int64_t launches = 0;
  double us_per_launch = 0, device_us = 0;
  ProfileTotal profile;
};

struct ServingResult {
  std::vector<RequestRecord> requests;
  std::vector<StepRecord> steps;
  std::vector<OpTotal> ops;  // per (forward kind, kernel call), in first-seen order
  std::map<std::string, std::vector<KernelCall>>
      shape_calls;  // shape_key -> its calls (trace names)
  double duration_us = 0, device_busy_us = 0, host_busy_us = 0;  // busy: summed over replicas
  int64_t forwards_simulated = 0;                                // distinct forward shapes timed
  int64_t prefill_delayed_passes =
      0;  // scheduling passes the prefill delayer held new requests back
  int64_t replicas = 1;
  struct PoolTotal {  // PD: one pool's replicas together
    std::string name;
    int64_t replicas = 0, steps = 0;
    double device_busy_us = 0, host_busy_us = 0;
  };
  std::vector<PoolTotal> pools;  // PD only: prefill, decode
};

// Called after every simulated step with the requests finished so far and the simulated time.
using ProgressFn = std::function<void(int64_t done, int64_t total, double sim_us)>;

// The serving simulation's SystemC processes, elaborated at construction and idle until Run:
// kernels can be simulated in between (a functional run before its timed run). One per process.
class ServingSystem;
class ServingSimulation {
 public:
  ServingSimulation();
  // Throws SimFailure (a kernel failed: the step, time and shape are in the message) or InputError.
  ServingResult Run(const ResolvedRun& setup, KernelTimer& timer,
                    const ProgressFn& progress = nullptr);

 private:
  ServingSystem* system_;
  bool used_ = false;
};

// Elaborates and runs in one go.
ServingResult RunServing(const ResolvedRun& setup, KernelTimer& timer,
                         const ProgressFn& progress = nullptr);

// 8 buckets per octave above `min_step` (x rounded up): relative error under 12.5 %.
int64_t ShapeBucket(int64_t x, int64_t min_step);

}  // namespace npusim
