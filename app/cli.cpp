#include "app/cli.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/wait.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <limits>
#include <map>
#include <memory>
#include <optional>

#include "app/calibrate.h"
#include "app/cli_util.h"
#include "app/command_line.h"
#include "model/config.h"
#include "model/error.h"
#include "model/text.h"
#include "ops/runner.h"
#include "reports/capacity_report.h"
#include "reports/compare_report.h"
#include "reports/explore_report.h"
#include "reports/format.h"
#include "reports/kernel_report.h"
#include "reports/model_report.h"
#include "reports/serving_report.h"
#include "reports/sweep_report.h"
#include "workloads/calibration.h"
#include "workloads/capacity_search.h"
#include "workloads/explore.h"
#include "workloads/functional_run.h"
#include "workloads/host_profile.h"
#include "workloads/memory_plan.h"
#include "workloads/model_config.h"
#include "workloads/serving.h"
#include "workloads/serving_run.h"
#include "workloads/sglang_import.h"
#include "workloads/step_graph.h"
#include "workloads/sweep.h"

namespace npusim {

namespace {

void PrintOp(const Op& op) {
  std::printf("%-26s %s\n", op.name().c_str(), op.summary().c_str());
  for (const auto& p : op.params()) {
    std::string extra;
    for (const auto& c : p.choices) extra += (extra.empty() ? " {" : ", ") + c;
    if (!extra.empty()) extra += "}";
    std::printf("    %-22s default %-10s %s%s\n", p.name.c_str(), p.default_value.c_str(),
                p.desc.c_str(), extra.c_str());
  }
}

int KernelList() {
  for (const auto& op : AllOps()) PrintOp(*op);
  return kExitOk;
}

// `npusim kernel NAME --help`: the command's options, then the kernel's parameters and tensors.
int KernelHelp(const Op& op) {
  std::cout << CommandHelp(Command("kernel")) << "\nkernel " << op.name()
            << " (set its parameters with --set name=value):\n";
  PrintOp(op);
  std::printf("\ntensors (with the defaults; --inputs DIR reads <name>.npy for every input):\n");
  for (const auto& t : op.tensors(ParamValues(op.params())))
    std::printf("    %-22s %-8s %-14s %s\n", t.name.c_str(),
                t.role == TensorRole::kInput    ? "input"
                : t.role == TensorRole::kOutput ? "output"
                : t.role == TensorRole::kInOut  ? "in/out"
                                                : "workspace",
                std::string(Name(t.dtype)).c_str(), ShapeString(t.shape).c_str());
  return kExitOk;
}

int Kernel(const std::vector<std::string>& argv) {
  Args a = ParseCommand(Command("kernel"), argv, /*own_help=*/true);
  ConfigureProcess(a);
  if (Has(a, "--list")) return KernelList();
  if (Has(a, "--help") && a.positional.empty()) throw HelpRequested(CommandHelp(Command("kernel")));
  if (a.positional.size() != 1)
    throw InputError("npusim kernel needs exactly one kernel name (see 'npusim kernel --list')");
  const Op& op = FindOp(a.positional[0]);
  if (Has(a, "--help")) return KernelHelp(op);
  DeviceConfig device = LoadDevice(Option(a, "--device", "Ascend910B3"));
  ParamValues params(op.params());
  for (const auto& [k, v] : a.options) {
    if (k != "--set") continue;
    const auto [key, value] = SplitKeyValue(k, v);
    try {  // the command line's mistake: say which --set
      params.Set(key, value);
    } catch (const InputError& e) {
      throw InputError("--set " + v + ": " + e.what());
    }
  }
  RunOptions opts;
  if (Has(a, "--timing-only") && Has(a, "--functional"))
    throw InputError("--timing-only and --functional exclude each other");
  if (Has(a, "--timing-only")) opts.mode = ModeChoice::kTimingOnly;
  if (Has(a, "--functional")) opts.mode = ModeChoice::kFunctional;
  opts.seed = UnsignedOption(a, "--seed", 0, std::numeric_limits<uint64_t>::max());
  // Up to 1 TiB: a limit the shift into bytes cannot wrap.
  opts.functional_limit_bytes = UnsignedOption(a, "--functional-limit-mb", 1024, uint64_t{1} << 20)
                                << 20;
  opts.inputs_dir = Option(a, "--inputs", "");
  opts.extrapolate = !Has(a, "--simulate");
  const std::string out = Option(a, "--out", "");
  std::optional<OutputFolder> folder;
  if (!out.empty()) folder.emplace(out);
  std::unique_ptr<TraceRecorder> trace;
  if (!out.empty())
    trace = std::make_unique<TraceRecorder>(
        UnsignedOption(a, "--trace-limit", 500000, uint64_t{1} << 32));
  opts.trace = trace.get();

  KernelRun run = RunKernel(op, params, device, opts);
  if (folder) {
    WriteKernelOutputs(run, device, folder->path(), trace.get());
    folder->Commit();
  }
  if (trace && trace->dropped() > 0)
    spdlog::warn(
        "trace.json is cut: {} instruction slices kept (up to {:.3f} us of {:.3f} us), {} dropped; "
        "raise --trace-limit to keep more",
        trace->size(), trace->kept_until_us(), run.launch.time_us, trace->dropped());
  if (ShowResults(a)) std::cout << KernelConsoleSummary(run, device);
  if (!out.empty()) spdlog::info("written {}/", out);
  if (run.status != "ok") {
    std::cerr << "error: " << run.message << "\n";
    return kExitSimulatedFailure;
  }
  return kExitOk;
}

int Validate(const std::vector<std::string>& argv) {
  Args a = ParseCommand(Command("validate"), argv);
  ConfigureProcess(a);
  if (a.positional.size() != 1) throw InputError("npusim validate needs one YAML file");
  const std::string& path = a.positional[0];
  YAML::Node root = LoadYamlFile(path);
  if (root.IsMap() && root["kernel"] && (root["sweep"] || root["device_sweep"] || root["fixed"])) {
    const ExploreConfig c = LoadExploreConfig(path);
    std::printf("ok: %s is a valid explore config: %s, %zu device(s)\n", path.c_str(),
                c.kernel.c_str(), c.devices.size());
    return kExitOk;
  }
  if (root.IsMap() && root["grid"]) {
    const SweepConfig c = LoadSweepConfig(path);
    ValidateSweepPoints(c);
    std::printf("ok: %s is a valid sweep config: %zu points\n", path.c_str(),
                SweepPoints(c).size());
    return kExitOk;
  }
  if (root.IsMap() && root["model"]) {
    const ServingSetup s = PrepareServing(LoadRunConfig(path));
    std::printf(
        "ok: %s is a valid run config: %s on %lld x %s, %zu request%s, KV pool %lld tokens per "
        "rank\n",
        path.c_str(), s.model.file.c_str(), static_cast<long long>(s.run.Chips()),
        s.device.soc.c_str(), s.requests.size(), s.requests.size() == 1 ? "" : "s",
        static_cast<long long>(s.memory.kv_tokens));
    return kExitOk;
  }
  if (root.IsMap() && root["measured"] && root["source"]) {
    const CalibrationRow r = ReadRowCheck(path);
    std::printf("ok: %s is a valid calibration row: %s (%s, %s%s)\n", path.c_str(), r.id.c_str(),
                r.kind.c_str(), r.role.c_str(), r.status == "ok" ? "" : (", " + r.status).c_str());
    return kExitOk;
  }
  if (root.IsMap() && root["launch_us"] && root["step_us"]) {
    const HostProfile h = LoadHostProfile(path);
    std::printf(
        "ok: %s is a valid host profile: %s, eager launch %g us, graph replay %g us, step %g us\n",
        path.c_str(), h.name.c_str(), h.launch_us, h.graph_replay_us, h.step_us);
    return kExitOk;
  }
  if (!root.IsMap() || !root["soc"])
    throw InputError(
        Where(path, root) +
        ": not a device (soc), run (model), explore (kernel + sweep), sweep (grid), host profile " +
        "(launch_us, step_us) or calibration row (source, measured)");
  DeviceConfig d = LoadDeviceFile(path);
  std::printf(
      "ok: %s is a valid device config: %s, %lld AIC + %lld AIV at %g MHz, UB %lld B, L1 %lld B, "
      "HBM %g GB/s\n",
      path.c_str(), d.soc.c_str(), static_cast<long long>(d.aic_count),
      static_cast<long long>(d.aiv_count), d.clock_mhz, static_cast<long long>(d.ub_bytes),
      static_cast<long long>(d.l1_bytes), d.hbm_bandwidth_gbps);
  return kExitOk;
}

// `npusim model FILE`: the architecture the simulator reads from a model config, one rank's
// shapes and HBM plan, and with --decode-batch / --prefill-batch one step's device time.
int Model(const std::vector<std::string>& argv) {
  Args a = ParseCommand(Command("model"), argv);
  ConfigureProcess(a);
  if (a.positional.size() != 1)
    throw InputError(
        "npusim model needs one model config (e.g. configs/models/qwen3-next-80b-a3b.json)");
  auto integer = [&](const char* key, int64_t def) {
    return static_cast<int64_t>(
        UnsignedOption(a, key, static_cast<uint64_t>(def), uint64_t{1} << 40));
  };
  const ModelConfig m = LoadModelConfig(a.positional[0]);
  std::cout << ModelSummary(m);
  const ParallelPlan plan{integer("--tp", 1), integer("--dp", 1), integer("--ep", 1)};
  const DeviceConfig device = LoadDevice(Option(a, "--device", "Ascend910B3"));
  MemoryOptions mo;
  mo.draft_tokens = integer("--draft-tokens", 0);
  mo.ssm_dtype = Option(a, "--ssm-dtype", "");
  mo.gdn_decode_impl = Option(a, "--gdn-impl", "fused");
  mo.quantization = Option(a, "--quantization", "");
  mo.max_running_requests = integer("--max-running-requests", 48);
  mo.mem_fraction_static = FractionOption(a, "--mem-fraction", 0.8);
  std::cout << RankSummary(m, plan, device) << std::flush;
  std::cout << HbmSummary(mo, PlanMemory(m, plan, device, mo));
  const bool prefill = !Option(a, "--prefill-batch", "").empty();
  if (Option(a, "--decode-batch", "").empty() && !prefill) return kExitOk;
  StepShape step;
  step.gdn_impl = mo.gdn_decode_impl;
  step.ssm_dtype = mo.ssm_dtype;
  step.batch = prefill ? integer("--prefill-batch", 1) : integer("--decode-batch", 24);
  step.tokens = prefill ? integer("--prefill-tokens", 4096) : 1;
  step.prefix = prefill ? integer("--prefix", 0) : integer("--context", 4096) - 1;
  std::cout << StepSummary(StudyStep(m, plan, device, step, prefill, mo.draft_tokens));
  return kExitOk;
}

// `npusim run RUN.yaml`: a serving run; the kernels are timed in a forked child (step_cost.h).
int Run(const std::vector<std::string>& argv) {
  Args a = ParseCommand(Command("run"), argv);
  ConfigureProcess(a);
  if (a.positional.size() > 1) throw InputError("npusim run takes one run config");
  const std::string path = a.positional.empty() ? "configs/runs/quickstart.yaml" : a.positional[0];
  const RunConfig rc = LoadRunConfig(path, SetOptions(a));
  const std::string out =
      Option(a, "--out", "reports/out/" + std::filesystem::path(path).stem().string());
  OutputFolder folder(out);
  ServingSetup setup = PrepareServing(rc);
  spdlog::info("run {}: {} requests, {} on {} x {}", path, setup.requests.size(), setup.model.file,
               setup.run.Chips(), setup.device.soc);
  ServingOutcome o;
  try {
    o = SimulateServing(setup);
  } catch (const SimFailure& e) {  // the failed run's outputs: its status and the config that ran
    WriteFailedRunOutputs(rc, path, e, folder.path());
    folder.Commit();
    throw;
  }
  const FunctionalStudy* f = o.study ? &*o.study : nullptr;
  WriteServingOutputs(setup, o.result, folder.path(), f);
  folder.Commit();  // the files are in place before anything is printed (a closed pipe cannot lose
                    // them)
  if (const std::string jsonl = Option(a, "--result-jsonl", ""); !jsonl.empty()) {
    AppendResultLine(jsonl, setup, o.result, f);
    spdlog::info("appended the result line to {}", jsonl);
  }
  if (ShowResults(a)) std::cout << ServingSummary(setup, o.result, ComputeMetrics(o.result), f);
  spdlog::info("written {}/", out);
  return kExitOk;
}

// `npusim explore EXPLORE.yaml`: a kernel over a grid of tilings and device parameters.
int Explore(const std::vector<std::string>& argv) {
  Args a = ParseCommand(Command("explore"), argv);
  ConfigureProcess(a);
  if (a.positional.size() != 1)
    throw InputError(
        "npusim explore takes one explore config (e.g. "
        "configs/explore/move_intermediate_cache.yaml)");
  const ExploreConfig c = LoadExploreConfig(a.positional[0]);
  const std::string out = Option(
      a, "--out", "reports/out/explore-" + std::filesystem::path(a.positional[0]).stem().string());
  std::optional<EtaProgress> eta;
  const ExploreResult r = RunExplore(c, [&](int64_t done, int64_t total) {
    if (!eta) eta.emplace("points", total);
    if (done == total || done % 8 == 0) eta->Done(done);
  });
  OutputFolder folder(out);
  WriteExploreOutputs(r, folder.path());
  folder.Commit();
  if (ShowResults(a)) std::cout << ExploreSummary(r);
  spdlog::info("written {}/", out);
  return kExitOk;
}

// Points of `mine` an earlier run of the same grid finished, with their exit codes: in
// DIR.partial (an interrupted sweep) or DIR (a finished one, copied so DIR stays whole until the
// commit). A partial folder of another grid (or of none) is cleared and stamped with this one.
std::map<int64_t, int> AdoptFinishedPoints(const OutputFolder& folder, const std::string& grid,
                                           const std::vector<int64_t>& mine) {
  namespace fs = std::filesystem;
  auto stamp_of = [](const std::string& dir) {
    std::string s = Slurp(dir + "/grid_id");
    while (!s.empty() && s.back() == '\n') s.pop_back();
    return s;
  };
  if (stamp_of(folder.path()) != grid) {
    for (const auto& e : fs::directory_iterator(folder.path())) fs::remove_all(e.path());
    WriteFileOrThrow(folder.path() + "/grid_id", grid + "\n");
  }
  const bool finished_here = stamp_of(folder.dir()) == grid;
  std::map<int64_t, int> done;
  for (int64_t i : mine) {
    const std::string rel = "/points/" + std::to_string(i);
    if (!fs::exists(folder.path() + rel + "/exit_code") && finished_here &&
        fs::exists(folder.dir() + rel + "/exit_code")) {
      fs::remove_all(folder.path() + rel);
      fs::create_directories(folder.path() + "/points");
      fs::copy(folder.dir() + rel, folder.path() + rel, fs::copy_options::recursive);
    }
    const std::string code = Slurp(folder.path() + rel + "/exit_code");
    if (!code.empty()) done[i] = std::atoi(code.c_str());
  }
  return done;
}

// `npusim sweep SWEEP.yaml [--shard I/N] [-j N] [--out DIR]`: every point of the shard as its
// own npusim process (`run` or `kernel` with --set), N at a time; one row per point.
int Sweep(std::vector<std::string> argv) {
  Args a = ParseCommand(Command("sweep"), argv);
  ConfigureProcess(a);
  if (a.positional.size() != 1)
    throw InputError(
        "npusim sweep takes one sweep config (e.g. configs/sweeps/mtp-draft-tokens.yaml)");
  const SweepConfig c = LoadSweepConfig(a.positional[0]);
  const auto shard = ParseShard(Option(a, "--shard", "1/1"));
  const int64_t jobs = JobsOption(a, 1);
  const double point_timeout = PointTimeoutOption(a);
  const std::string out = Option(a, "--out", SweepDefaultOut(a.positional[0], shard));
  const auto points = SweepPoints(c);
  const std::vector<int64_t> mine = ShardPoints(static_cast<int64_t>(points.size()), shard);
  OutputFolder folder(out, /*keep_partial=*/true);
  auto point_dir = [&](int64_t i) { return folder.path() + "/points/" + std::to_string(i); };
  std::map<int64_t, int> codes = AdoptFinishedPoints(folder, SweepGridId(c), mine);
  if (!codes.empty())
    spdlog::info("resuming: {} of {} points of this grid are already done ({}.partial or {}/)",
                 codes.size(), mine.size(), out, out);
  std::vector<int64_t> todo;
  std::vector<std::vector<std::string>> commands;
  for (int64_t i : mine)
    if (!codes.count(i)) {
      todo.push_back(i);
      commands.push_back(SweepPointCommand(c, points[static_cast<size_t>(i)]));
    }
  const EtaProgress eta(
      "points of shard " + std::to_string(shard.first) + "/" + std::to_string(shard.second),
      static_cast<int64_t>(todo.size()));
  int64_t finished = 0;
  const std::vector<int> exit_codes = RunChildren(
      commands, [&](size_t k) { return point_dir(todo[k]); }, jobs,
      [&](size_t k, int code) {
        if (SweepPointFinished(code))
          WriteFileOrThrow(point_dir(todo[k]) + "/exit_code", std::to_string(code) + "\n");
        eta.Done(++finished, "point " + std::to_string(todo[k]) + ": " +
                                 (code == kExitTimeout ? "killed at --point-timeout"
                                                       : "exit " + std::to_string(code)));
      },
      point_timeout);
  for (size_t k = 0; k < todo.size(); ++k) codes[todo[k]] = exit_codes[k];
  SweepTable t;
  t.config = c.file;
  t.grid = SweepGridId(c);
  t.shard = std::to_string(shard.first) + "/" + std::to_string(shard.second);
  t.total = static_cast<int64_t>(points.size());
  for (int64_t i : mine)
    t.rows.push_back(ReadPointResult(i, points[static_cast<size_t>(i)], codes[i], point_dir(i)));
  WriteSweepOutputs(t, folder.path());
  folder.Commit();
  if (ShowResults(a)) std::cout << Slurp(out + "/report.md");
  spdlog::info("written {}/", out);
  return kExitOk;
}

// `npusim merge DIR... [--out DIR]`: the shards' tables as one; missing or duplicate points are
// reported and make the exit code 2.
int Merge(const std::vector<std::string>& argv) {
  Args a = ParseCommand(Command("merge"), argv);
  ConfigureProcess(a);
  if (a.positional.empty())
    throw InputError("npusim merge takes the output directories of sweep shards");
  const SweepTable t = MergeSweeps(a.positional);
  const std::string out = Option(a, "--out", "reports/out/sweep-merged");
  OutputFolder folder(out);
  WriteSweepOutputs(t, folder.path());
  folder.Commit();
  if (ShowResults(a)) std::cout << Slurp(out + "/report.md");
  auto list = [](const std::vector<int64_t>& v) {
    std::string s;
    for (int64_t i : v) s += (s.empty() ? "" : ", ") + std::to_string(i);
    return s;
  };
  if (!t.missing.empty() || !t.duplicates.empty()) {
    std::string msg =
        "merge: " + std::to_string(t.rows.size()) + " of " + std::to_string(t.total) + " points";
    if (!t.missing.empty())
      msg += "; missing points " + list(t.missing) + " (a shard not given or not finished?)";
    if (!t.duplicates.empty())
      msg += "; points " + list(t.duplicates) + " appear in more than one shard (first kept)";
    throw InputError(msg + "; merged table written to " + out + "/");
  }
  return kExitOk;
}

// `npusim capacity RUN.yaml`: workloads/capacity_search plans, each probe a serving run in its own
// process under the variant's folder; reports/capacity_report writes the answers.
int Capacity(const std::vector<std::string>& argv) {
  Args a = ParseCommand(Command("capacity"), argv);
  ConfigureProcess(a);
  if (a.positional.size() != 1)
    throw InputError(
        "npusim capacity takes one run config (with slo_ttft_p99_ms / slo_tpot_p99_ms)");
  const std::string path = a.positional[0];
  KeyValues sets;
  KnobTries tries;  // --try key=v1,v2: knobs to compare
  for (const auto& [k, v] : a.options)
    if (k == "--set" || k == "--try") {
      auto [key, value] = SplitKeyValue(k, v);
      if (k == "--set") sets.emplace_back(key, value);
      if (k == "--try") tries.push_back({key, SplitList(value, ',')});
    }
  const std::string out =
      Option(a, "--out", "reports/out/capacity-" + std::filesystem::path(path).stem().string());
  OutputFolder folder(out);
  const double point_timeout = PointTimeoutOption(a);
  const bool several = Combinations(tries).size() > 1;
  const auto variant_dir = [&](size_t v) {
    return several ? folder.path() + "/variants/" + std::to_string(v) : folder.path();
  };
  const std::vector<CapacityVariant> plans = PlanCapacity(
      path, sets, tries,
      [&](size_t v, const KeyValues& vsets, const std::string& where, const KeyValues& load) {
        std::vector<std::string> args = {"run", path};
        for (const auto& [k, x] : vsets) args.insert(args.end(), {"--set", k + "=" + x});
        for (const auto& [k, x] : load) args.insert(args.end(), {"--set", k + "=" + x});
        const std::string dir = variant_dir(v) + "/" + where;
        return ReadCapacityPoint(RunChildren(
                                     {args}, [&](size_t) { return dir; }, 1, nullptr, point_timeout)
                                     .front(),
                                 dir);
      });
  for (size_t v = 0; v < plans.size(); ++v)
    if (plans[v].setup) WriteCapacityOutputs(*plans[v].setup, plans[v].answer, variant_dir(v));
  if (several) WriteCapacityComparison(path, plans, folder.path());
  folder.Commit();
  if (ShowResults(a))
    std::cout << (several ? ComparisonSummary(plans)
                          : CapacitySummary(*plans[0].setup, plans[0].answer));
  spdlog::info("written {}/", out);
  return kExitOk;
}

// `npusim compare A B`: bench_serving's fields of two results side by side.
int Compare(const std::vector<std::string>& argv) {
  Args a = ParseCommand(Command("compare"), argv);
  ConfigureProcess(a);
  if (a.positional.size() != 2)
    throw InputError(
        "npusim compare takes two results (run folders, metrics.json or bench_serving JSONL "
        "files)");
  std::cout << CompareResults(ReadResult(a.positional[0]), ReadResult(a.positional[1]),
                              a.positional[0], a.positional[1]);
  return kExitOk;
}

// `npusim keys run|device|host`: every key the loader reads, from the same Bind() declarations.
int Keys(const std::vector<std::string>& argv) {
  Args a = ParseCommand(Command("keys"), argv);
  ConfigureProcess(a);
  const std::vector<std::string> kinds = {"run", "device", "host"};
  if (a.positional.size() != 1) throw InputError("npusim keys takes one of: run, device, host");
  const std::string& kind = a.positional[0];
  ParamTable t;
  if (kind == "run") {
    RunConfig rc;
    rc.Bind(t);
  } else if (kind == "device") {
    DeviceConfig d;
    d.Bind(t);
  } else if (kind == "host") {
    HostProfile h;
    h.Bind(t);
  } else {
    throw InputError("npusim keys: unknown kind '" + kind + "'" + NearestHint(kind, kinds));
  }
  std::cout << "| key | type | unit | default | range | meaning |\n|---|---|---|---|---|---|\n";
  for (const ParamTable::Row& r : t.rows()) {
    std::string desc = r.desc;
    for (char& c : desc)
      if (c == '|') c = '/';
    const std::string def = r.required ? "required" : r.value.empty() ? "(empty)" : r.value;
    std::cout << "| " << r.key << " | " << r.type << " | " << r.unit << " | " << def << " | "
              << r.range << " | " << desc << " |\n";
  }
  return kExitOk;
}

}  // namespace

int ImportSglangCommand(std::vector<std::string> argv) {
  const Args a = ParseCommand(Command("import-sglang"), argv);
  ConfigureProcess(a);
  if (a.positional.empty() || a.positional.size() > 2)
    throw InputError(
        "import-sglang takes the launch_server command line and optionally the bench_serving one, "
        "each as one quoted argument");
  SglangImportOptions o;
  o.device = Option(a, "--device", o.device);
  o.weights = Option(a, "--weights", "");
  const std::string out = Option(a, "--output", "");
  // A run config resolves paths against its own folder: configs given here (relative to the
  // working directory) are rewritten relative to the output file.
  auto for_output = [&](const std::string& path) {
    namespace fs = std::filesystem;
    std::error_code ec;
    if (path.empty() || out.empty() || fs::path(path).is_absolute() || !fs::exists(path, ec))
      return path;
    return fs::relative(fs::absolute(path), fs::absolute(fs::path(out)).parent_path(), ec).string();
  };
  o.model = for_output(Option(a, "--model", ""));
  o.draft_model = for_output(Option(a, "--draft-model", ""));
  const SglangImport im =
      ImportSglang(a.positional[0], a.positional.size() > 1 ? a.positional[1] : "", o);
  const std::string yaml = im.Yaml();
  ParseRunConfig(
      yaml, out.empty() ? "import-sglang" : out);  // the keys and values are a valid run config
  for (const auto& i : im.ignored) spdlog::info("ignored {}", i);
  for (const auto& i : im.assumed) spdlog::warn("assumed {}", i);
  if (out.empty()) {
    std::cout << yaml;
    return kExitOk;
  }
  const std::string tmp = out + ".tmp";
  {
    std::ofstream f(tmp);
    f << yaml;
    f.flush();
    if (!f) throw InputError(out + ": cannot write");
  }
  std::filesystem::rename(tmp, out);
  std::cout << "written " << out << "\n";
  return kExitOk;
}

int RunCli(const std::vector<std::string>& args) {
  try {
    if (args.empty()) {
      std::cerr << TopLevelHelp();
      return kExitInvalidInput;
    }
    if (args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
      std::cout << TopLevelHelp();
      return kExitOk;
    }
    if (args[0] == "--version" || args[0] == "-V") {
      std::cout << VersionText();
      return kExitOk;
    }
    const std::string& name = Command(args[0]).name;
    std::vector<std::string> rest(args.begin() + 1, args.end());
    if (name == "kernel") return Kernel(rest);
    if (name == "validate") return Validate(rest);
    if (name == "model") return Model(rest);
    if (name == "run") return Run(rest);
    if (name == "explore") return Explore(rest);
    if (name == "sweep") return Sweep(rest);
    if (name == "merge") return Merge(rest);
    if (name == "capacity") return Capacity(rest);
    if (name == "calibrate") return Calibrate(rest);
    if (name == "import-sglang") return ImportSglangCommand(rest);
    if (name == "keys") return Keys(rest);
    if (name == "compare") return Compare(rest);
    throw std::logic_error("command '" + name + "' is declared but has no handler");
  } catch (const HelpRequested& h) {
    std::cout << h.what();
    return kExitOk;
  } catch (const InputError& e) {
    std::cerr << "error: " << e.what() << "\n";
    return kExitInvalidInput;
  } catch (const SimFailure& e) {
    std::cerr << "error: " << e.what() << "\n";
    return kExitSimulatedFailure;
  } catch (const OutputError& e) {
    std::cerr << "error: " << e.what() << "\n";
    return kExitOutputError;
  } catch (const Interrupted& e) {  // its children are stopped and its output folder left as it was
    std::cerr << "error: " << e.what() << "; the running points were stopped\n";
    return 128 + e.signal();
  } catch (
      const YAML::Exception& e) {  // a loader that missed a shape check: still the input's fault
    std::cerr << "error: " << e.what() << "\n";
    return kExitInvalidInput;
  } catch (const std::filesystem::filesystem_error& e) {
    // A folder that could not be made or moved (a full disk, no permission, a read-only file
    // system): the output's fault like a failed write (a full /tmp made it "internal error").
    const int err = e.code().value();
    if (e.code().category() == std::generic_category() ||
        e.code().category() == std::system_category())
      if (err == ENOSPC || err == EDQUOT || err == EACCES || err == EPERM || err == EROFS) {
        std::cerr << "error: cannot write the outputs: " << e.what() << "\n";
        return kExitOutputError;
      }
    std::cerr << "internal error: " << e.what() << " (please report it with the command line)\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "internal error: " << e.what() << " (please report it with the command line)\n";
    return 1;
  }
}

}  // namespace npusim
