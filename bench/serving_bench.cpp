// Serving-run speed: scenario S2 (24 requests x 3500 in / 1500 out, Qwen3-Next-80B, 48 layers,
// TP 16 on A3) end to end as a user runs it — `npusim run` in a child process, so every
// iteration is a fresh simulation (one SystemC simulation per process). Goal: well under a
// minute on the 2-core machine (< 30 s) and under 2 GiB RSS. Counters: wall seconds per run
// (manual time) and the largest resident set of npusim and its kernel-timer children.
#include <benchmark/benchmark.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

namespace {

// One `npusim COMMAND config ARGS...` (config relative to the source tree) in a child process,
// its wall time. `cache` is the child's NPUSIM_KERNEL_CACHE: "off" times every kernel (cold), a
// folder keeps what earlier runs timed.
double RunOnce(const std::string& command, const std::string& config,
               const std::vector<std::string>& args, const std::string& cache, int& status) {
  const std::string bin = NPUSIM_BIN, cfg = std::string(NPUSIM_SOURCE_DIR) + "/" + config;
  const std::string out = "/tmp/npusim_serving_bench_" + std::to_string(getpid());
  std::vector<std::string> argv_s = {bin, command, cfg};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  argv_s.insert(argv_s.end(), {"--quiet", "--out", out});
  std::vector<char*> argv;
  for (std::string& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);
  const auto t0 = std::chrono::steady_clock::now();
  const pid_t pid = fork();
  if (pid == 0) {
    setenv("SYSTEMC_DISABLE_COPYRIGHT_MESSAGE", "1", 1);
    setenv("NPUSIM_KERNEL_CACHE", cache.c_str(), 1);
    if (!freopen("/dev/null", "w", stdout)) _exit(126);  // the report summary
    execv(bin.c_str(), argv.data());
    _exit(127);
  }
  waitpid(pid, &status, 0);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::filesystem::remove_all(out);
  return seconds;
}
double RunOnce(const std::string& config, const std::string& cache, int& status) {
  return RunOnce("run", config, {}, cache, status);
}

// Cold: no kernel cache, every kernel of the run simulated (what a first run of a new setup
// costs). Warm: the same run again over a cache one untimed run filled (a repeated run, a
// capacity probe or sweep point that meets the same kernels).
void RunConfig(benchmark::State& state, const char* config, bool warm) {
  const std::string cache =
      warm ? "/tmp/npusim_serving_bench_cache_" + std::to_string(getpid()) : "off";
  int status = 0;
  if (warm) RunOnce(config, cache, status);
  for (auto _ : state) {
    state.SetIterationTime(RunOnce(config, cache, status));
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) state.SkipWithError("npusim run failed");
  }
  if (warm) std::filesystem::remove_all(cache);
  rusage ru{};
  getrusage(RUSAGE_CHILDREN, &ru);  // npusim and, waited for by it, its kernel-timer children
  state.counters["max_rss_MiB"] = static_cast<double>(ru.ru_maxrss) / 1024.0;
}

constexpr const char* kS2Triton = "configs/runs/qwen3-next-80b-a3-tp16.yaml";
constexpr const char* kS2Fused = "configs/runs/qwen3-next-80b-a3-tp16-fused.yaml";
constexpr const char* kVaried = "bench/configs/varied-eager-384.yaml";

void BM_S2Triton(benchmark::State& s) { RunConfig(s, kS2Triton, false); }
void BM_S2Fused(benchmark::State& s) { RunConfig(s, kS2Fused, false); }
void BM_Quickstart(benchmark::State& s) { RunConfig(s, "configs/runs/quickstart.yaml", false); }
BENCHMARK(BM_S2Triton)->UseManualTime()->Unit(benchmark::kSecond)->Iterations(2);
BENCHMARK(BM_S2Fused)->UseManualTime()->Unit(benchmark::kSecond)->Iterations(2);
// Issue #17: 384 varied-length requests in eager mode (82 forward shapes), against S2's wall time,
// both cold and both warm.
void BM_VariedEager384(benchmark::State& s) { RunConfig(s, kVaried, false); }
BENCHMARK(BM_VariedEager384)->UseManualTime()->Unit(benchmark::kSecond)->Iterations(1);
void BM_S2FusedWarm(benchmark::State& s) { RunConfig(s, kS2Fused, true); }
void BM_VariedEager384Warm(benchmark::State& s) { RunConfig(s, kVaried, true); }
BENCHMARK(BM_S2FusedWarm)->UseManualTime()->Unit(benchmark::kSecond)->Iterations(2);
BENCHMARK(BM_VariedEager384Warm)->UseManualTime()->Unit(benchmark::kSecond)->Iterations(2);
BENCHMARK(BM_Quickstart)->UseManualTime()->Unit(benchmark::kSecond)->Iterations(2);

// Issue #17: the README's quickstart capacity search (13 probes, each a child `npusim run`) over
// an empty kernel cache (cold: its probes share kernels) and again over the cache a first search
// filled (warm: a repeated search; goal 5x faster than cold).
void Capacity(benchmark::State& state, bool warm) {
  const std::vector<std::string> args = {"--set", "slo_tpot_p99_ms=16",
                                         "--set", "slo_ttft_p99_ms=2000",
                                         "--set", "random_output_len=64"};
  const std::string cache = "/tmp/npusim_capacity_bench_cache_" + std::to_string(getpid());
  int status = 0;
  std::filesystem::remove_all(cache);
  if (warm) RunOnce("capacity", "configs/runs/quickstart.yaml", args, cache, status);
  for (auto _ : state) {
    if (!warm) std::filesystem::remove_all(cache);
    state.SetIterationTime(
        RunOnce("capacity", "configs/runs/quickstart.yaml", args, cache, status));
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) state.SkipWithError("capacity failed");
  }
  std::filesystem::remove_all(cache);
}
void BM_CapacityCold(benchmark::State& s) { Capacity(s, false); }
void BM_CapacityWarm(benchmark::State& s) { Capacity(s, true); }
BENCHMARK(BM_CapacityCold)->UseManualTime()->Unit(benchmark::kSecond)->Iterations(2);
BENCHMARK(BM_CapacityWarm)->UseManualTime()->Unit(benchmark::kSecond)->Iterations(3);

}  // namespace

BENCHMARK_MAIN();
