// Kernel profiles remembered on disk across processes: runs, capacity probes, sweep points and
// calibrate's rows re-simulate the same kernels otherwise. TimeCalls (step_graph.h) stores each
// kernel profile it simulates under a key of (op, parameters, device) and reads it back instead
// of simulating. The cache lives in $XDG_CACHE_HOME/npusim/kernels (else ~/.cache/npusim/kernels)
// or in NPUSIM_KERNEL_CACHE; NPUSIM_KERNEL_CACHE=off (or empty) turns it off.
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

// The cache root from NPUSIM_KERNEL_CACHE (`env`, null when unset), XDG_CACHE_HOME and HOME;
// empty for no cache.
std::string KernelCacheRoot(const char* env, const char* xdg, const char* home);
// The cache directory of this binary (the root, then the binary's stamp), empty for no cache.
// A stamp directory made for the first time removes its siblings untouched for 30 days (the
// entries of old builds).
std::string KernelCacheDir();
std::optional<KernelProfile> CachedProfile(const std::string& key);
void StoreProfile(const std::string& key, const KernelProfile& p);

}  // namespace npusim
