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
#include "workloads/config_check.h"
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

// The kernel's parameters: its defaults, then every --set in order.
ParamValues KernelParams(const Op& op, const Args& a) {
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
  return params;
}

RunOptions KernelOptions(const Args& a) {
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
  return opts;
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
  const DeviceConfig device = LoadDevice(Option(a, "--device", "Ascend910B3"));
  const ParamValues params = KernelParams(op, a);
  RunOptions opts = KernelOptions(a);
  const std::string out = Option(a, "--out", "");
  std::optional<OutputFolder> folder;
  std::unique_ptr<TraceRecorder> trace;
  if (!out.empty()) {
    folder.emplace(out);
    trace = std::make_unique<TraceRecorder>(
        UnsignedOption(a, "--trace-limit", 500000, uint64_t{1} << 32));
  }
  opts.trace = trace.get();
  const KernelRun run = RunKernel(op, params, device, opts);
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
  if (run.status == "ok") return kExitOk;
  std::cerr << "error: " << run.message << "\n";
  return kExitSimulatedFailure;
}

int Validate(const std::vector<std::string>& argv) {
  Args a = ParseCommand(Command("validate"), argv);
  ConfigureProcess(a);
  if (a.positional.size() != 1) throw InputError("npusim validate needs one YAML file");
  const std::string what = DescribeConfigFile(a.positional[0]);  // throws before any output
  std::cout << "ok: " << what << "\n";
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
  ResolvedRun setup = ResolveRun(rc);
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
  const std::string no_charts =
      "run with --no-charts (npusim capacity's probes are); run the config again without it to "
      "draw them";
  WriteServingOutputs(setup, o.result, folder.path(), f, Has(a, "--no-charts") ? no_charts : "");
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

// `npusim sweep SWEEP.yaml [--shard I/N] [-j N] [--out DIR]`: every point of the shard as its
// own npusim process (`run` or `kernel` with --set), N at a time; one row per point.
int Sweep(std::vector<std::string> argv) {
  Args a = ParseCommand(Command("sweep"), argv);
  ConfigureProcess(a);
  if (a.positional.size() != 1)
    throw InputError(
        "npusim sweep takes one sweep config (e.g. configs/sweeps/mtp-draft-tokens.yaml)");
  const SweepConfig c = LoadSweepConfig(a.positional[0]);
  SweepShardRun run;
  run.shard = ParseShard(Option(a, "--shard", "1/1"));
  run.jobs = JobsOption(a, 1);
  run.point_timeout_s = PointTimeoutOption(a);
  const std::string out = Option(a, "--out", SweepDefaultOut(a.positional[0], run.shard));
  OutputFolder folder(out, /*keep_partial=*/true);
  const auto points = SweepPoints(c);
  const std::vector<int64_t> mine = ShardPoints(static_cast<int64_t>(points.size()), run.shard);
  std::map<int64_t, int> codes =
      AdoptFinishedPoints(folder.path(), folder.dir(), SweepGridId(c), mine);
  if (!codes.empty())
    spdlog::info("resuming: {} of {} points of this grid are already done ({}.partial or {}/)",
                 codes.size(), mine.size(), out, out);
  const std::string points_dir = folder.path() + "/points";
  RunSweepPoints(c, run, points_dir, codes);
  SweepTable t;
  t.config = c.file;
  t.grid = SweepGridId(c);
  t.shard = std::to_string(run.shard.first) + "/" + std::to_string(run.shard.second);
  t.total = static_cast<int64_t>(points.size());
  for (int64_t i : mine)
    t.rows.push_back(ReadPointResult(i, points[static_cast<size_t>(i)], codes[i],
                                     points_dir + "/" + std::to_string(i)));
  WriteSweepOutputs(t, folder.path());
  folder.Commit();
  if (ShowResults(a)) std::cout << ReadFileText(out + "/report.md");
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
  if (ShowResults(a)) std::cout << ReadFileText(out + "/report.md");
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
  const bool several = Combinations(tries).size() > 1;
  const auto variant_dir = [&](size_t v) {
    return several ? folder.path() + "/variants/" + std::to_string(v) : folder.path();
  };
  const std::vector<CapacityVariant> plans =
      PlanCapacity(path, sets, tries, ChildRunProbe(path, variant_dir, PointTimeoutOption(a)));
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

namespace {

// A config path given on the command line (relative to the working directory) as the run config
// written to `out` must name it: run configs resolve paths against their own folder.
std::string RelativeToOutput(const std::string& path, const std::string& out) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (path.empty() || out.empty() || fs::path(path).is_absolute() || !fs::exists(path, ec))
    return path;
  return fs::relative(fs::absolute(path), fs::absolute(fs::path(out)).parent_path(), ec).string();
}

// `text` into `path` whole or not at all (written beside it, then renamed over it).
void WriteWhole(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp);
    f << text;
    f.flush();
    if (!f) throw InputError(path + ": cannot write");
  }
  std::filesystem::rename(tmp, path);
}

}  // namespace

int ImportSglangCommand(std::vector<std::string> argv) {
  const Args a = ParseCommand(Command("import-sglang"), argv);
  ConfigureProcess(a);
  if (a.positional.empty() || a.positional.size() > 2)
    throw InputError(
        "import-sglang takes the launch_server command line and optionally the bench_serving one, "
        "each as one quoted argument");
  const std::string out = Option(a, "--output", "");
  SglangImportOptions o;
  o.device = Option(a, "--device", o.device);
  o.weights = Option(a, "--weights", "");
  o.model = RelativeToOutput(Option(a, "--model", ""), out);
  o.draft_model = RelativeToOutput(Option(a, "--draft-model", ""), out);
  const SglangImport im =
      ImportSglang(a.positional[0], a.positional.size() > 1 ? a.positional[1] : "", o);
  const std::string yaml = im.Yaml();
  // The keys and values are a valid run config.
  ParseRunConfig(yaml, out.empty() ? "import-sglang" : out);
  for (const auto& i : im.ignored) spdlog::info("ignored {}", i);
  for (const auto& i : im.assumed) spdlog::warn("assumed {}", i);
  if (out.empty()) {
    std::cout << yaml;
    return kExitOk;
  }
  WriteWhole(out, yaml);
  std::cout << "written " << out << "\n";
  return kExitOk;
}

namespace {

// `npusim kernel-worker LOG_LEVEL` (not listed): a serving run's kernel-timer worker, started by
// WorkerKernelTimer with the device and the requests on stdin; answers on stdout.
int KernelWorker(const std::vector<std::string>& args) {
  if (isatty(0))  // a person typed it: it would wait for requests that never come
    throw InputError("'kernel-worker' is started by npusim itself (a serving run's kernel timer)");
  Args a;
  if (args.size() > 1) a.options.emplace_back("--log-level", args[1]);
  ConfigureLogging(a);
  const int wire = dup(1);
  dup2(2, 1);  // a stray print on stdout must not break the answers
  FILE* out = fdopen(wire, "w");
  if (!out) return 1;
  const int code = ServeKernelWorker(stdin, out);
  std::fclose(out);
  return code;
}

int Dispatch(const std::vector<std::string>& args) {
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
  if (args[0] == "kernel-worker") return KernelWorker(args);
  using Handler = int (*)(std::vector<std::string>);
  static const std::map<std::string, Handler> kHandlers = {
      {"kernel", [](std::vector<std::string> r) { return Kernel(r); }},
      {"validate", [](std::vector<std::string> r) { return Validate(r); }},
      {"model", [](std::vector<std::string> r) { return Model(r); }},
      {"run", [](std::vector<std::string> r) { return Run(r); }},
      {"explore", [](std::vector<std::string> r) { return Explore(r); }},
      {"sweep", [](std::vector<std::string> r) { return Sweep(std::move(r)); }},
      {"merge", [](std::vector<std::string> r) { return Merge(r); }},
      {"capacity", [](std::vector<std::string> r) { return Capacity(r); }},
      {"calibrate", [](std::vector<std::string> r) { return Calibrate(std::move(r)); }},
      {"import-sglang",
       [](std::vector<std::string> r) { return ImportSglangCommand(std::move(r)); }},
      {"keys", [](std::vector<std::string> r) { return Keys(r); }},
      {"compare", [](std::vector<std::string> r) { return Compare(r); }},
  };
  const std::string& name = Command(args[0]).name;
  const auto it = kHandlers.find(name);
  if (it == kHandlers.end())
    throw std::logic_error("command '" + name + "' is declared but has no handler");
  return it->second(std::vector<std::string>(args.begin() + 1, args.end()));
}

// A folder that could not be made or moved (a full disk, no permission, a read-only file
// system) is the output's fault like a failed write (a full /tmp made it "internal error").
bool IsOutputFailure(const std::filesystem::filesystem_error& e) {
  const int err = e.code().value();
  return (e.code().category() == std::generic_category() ||
          e.code().category() == std::system_category()) &&
         (err == ENOSPC || err == EDQUOT || err == EACCES || err == EPERM || err == EROFS);
}

int Fail(const char* what, int code, const std::string& tail = "") {
  std::cerr << "error: " << what << tail << "\n";
  return code;
}

}  // namespace

int RunCli(const std::vector<std::string>& args) {
  try {
    return Dispatch(args);
  } catch (const HelpRequested& h) {
    std::cout << h.what();
    return kExitOk;
  } catch (const InputError& e) {
    return Fail(e.what(), kExitInvalidInput);
  } catch (const SimFailure& e) {
    return Fail(e.what(), kExitSimulatedFailure);
  } catch (const OutputError& e) {
    return Fail(e.what(), kExitOutputError);
  } catch (const Interrupted& e) {  // its children are stopped and its output folder left as it was
    return Fail(e.what(), 128 + e.signal(), "; the running points were stopped");
  } catch (const YAML::Exception& e) {  // a loader that missed a shape check: the input's fault
    return Fail(e.what(), kExitInvalidInput);
  } catch (const std::filesystem::filesystem_error& e) {
    if (IsOutputFailure(e)) {
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
