#include "devices/device_config.h"

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "devices/timing_models.h"
#include "model/error.h"
#include "model/text.h"

namespace npusim {

const char* VecClassName(VecClass c) {
  static const char* kNames[] = {"binary", "unary", "transcendental", "div", "reduce", "cast"};
  return kNames[static_cast<int>(c)];
}

const char* MtePathName(MtePath p) {
  static const char* kNames[] = {"gm_to_ub",  "ub_to_gm",     "gm_to_l1",  "l1_to_l0a",
                                 "l1_to_l0b", "l0c_to_gm",    "gm_to_l0a", "gm_to_l0b",
                                 "ub_to_ub",  "remote_to_ub", "l0c_to_l1"};
  return kNames[static_cast<int>(p)];
}

uint64_t DeviceConfig::NsToCycles(double ns) const {
  return static_cast<uint64_t>(std::llround(ns * clock_mhz / 1e3));
}

namespace {
// The `impl:` key of a timing part's section: one of the registered implementations.
template <class Part>
ParamSpec ImplSpec(const char* part) {
  ParamSpec s{
      "impl", "",
      std::string("the ") + part + " timing model, by registered name (devices/timing_models.cpp)"};
  s.optional = true;
  s.choices = TimingImpls<Part>::Names();
  return s;
}
}  // namespace

namespace {

constexpr double kBig = 1e18;

// The chip and its cores: clock, core counts, local buffers, the scalar unit.
void BindCore(ParamVisitor& v, DeviceConfig& d) {
  v.Param({"soc", "", "SoC version as CANN spells it"}, d.soc);
  v.Param({"clock_mhz", "MHz", "AI core clock (cube_freq)", 1, 10000}, d.clock_mhz);
  v.Group("cores", "AI cores", [&] {
    v.Param({"aic", "cores", "cube cores (AIC)", 1, 4096}, d.aic_count);
    v.Param({"aiv", "cores", "vector cores (AIV), 2 per AIC", 1, 8192}, d.aiv_count);
  });
  v.Group("buffers", "per-core local buffers", [&] {
    v.Param({"ub_bytes", "B", "unified buffer per AIV", 1024, kBig}, d.ub_bytes);
    v.Param({"ub_align", "B", "UB address alignment", 1, 4096}, d.ub_align);
    v.Param({"l1_bytes", "B", "L1 buffer per AIC", 1024, kBig}, d.l1_bytes);
    v.Param({"l1_align", "B", "L1 address alignment", 1, 4096}, d.l1_align);
    v.Param({"l0a_bytes", "B", "L0A (left matrix) per AIC", 1024, kBig}, d.l0a_bytes);
    v.Param({"l0a_align", "B", "L0A alignment", 1, 4096}, d.l0a_align);
    v.Param({"l0b_bytes", "B", "L0B (right matrix) per AIC", 1024, kBig}, d.l0b_bytes);
    v.Param({"l0b_align", "B", "L0B alignment", 1, 4096}, d.l0b_align);
    v.Param({"l0c_bytes", "B", "L0C (accumulator) per AIC", 1024, kBig}, d.l0c_bytes);
    v.Param({"l0c_align", "B", "L0C alignment", 1, 4096}, d.l0c_align);
  });
  v.Group("scalar", "scalar unit and instruction queues", [&] {
    v.Param({"issue_cycles", "cycles", "scalar cost to dispatch one instruction to a pipe queue", 0,
             1000},
            d.scalar_issue_cycles);
    v.Param({"queue_depth", "instructions", "depth of each pipe's instruction queue", 1, 4096},
            d.queue_depth);
    v.Param({"dcache_bytes", "B", "scalar data cache (GetValue/SetValue on GM) per core", 64, kBig},
            d.dcache_bytes);
    v.Param({"dcache_line_bytes", "B", "scalar data cache line: the unit a miss fills", 4, 4096},
            d.dcache_line_bytes);
    v.Param({"dcache_ways", "ways", "scalar data cache associativity (LRU within a set)", 1, 4096},
            d.dcache_ways);
    v.Param({"dcache_miss_ns", "ns", "scalar stall of a data cache miss (line fill from L2/HBM)", 0,
             100000},
            d.dcache_miss_ns);
    v.Param({"cross_core_latency_ns", "ns",
             "from a CrossCoreSetFlag on one core to the CrossCoreWaitFlag it releases on another "
             "(the inter-core signal; the waiter's next instruction issues this much later)",
             0, 1e6},
            d.cross_core_latency_ns);
  });
}

// The vector and cube units' cost models.
void BindComputeUnits(ParamVisitor& v, DeviceConfig& d) {
  v.Group("vector", "vector unit (per AIV)", [&] {
    v.Param(ImplSpec<VectorModel>("vector unit"), d.vector_impl);
    v.Param({"repeat_bytes", "B", "bytes processed by one vector repeat", 32, 4096},
            d.repeat_bytes);
    for (size_t i = 0; i < d.vec.size(); ++i) {
      auto& c = d.vec[i];
      v.Group(VecClassName(static_cast<VecClass>(i)), "vector instruction class", [&] {
        v.Param({"startup_cycles", "cycles", "fixed cycles per instruction", 0, 100000},
                c.startup_cycles);
        v.Param({"latency_cycles", "cycles",
                 "cycles from the end of an instruction's issue to its result in UB; the pipe "
                 "issues the next "
                 "independent instruction meanwhile, a dependent one, a PipeBarrier<PIPE_V> or a "
                 "SetFlag from V waits",
                 0, 100000},
                c.latency_cycles);
        v.Param({"rate_b16", "B/cycle", "input bytes per cycle, 8/16-bit elements", 0.001, 1e6},
                c.rate_b16);
        v.Param({"rate_b32", "B/cycle", "input bytes per cycle, 32-bit elements", 0.001, 1e6},
                c.rate_b32);
      });
    }
  });
  v.Group("cube", "cube unit (per AIC)", [&] {
    v.Param(ImplSpec<CubeModel>("cube unit"), d.cube_impl);
    v.Param({"startup_cycles", "cycles", "fixed cycles per Mmad", 0, 100000},
            d.cube_startup_cycles);
    v.Param({"fractal_cycles", "cycles",
             "cycles per 16x16x16 (fp16/bf16) or 16x32x16 (int8) fractal", 1, 1000},
            d.cube_fractal_cycles);
    v.Param({"fp32_slowdown", "x", "fp32 fractal cost relative to fp16", 1, 64},
            d.cube_fp32_slowdown);
  });
}

// Data movement: the MTE paths, HBM and L2.
void BindMemoryPaths(ParamVisitor& v, DeviceConfig& d) {
  v.Group("mte", "data-movement paths: t = latency + bytes / bandwidth", [&] {
    v.Param(ImplSpec<MteModel>("MTE path"), d.mte_impl);
    for (size_t i = 0; i < d.mte.size(); ++i) {
      auto& p = d.mte[i];
      v.Group(MtePathName(static_cast<MtePath>(i)), "one MTE path", [&] {
        v.Param({"latency_ns", "ns", "fixed cost per transfer", 0, 1e6}, p.latency_ns);
        v.Param({"bandwidth_gbps", "GB/s", "asymptotic single-core bandwidth", 0.001, 1e6},
                p.bandwidth_gbps);
      });
    }
  });
  v.Group("memory", "memory shared by all cores", [&] {
    v.Param({"hbm_bytes", "B", "HBM capacity", 1, kBig}, d.hbm_bytes);
    v.Param({"hbm_bandwidth_gbps", "GB/s", "HBM bandwidth shared by all cores", 1, 1e6},
            d.hbm_bandwidth_gbps);
    v.Param({"l2_bytes", "B", "L2 cache capacity", 0, kBig}, d.l2_bytes);
    v.Param({"l2_bandwidth_gbps", "GB/s", "L2 bandwidth shared by all cores", 1, 1e6},
            d.l2_bandwidth_gbps);
    v.Param(ImplSpec<MemorySystem>("shared memory"), d.memory_impl);
    ParamSpec keep{"l2_across_launches", "",
                   "L2 keeps what a launch left for the op's next launch (a later stage reads the "
                   "stage before's output from L2); false: every launch starts with L2 cold"};
    keep.optional = true;
    v.Param(keep, d.l2_across_launches);
  });
}

// What lies outside the AI cores: links, launch costs, Triton-compiled kernels.
void BindCluster(ParamVisitor& v, DeviceConfig& d) {
  v.Group("links", "chip-to-chip links of the cluster (collectives)", [&] {
    v.Param(ImplSpec<LinkNetwork>("chip-to-chip links"), d.link_impl);
    v.Param(
        {"peer_gbps", "GB/s", "bandwidth of the link to one peer chip, per direction", 0.001, 1e6},
        d.link_peer_gbps);
    v.Param({"aggregate_gbps", "GB/s", "all links of one chip together, per direction", 0.001, 1e6},
            d.link_aggregate_gbps);
    v.Param({"pair_gbps", "GB/s", "link between the two dies of a package (SIO), per direction",
             0.001, 1e6},
            d.link_pair_gbps);
    v.Param({"pair_ranks", "ranks", "ranks per package (2 on A3: die pairs joined by SIO; 1 on A2)",
             1, 2},
            d.link_pair_ranks);
    v.Param(
        {"a2a_sync_us", "us",
         "fixed cost of one all-to-all launch before data moves (MoE dispatch/combine handshake)",
         0, 1e6},
        d.link_a2a_sync_us);
    v.Param({"kv_transfer_gbps", "GB/s",
             "PD disaggregation: one rank's KV (and state) transfer stream to its peer in the "
             "other pool",
             0.001, 1e6},
            d.link_kv_transfer_gbps);
    v.Param(
        {"kv_transfer_latency_us", "us",
         "PD disaggregation: fixed cost of one request's transfer (handshake, completion notice)",
         0, 1e6},
        d.link_kv_transfer_latency_us);
  });
  v.Group("launch", "kernel launch", [&] {
    v.Param(
        {"overhead_us", "us", "device-side cost from launch to the first block starting", 0, 1e6},
        d.launch_overhead_us);
  });
  v.Group(
      "triton",
      "kernels compiled by Triton-Ascend (one program per grid point, run one at a time per core)",
      [&] {
        v.Param({"launch_us", "us",
                 "device-side fixed cost of a Triton-compiled launch on top of launch.overhead_us",
                 0, 1e4},
                d.triton_launch_us);
        v.Param({"program_cycles", "cycles",
                 "scalar cycles per Triton program before its first instruction (program id, "
                 "offsets, masks)",
                 0, 1e7},
                d.triton_program_cycles);
      });
}

}  // namespace

void DeviceConfig::Bind(ParamVisitor& v) {
  BindCore(v, *this);
  BindComputeUnits(v, *this);
  BindMemoryPaths(v, *this);
  BindCluster(v, *this);
}

std::string ConfigDir() {
  namespace fs = std::filesystem;
  if (const char* env = std::getenv("NPUSIM_CONFIG_DIR")) return env;
  if (fs::is_directory("configs/devices")) return "configs";
  // An installed binary (make install): PREFIX/bin/npusim reads PREFIX/share/npusim/configs.
  std::error_code ec;
  const fs::path installed =
      fs::read_symlink("/proc/self/exe", ec).parent_path().parent_path() / "share/npusim/configs";
  if (!ec && fs::is_directory(installed / "devices", ec)) return installed.string();
  return std::string(NPUSIM_SOURCE_DIR) + "/configs";
}

KeyValues DeviceParams(const DeviceConfig& d) {
  DeviceConfig copy = d;
  ParamTable table;
  copy.Bind(table);
  KeyValues out;
  for (const ParamTable::Row& r : table.rows()) out.emplace_back(r.key, r.exact);
  return out;
}

DeviceConfig DeviceFromParams(const KeyValues& params) {
  DeviceConfig d;
  for (const auto& [key, value] : params) {
    ParamSetter set(key, value);
    d.Bind(set);
    if (!set.found()) throw InputError("device parameter '" + key + "' is not known to this build");
  }
  return d;
}

DeviceConfig LoadDeviceFile(const std::string& path) {
  DeviceConfig cfg = BindYamlFile<DeviceConfig>(path);
  CheckDevice(cfg, path);
  return cfg;
}

void CheckDevice(const DeviceConfig& cfg, const std::string& where) {
  if (cfg.aiv_count != 2 * cfg.aic_count)
    throw InputError(where + ": cores.aiv must be 2 x cores.aic on A2/A3 (got " +
                     std::to_string(cfg.aic_count) + " AIC, " + std::to_string(cfg.aiv_count) +
                     " AIV)");
}

bool IsConfigPath(const std::string& name_or_path) {
  return name_or_path.find('/') != std::string::npos ||
         (name_or_path.size() > 5 && name_or_path.substr(name_or_path.size() - 5) == ".yaml");
}

std::string ConfigFile(const std::string& subdir, const std::string& name_or_path,
                       const std::string& what) {
  namespace fs = std::filesystem;
  if (IsConfigPath(name_or_path)) return name_or_path;
  const std::string dir = ConfigDir() + "/" + subdir;
  const std::string path = dir + "/" + name_or_path + ".yaml";
  if (fs::exists(path)) return path;
  std::vector<std::string> names;
  if (fs::is_directory(dir))
    for (const auto& e : fs::directory_iterator(dir))
      if (e.path().extension() == ".yaml") names.push_back(e.path().stem().string());
  std::sort(names.begin(), names.end());
  throw InputError("unknown " + what + " '" + name_or_path + "'" +
                   NearestHint(name_or_path, names) + "; " + what + "s are in " + dir);
}

DeviceConfig LoadDevice(const std::string& name_or_path) {
  return LoadDeviceFile(ConfigFile("devices", name_or_path, "device"));
}

}  // namespace npusim
