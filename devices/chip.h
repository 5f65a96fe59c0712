// The chip: N AIC + 2N AIV cores sharing HBM/L2, and Launch() of a kernel over them.
// SystemC stays behind this header (pimpl): callers need no SystemC includes.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "devices/device_config.h"
#include "devices/instr.h"
#include "model/stats.h"
#include "model/trace.h"

namespace npusim {

struct KernelLaunch {
  std::string name;
  int64_t block_dim = 1;
  CoreType core_type = CoreType::kAiv;  // kMix: block i = AIC i + AIV 2i, 2i+1 (1:2)
  bool functional = true;
  bool concurrent =
      false;  // runs on another chip alongside the previous launch (ranks of a collective)
  double start_delay_us = 0;  // fixed cost before the first block, on top of the launch overhead
  // The next stage of the previous launch, inside the same kernel (a "mega" kernel: the stages
  // separated by a device-wide barrier): no launch overhead; the barrier's own cost is not
  // modelled.
  bool same_kernel = false;
  // Runs right after the previous launch of the same op on this chip: when the device keeps L2
  // across launches (memory.l2_across_launches), this launch finds what that one left in L2;
  // otherwise, and for a first launch, L2 starts cold.
  bool follows = false;
  // One op a framework issues from Python (a torch call of a composite written in PyTorch), not
  // a kernel launch of its own: an eager host pays its own cost for each
  // (HostProfile::torch_op_us).
  bool torch_op = false;
  std::function<void()> body;  // runs once per block on every core of the block
};

struct PipeUsage {
  uint64_t busy_cycles = 0;  // summed over the cores that ran the kernel
  uint64_t instructions = 0;
  int cores = 0;  // cores of that type that ran the kernel
};

struct LaunchResult {
  uint64_t cycles = 0;  // launch to last block done, incl. launch overhead
  double time_us = 0;
  uint64_t instructions = 0;  // data-moving and compute instructions
  uint64_t dispatched_instructions =
      0;  // everything dispatched to pipe queues, SetFlag/WaitFlag included
  uint64_t hbm_read_bytes = 0, hbm_write_bytes = 0;
  uint64_t l2_hit_bytes = 0;   // GM reads served by L2 (see memory_system.h)
  uint64_t dcache_misses = 0;  // scalar GM accesses that missed the cores' data caches
  uint64_t link_bytes = 0,
           link_pair_bytes = 0;      // bytes read from other chips over peer / SIO pair links
  uint64_t link_max_peer_bytes = 0;  // of link_bytes, over the busiest peer link
  double cube_flops = 0;
  double cube_ideal_cycles = 0;    // cube work at peak rate (dtype-aware), summed over cores
  double vector_ideal_cycles = 0;  // vector work at ideal throughput, summed over cores
  std::array<uint64_t, kNumMems> peak_bytes{};  // per-core peak of each local buffer
  std::array<PipeUsage, kNumPipes> aiv{}, aic{};
  int waves = 0;
  // Per core unit (an AIV, an AIC, or an AIC with its two AIVs in a mixed launch): cycles from
  // the first block's start (after the launch overhead) to the unit's last instruction.
  std::vector<uint64_t> unit_cycles;
  std::vector<Stat> stats;  // the chip's registered statistics for this launch, by name
};

// Adds the launch `next`, run after `into` on the same chip, to `into`: times and counts add
// up, buffer peaks take the maximum.
void AppendLaunch(LaunchResult& into, const LaunchResult& next);

class Chip {
 public:
  // `trace` (optional) receives one slice per pipe instruction.
  Chip(const DeviceConfig& cfg, TraceRecorder* trace = nullptr);
  ~Chip();
  Chip(const Chip&) = delete;
  Chip& operator=(const Chip&) = delete;

  // Runs a kernel to completion. Throws SimFailure (exit 3) for overflow, deadlock, race,
  // out-of-bounds, misalignment or sync misuse; InputError for an impossible launch.
  LaunchResult Launch(const KernelLaunch& launch);
  const DeviceConfig& config() const;
  void SetTrace(TraceRecorder* trace);

  struct Impl;  // public so the SystemC classes in chip.cpp can name it

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace npusim
