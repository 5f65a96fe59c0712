// Serving-run speed: scenario S2 (24 requests x 3500 in / 1500 out, Qwen3-Next-80B, 48 layers,
// TP 16 on A3) end to end as a user runs it — `npusim run` in a child process, so every
// iteration is a fresh simulation (one SystemC simulation per process). Goal: well under a
// minute on the 2-core machine (< 30 s) and under 2 GiB RSS. Counters: wall seconds per run
// (manual time) and the largest resident set of npusim and its kernel-timer child.
#include <benchmark/benchmark.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <string>

namespace {

// `config` relative to the source tree.
void RunConfig(benchmark::State& state, const char* config) {
  const std::string bin = NPUSIM_BIN, cfg = std::string(NPUSIM_SOURCE_DIR) + "/" + config;
  const std::string out = "/tmp/npusim_serving_bench_" + std::to_string(getpid());
  for (auto _ : state) {
    const auto t0 = std::chrono::steady_clock::now();
    const pid_t pid = fork();
    if (pid == 0) {
      setenv("SYSTEMC_DISABLE_COPYRIGHT_MESSAGE", "1", 1);
      if (!freopen("/dev/null", "w", stdout)) _exit(126);  // the report summary
      execl(bin.c_str(), bin.c_str(), "run", cfg.c_str(), "--quiet", "--out", out.c_str(),
            static_cast<char*>(nullptr));
      _exit(127);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    state.SetIterationTime(s);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) state.SkipWithError("npusim run failed");
  }
  rusage ru{};
  getrusage(RUSAGE_CHILDREN, &ru);  // npusim and, waited for by it, its kernel-timer child
  state.counters["max_rss_MiB"] = static_cast<double>(ru.ru_maxrss) / 1024.0;
}

void BM_S2Triton(benchmark::State& s) { RunConfig(s, "configs/runs/qwen3-next-80b-a3-tp16.yaml"); }
void BM_S2Fused(benchmark::State& s) {
  RunConfig(s, "configs/runs/qwen3-next-80b-a3-tp16-fused.yaml");
}
void BM_Quickstart(benchmark::State& s) { RunConfig(s, "configs/runs/quickstart.yaml"); }
BENCHMARK(BM_S2Triton)->UseManualTime()->Unit(benchmark::kSecond)->Iterations(2);
BENCHMARK(BM_S2Fused)->UseManualTime()->Unit(benchmark::kSecond)->Iterations(2);
// Issue #17: 384 varied-length requests in eager mode (82 forward shapes), against S2's wall time.
void BM_VariedEager384(benchmark::State& s) { RunConfig(s, "bench/configs/varied-eager-384.yaml"); }
BENCHMARK(BM_VariedEager384)->UseManualTime()->Unit(benchmark::kSecond)->Iterations(1);
BENCHMARK(BM_Quickstart)->UseManualTime()->Unit(benchmark::kSecond)->Iterations(2);

}  // namespace

BENCHMARK_MAIN();
