// Kernel profiles remembered on disk across processes: `calibrate` evaluates a fit by running
// each row in a child process, and every evaluation would re-simulate the same kernels. With
// NPUSIM_KERNEL_CACHE set to a directory, TimeCalls (step_graph.h) stores each kernel profile
// it simulates under a key of (op, parameters, device) and reads it back instead of simulating.
// Entries live under a stamp of the running binary (its size and modification time), so a
// rebuilt simulator never reads what an older one wrote. Reads and writes are exact (%.17g), so
// a run with a warm cache gives byte-identical outputs.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "workloads/step_graph.h"

namespace npusim {

// "ok" then tab-separated us, roofline_us, bound, cube_flops, hbm_bytes, launches, busy_us...
std::string ProfileLine(const KernelProfile& p);
// The fields of a ProfileLine (split on tabs); nullopt when they are not one.
std::optional<KernelProfile> ParseProfile(const std::vector<std::string>& fields);

// The cache directory of this binary, empty when NPUSIM_KERNEL_CACHE is unset.
std::string KernelCacheDir();
std::optional<KernelProfile> CachedProfile(const std::string& key);
void StoreProfile(const std::string& key, const KernelProfile& p);

}  // namespace npusim
