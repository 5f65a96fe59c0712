// Kernel profiles remembered on disk across processes: runs, capacity probes, sweep points and
// calibrate's rows re-simulate the same kernels otherwise. TimeCalls (step_graph.h) stores each
// kernel profile it simulates under a key of (op, parameters, device) and reads it back instead
// of simulating. The cache lives in $XDG_CACHE_HOME/npusim/kernels (else ~/.cache/npusim/kernels)
// or in NPUSIM_KERNEL_CACHE; NPUSIM_KERNEL_CACHE=off (or empty) turns it off.
// Entries live under a stamp of the running binary (a hash of its whole content), so a rebuilt
// simulator that differs in any byte never reads what another build wrote, and a rebuild of the
// same code keeps its cache. Reads and writes are exact (%.17g), so
// a run with a warm cache gives byte-identical outputs. An entry is a header line
// "v<kCacheFormat> <kind> <key bytes>", the key as is, then the value: a profile as one JSON
// object (doubles round-trip exactly), or a text (a chart's SVG). The key, kilobytes with the
// device's fingerprint or a chart's script, is compared, never parsed.
#pragma once

#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <vector>

#include "workloads/step_graph.h"

namespace npusim {

// 2: profiles carry torch_ops; 3: an entry is a header, the key as is and the value
inline constexpr int kCacheFormat = 3;

// A profile as a JSON object (doubles round-trip exactly) and back; nullopt when `j` is not one.
nlohmann::json ProfileJson(const KernelProfile& p);
std::optional<KernelProfile> ProfileFromJson(const nlohmann::json& j);

// The cache root from NPUSIM_KERNEL_CACHE (`env`, null when unset), XDG_CACHE_HOME and HOME;
// empty for no cache.
std::string KernelCacheRoot(const char* env, const char* xdg, const char* home);
// A 64-bit hash of the file's bytes as 16 hex digits, empty when it cannot be read.
std::string CodeHash(const std::string& path);
// The cache directory of this binary (the root, then the binary's stamp), empty for no cache.
// A stamp directory made for the first time removes its siblings untouched for 30 days (the
// entries of old builds).
std::string KernelCacheDir();
std::optional<KernelProfile> CachedProfile(const std::string& key);
void StoreProfile(const std::string& key, const KernelProfile& p);

// Other text derived from a long input, remembered beside the profiles (a report chart's SVG,
// drawn from its gnuplot script): `kind` (one word) names the sort and `key` is the whole input,
// checked on read. nullopt when the cache is off, the entry absent or another key's.
std::optional<std::string> CachedText(const std::string& kind, const std::string& key);
void StoreText(const std::string& kind, const std::string& key, const std::string& text);

}  // namespace npusim
