// The device model's parameters, declared once with unit and description (Bind) and read from
// configs/devices/<SocVersion>.yaml. Plain data: the cost model and the SystemC chip read it.
#pragma once

#include <array>
#include <cstdint>
#include <string>

#include "model/config.h"

namespace npusim {

// Vector instruction classes, each with its own measured throughput.
enum class VecClass : uint8_t { kBinary, kUnary, kTranscendental, kDiv, kReduce, kCast, kCount };
const char* VecClassName(VecClass c);

// Data-movement paths of an A2/A3 core (DESIGN.md §4). GM-side paths also use the shared HBM.
// kRemoteToUb: an AIV reading another chip's HBM over the chip-to-chip link (collectives).
enum class MtePath : uint8_t {
  kGmToUb,
  kUbToGm,
  kGmToL1,
  kL1ToL0A,
  kL1ToL0B,
  kL0cToGm,
  kGmToL0A,
  kGmToL0B,
  kUbToUb,
  kRemoteToUb,
  kL0cToL1,
  kCount
};
const char* MtePathName(MtePath p);

struct VecClassParams {
  int64_t startup_cycles = 0;
  int64_t latency_cycles =
      0;  // issue end to result written: what a same-pipe barrier or a SetFlag waits for
  double rate_b16 = 0;  // input bytes per cycle for 8/16-bit elements
  double rate_b32 = 0;  // input bytes per cycle for 32-bit elements
};

struct MteParams {
  double latency_ns = 0;
  double bandwidth_gbps = 0;  // GB/s = 1e9 B/s
};

struct DeviceConfig {
  std::string soc;
  std::string source_file;
  double clock_mhz = 0;
  int64_t aic_count = 0, aiv_count = 0;
  // Per-core buffers.
  int64_t ub_bytes = 0, ub_align = 0, l1_bytes = 0, l1_align = 0;
  int64_t l0a_bytes = 0, l0a_align = 0, l0b_bytes = 0, l0b_align = 0, l0c_bytes = 0, l0c_align = 0;
  // Scalar unit and instruction queues.
  int64_t scalar_issue_cycles = 0, queue_depth = 0;
  // The scalar unit's data cache: GetValue/SetValue on GM hit it or stall for a line fill.
  int64_t dcache_bytes = 0, dcache_line_bytes = 0, dcache_ways = 0;
  double dcache_miss_ns = 0;
  // From a CrossCoreSetFlag on one core to the CrossCoreWaitFlag it releases on another.
  double cross_core_latency_ns = 0;
  // The timing core's implementations (timing_models.h), by registered name.
  std::string vector_impl = "repeat", cube_impl = "fractal", mte_impl = "latency_bandwidth",
              memory_impl = "l2_hbm", link_impl = "peer_aggregate";
  // Vector unit.
  int64_t repeat_bytes = 0;
  std::array<VecClassParams, static_cast<size_t>(VecClass::kCount)> vec{};
  // Cube unit.
  int64_t cube_startup_cycles = 0, cube_fractal_cycles = 0, cube_fp32_slowdown = 0;
  // Data movement.
  std::array<MteParams, static_cast<size_t>(MtePath::kCount)> mte{};
  // Shared memory system.
  int64_t hbm_bytes = 0, l2_bytes = 0;
  double hbm_bandwidth_gbps = 0, l2_bandwidth_gbps = 0;
  // L2 keeps what a launch left for the next launch of the same op (its later stages), instead
  // of starting every launch cold.
  bool l2_across_launches = false;
  // Links to the other chips of the cluster (collectives): a peer link per other chip, capped
  // in aggregate per chip, and in A3 packages the SIO link between the two dies. A core's own
  // transfer (latency, per-stream bandwidth) is the mte path remote_to_ub.
  double link_peer_gbps = 0, link_aggregate_gbps = 0, link_pair_gbps = 0;
  int64_t link_pair_ranks = 1;  // 2: ranks 2i and 2i+1 share a package (SIO); 1: no pairs
  double link_a2a_sync_us = 0;  // per all-to-all launch, before the first block (calibrated on C7)
  double link_kv_transfer_gbps = 0,
         link_kv_transfer_latency_us = 0;  // PD: per rank stream, per request
  // Launch.
  double launch_overhead_us = 0;
  // Triton-compiled kernels (fitted on calibration.md C2, see configs/calibration/fit.yaml).
  double triton_launch_us = 0;
  int64_t triton_program_cycles = 0;

  void Bind(ParamVisitor& v);

  // Derived quantities in the core clock domain.
  double BytesPerCycle(double gbps) const { return gbps * 1e3 / clock_mhz; }
  uint64_t NsToCycles(double ns) const;
  double CyclesToUs(double cycles) const { return cycles / clock_mhz; }
  double CubePeakFlopsPerCycle() const { return static_cast<double>(aic_count) * 16 * 16 * 16 * 2; }
};

// Every bound parameter of `d` as (dotted key, text that reads back bit for bit), and the device
// those give back (soc and source_file are not parameters: the caller carries them). A process
// that did not load the device (a kernel-timer worker) rebuilds it exactly from these.
KeyValues DeviceParams(const DeviceConfig& d);
DeviceConfig DeviceFromParams(const KeyValues& params);

// Loads a device by SoC name (looked up in the configs directory) or by YAML path.
DeviceConfig LoadDevice(const std::string& name_or_path);
DeviceConfig LoadDeviceFile(const std::string& path);
// The rules across keys a device file must keep (A2/A3: two AIVs per AIC); `where` names the
// source.
void CheckDevice(const DeviceConfig& cfg, const std::string& where);
// Directory holding configs/ (NPUSIM_CONFIG_DIR, then ./configs, then the source tree).
std::string ConfigDir();
// A YAML path (has a slash or ends in .yaml) rather than a name.
bool IsConfigPath(const std::string& name_or_path);
// The file of a config named under configs/<subdir> (<name>.yaml), or the path itself; an
// unknown name is an InputError naming the nearest one ("unknown <what> 'x' (nearest ...)").
std::string ConfigFile(const std::string& subdir, const std::string& name_or_path,
                       const std::string& what);

}  // namespace npusim
