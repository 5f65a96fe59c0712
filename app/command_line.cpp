#include "app/command_line.h"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cctype>
#include <deque>

#include "devices/device_config.h"
#include "model/error.h"
#include "model/text.h"

#ifndef NPUSIM_VERSION
#define NPUSIM_VERSION "unknown"
#endif
#ifndef NPUSIM_GIT
#define NPUSIM_GIT "unknown"
#endif

namespace npusim {

namespace {

const std::vector<OptionSpec>& CommonOptions() {
  static const std::vector<OptionSpec> k = {
      {"--quiet", "", "results only in the output files: nothing on stdout, logs from warnings up"},
      {"--log-level", "LEVEL",
       "logs on stderr from this level: trace, debug, info (default), warn, error, off"},
      {"--cache", "DIR",
       "remember simulated kernel profiles in DIR (default $XDG_CACHE_HOME/npusim/kernels, or "
       "NPUSIM_KERNEL_CACHE)"},
      {"--no-cache", "", "simulate every kernel afresh and remember none on disk"},
  };
  return k;
}

const OptionSpec kSet{
    "--set", "KEY=VALUE",
    "override one key of the run config (repeatable; `npusim keys run` lists them)", true};

CommandSpec RunCommand() {
  return {"run",
          "[RUN.yaml]",
          "serve a model under a load (default configs/runs/quickstart.yaml)",
          "Simulates a serving run: the model's forwards step by step under the load of the run "
          "config, each kernel timed on "
          "the simulated device. Writes metrics.json, config.resolved.yaml, requests.csv, "
          "kernel_calls.csv, trace.json, report.md and report.html.",
          {kSet,
           {"--out", "DIR", "output folder (default reports/out/<config name>)"},
           {"--result-jsonl", "FILE",
            "append the run's bench_serving result line to FILE (as bench_serving --output-file "
            "does)"},
           {"--no-charts", "",
            "report.html without its charts (each says why): no gnuplot, most of a short run's "
            "wall time; capacity probes run this way"}}};
}

CommandSpec CapacityCommand() {
  return {
      "capacity",
      "RUN.yaml",
      "the highest load that meets the SLOs, or where memory binds",
      "HBM limits, then serving runs at rising concurrency (and request rate) until the p99 TTFT "
      "/ TPOT objectives "
      "(slo_ttft_p99_ms, slo_tpot_p99_ms) or memory bind; --try compares knobs, one search per "
      "combination.",
      {kSet,
       {"--try", "KEY=V1,V2",
        "compare values of a run-config key: every combination of the --try keys is searched "
        "(repeatable)",
        true},
       {"--out", "DIR", "output folder (default reports/out/capacity-<config name>)"},
       {"--point-timeout", "SECONDS",
        "wall-time limit of each probe run (default 7200, 0 = none); a probe past it is killed"}}};
}

CommandSpec ExploreCommand() {
  return {
      "explore",
      "EXPLORE.yaml",
      "one kernel over a grid of its parameters and device parameters",
      "Which points of the grid fit (or which buffer overflows by how many bits), their time and "
      "bound, the fastest "
      "point and the Pareto front of time against UB use.",
      {{"--out", "DIR", "output folder (default reports/out/explore-<config name>)"}}};
}

CommandSpec SweepCommand() {
  return {
      "sweep",
      "SWEEP.yaml",
      "a grid over a run config's or a kernel's keys, one process per point",
      "Runs every point of the grid (or of one shard of it) as its own npusim process and writes "
      "one table. An interrupted sweep keeps its finished points in DIR.partial; the same command "
      "resumes from them (and from DIR of a finished run of the same grid), skipping every point "
      "that ran to its end.",
      {{"--shard", "I/N", "run point i when i mod N = I - 1 (default 1/1)"},
       {"-j,--jobs", "N", "points at a time (default 1)"},
       {"--point-timeout", "SECONDS",
        "wall-time limit of each point (default 7200, 0 = none); a point past it is killed, exit "
        "124"},
       {"--out", "DIR", "output folder (default reports/out/sweep-<config name>[-IofN])"}}};
}

CommandSpec MergeCommand() {
  return {"merge",
          "DIR...",
          "join the outputs of sweep shards into one table",
          "Joins shard outputs; missing or duplicate points are listed and make the exit code 2.",
          {{"--out", "DIR", "output folder (default reports/out/sweep-merged)"}}};
}

CommandSpec KernelCommand() {
  return {"kernel",
          "NAME",
          "one kernel on one device: numbers, time, buffers, pipe timeline",
          "Runs a kernel functionally and with timing (timing-only above 2e9 multiply-accumulates "
          "unless --functional). "
          "`npusim kernel --list` lists the kernels; `npusim kernel NAME --help` lists a kernel's "
          "parameters and tensors.",
          {{"--list", "", "list every kernel with its parameters"},
           {"--device", "SOC|FILE",
            "device: a name under configs/devices or a YAML file (default Ascend910B3)"},
           {"--set", "PARAM=VALUE", "set a kernel parameter (repeatable)", true},
           {"--inputs", "DIR", "read <tensor>.npy for every input from DIR"},
           {"--out", "DIR", "output folder (default: nothing written)"},
           {"--trace-limit", "N",
            "instruction slices kept in trace.json (default 500000); a cut trace says so on stderr "
            "and in the file"},
           {"--seed", "N", "seed of the generated inputs (default 0)"},
           {"--timing-only", "", "time the kernel without computing its numbers"},
           {"--functional", "", "compute the numbers whatever the size"},
           {"--simulate", "",
            "simulate every launch in full, also those an op would time from smaller probes"},
           {"--functional-limit-mb", "N",
            "host memory a functional run may take: tensors, input snapshot, fp64 reference and "
            "copies (default 1024)"}}};
}

CommandSpec CalibrateCommand() {
  return {
      "calibrate",
      "[DIR]",
      "the calibration corpus simulated against its measurements",
      "Simulates every row of the corpus (default configs/calibration) and compares it with its "
      "measurement; --fit first "
      "fits fit.yaml's constants on their fit rows and writes them into the device / host YAMLs "
      "(not when a value ends at a "
      "bound); --record keeps the results for every run's fidelity section. --add-bench-serving "
      "and --add-msprof turn a real "
      "measurement into corpus rows.",
      {{"--fit", "", "fit the declared constants on their fit rows first"},
       {"--no-write", "", "with --fit: report the fitted values without writing them"},
       {"--record", "", "write the results into DIR/state.json"},
       {"--only", "ID[,ID...]", "only these rows (repeatable)", true},
       {"-j,--jobs", "N", "rows at a time (default 2)"},
       {"--out", "DIR", "output folder (default reports/out/calibrate)"},
       {"--add-bench-serving", "RESULT.jsonl",
        "a bench_serving result file to add as a serving row (with --run)"},
       {"--run", "RUN.yaml", "the run config that describes the server of --add-bench-serving"},
       {"--add-msprof", "op_summary.csv",
        "an msprof op summary to add as kernel rows (with --device)"},
       {"--device", "SOC", "the device of --add-msprof"},
       {"--id", "PREFIX", "prefix of the added rows' ids"}}};
}

CommandSpec ValidateCommand() {
  return {"validate",
          "FILE.yaml",
          "check a device, run, explore or sweep config, host profile or calibration row",
          "Reads the file as npusim would and says what it is, or names the first mistake with "
          "file:line:col.",
          {}};
}

CommandSpec ModelCommand() {
  return {
      "model",
      "CONFIG.json",
      "the architecture read from a HuggingFace config, its HBM plan and one step's time",
      "Prints the layers, shapes and parameter count of a model config, the per-rank shapes and "
      "HBM plan of a parallel "
      "plan, and with --decode-batch or --prefill-batch the device time of one step.",
      {{"--device", "SOC|FILE", "device (default Ascend910B3)"},
       {"--tp", "N", "tensor-parallel ranks (default 1)"},
       {"--dp", "N", "data-parallel groups (default 1)"},
       {"--ep", "N", "expert-parallel ranks (default 1)"},
       {"--draft-tokens", "D", "MTP draft tokens per round (0 = no MTP)"},
       {"--ssm-dtype", "T", "GDN state dtype (default: the config's)"},
       {"--quantization", "Q", "w8a8_dynamic or w4a8_dynamic"},
       {"--mem-fraction", "F", "mem_fraction_static in (0, 1] (default 0.8)"},
       {"--max-running-requests", "N", "requests the state pools are sized for (default 48)"},
       {"--decode-batch", "B", "time one decode step of B requests"},
       {"--context", "C", "with --decode-batch: context length (default 4096)"},
       {"--gdn-impl", "IMPL", "with --decode-batch: fused or triton_chain (default fused)"},
       {"--prefill-batch", "B", "time one prefill step of B requests"},
       {"--prefill-tokens", "L", "with --prefill-batch: tokens per request (default 4096)"},
       {"--prefix", "P", "with --prefill-batch: tokens already cached per request (default 0)"}}};
}

CommandSpec ImportSglangCommand() {
  return {
      "import-sglang",
      "LAUNCH [BENCH]",
      "a run config from SGLang command lines",
      "Maps each argument of a `python -m sglang.launch_server ...` line (and optionally a "
      "`python -m "
      "sglang.bench_serving ...` line, each one quoted argument) to run-config keys, lists the "
      "ones that change nothing, "
      "refuses the ones not modelled by name, and lists what the lines do not say. Writes stdout "
      "without -o.",
      {{"-o,--output", "RUN.yaml", "write the run config here"},
       {"--device", "SOC", "device of the server (default Ascend910_9392)"},
       {"--weights", "Q", "w8a8_dynamic or w4a8_dynamic for a modelslim checkpoint"},
       {"--model", "CONFIG.json",
        "the model's config.json when the checkpoint folder is not on this machine"},
       {"--draft-model", "CONFIG.json", "the draft model's config.json, likewise"}}};
}

CommandSpec CompareCommand() {
  return {
      "compare",
      "A B",
      "two serving results side by side: bench_serving's fields with their deltas",
      "Each of A and B is a run folder, a metrics.json, or a JSONL file of bench_serving result "
      "lines (its last line, or "
      "line N as FILE:N): two npusim runs, or an npusim run against a real `python -m "
      "sglang.bench_serving --output-file` "
      "result.",
      {}};
}

CommandSpec KeysCommand() {
  return {"keys",
          "run|device|host",
          "every key of a run config, device config or host profile",
          "Lists every key with its type, unit, default, range and meaning, from the same "
          "declarations that read the files.",
          {}};
}

// In the order `npusim --help` lists them.
std::vector<CommandSpec> Declare() {
  return {RunCommand(),   CapacityCommand(),     ExploreCommand(),   SweepCommand(),
          MergeCommand(), KernelCommand(),       CalibrateCommand(), ValidateCommand(),
          ModelCommand(), ImportSglangCommand(), CompareCommand(),   KeysCommand()};
}

std::vector<std::string> Split(const std::string& names) {
  std::vector<std::string> out(1);
  for (char c : names) {
    if (c == ',')
      out.emplace_back();
    else
      out.back() += c;
  }
  return out;
}

std::string LongName(const std::string& names) { return Split(names).back(); }

// "--name" or "-n...": a word that names an option ("-1" is a number, "-" or "--" are not).
bool IsOptionWord(const std::string& w) {
  const size_t first = w.size() > 1 && w[1] == '-' ? 2 : 1;
  return w.size() > first && w[0] == '-' && std::isalpha(static_cast<unsigned char>(w[first]));
}

std::vector<OptionSpec> AllOptions(const CommandSpec& spec) {
  std::vector<OptionSpec> all = spec.options;
  all.insert(all.end(), CommonOptions().begin(), CommonOptions().end());
  return all;
}

// An option-like word that no declaration knows: named with the nearest declared option before
// CLI11 sees it (CLI11 would only say "not expected"). A word right after an option that takes a
// value is that value, whatever it looks like; "-1" is a number, not an option.
void RejectUnknown(const std::vector<std::string>& argv, const std::vector<OptionSpec>& all) {
  std::vector<std::string> takes_value, flags = {"-h", "--help"};
  for (const OptionSpec& o : all)
    for (const std::string& n : Split(o.names))
      (o.value.empty() ? flags : takes_value).push_back(n);
  std::vector<std::string> known = flags;
  known.insert(known.end(), takes_value.begin(), takes_value.end());
  for (size_t i = 0; i < argv.size(); ++i) {
    const std::string& w = argv[i];
    if (w == "--") return;
    if (!IsOptionWord(w)) continue;
    std::string name = w.substr(0, w.find('='));
    const bool attached = name.size() < w.size();
    if (name.size() > 2 && name[1] != '-') name = name.substr(0, 2);  // -j2
    if (std::find(known.begin(), known.end(), name) == known.end())
      throw InputError("unknown option '" + name + "'" + NearestHint(name, known));
    // CLI11 would read "--flag=N" as a count (and throw std::out_of_range past int64).
    if (attached && std::find(flags.begin(), flags.end(), name) != flags.end())
      throw InputError("option " + name + " takes no value");
    if (attached || name != w ||
        std::find(takes_value.begin(), takes_value.end(), name) == takes_value.end())
      continue;
    if (i + 1 >= argv.size()) throw InputError("option " + name + " needs a value");
    const std::string& next = argv[++i];
    if (IsOptionWord(next))
      throw InputError("option " + name + " needs a value, got the option '" + next + "' (write " +
                       name + "=" + next + " if that is the value)");
  }
}

std::string OptionLine(const OptionSpec& o) {
  std::string left;
  for (const std::string& n : Split(o.names)) left += (left.empty() ? "" : ", ") + n;
  if (!o.value.empty()) left += " " + o.value;
  if (left.size() < 28)
    left.resize(28, ' ');
  else
    left += "\n" + std::string(30, ' ');
  return "  " + left + o.help + "\n";
}

}  // namespace

const std::vector<CommandSpec>& Commands() {
  static const std::vector<CommandSpec> k = Declare();
  return k;
}

const CommandSpec& Command(const std::string& name) {
  std::vector<std::string> names;
  for (const CommandSpec& c : Commands()) {
    if (c.name == name) return c;
    names.push_back(c.name);
  }
  throw InputError("unknown command '" + name + "'" + NearestHint(name, names) +
                   " (npusim --help lists them)");
}

Args ParseCommand(const CommandSpec& spec, const std::vector<std::string>& argv, bool own_help) {
  const std::vector<OptionSpec> all = AllOptions(spec);
  RejectUnknown(argv, all);
  CLI::App app{spec.description, "npusim " + spec.name};
  app.set_help_flag();
  bool help = false;
  app.add_flag("-h,--help", help);
  std::vector<std::string> positional;
  app.add_option("positional", positional)->allow_extra_args(true);
  std::deque<std::vector<std::string>> values(all.size());
  std::deque<int64_t> counts(all.size(), 0);
  for (size_t i = 0; i < all.size(); ++i) {
    if (all[i].value.empty()) {
      app.add_flag(all[i].names, counts[i]);
      continue;
    }
    // One value per occurrence (a vector option would otherwise swallow the words after it).
    app.add_option(all[i].names, values[i])
        ->expected(1)
        ->allow_extra_args(false)
        ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  }
  std::vector<std::string> reversed(argv.rbegin(),
                                    argv.rend());  // CLI11 takes the words last first
  try {
    app.parse(reversed);
  } catch (const CLI::ParseError& e) {
    throw InputError("npusim " + spec.name + ": " + e.what() + " (npusim " + spec.name +
                     " --help)");
  } catch (const std::exception&
               e) {  // a conversion inside CLI11 (found by fuzz/cli_fuzz): still the words' fault
    throw InputError("npusim " + spec.name + ": cannot read the options (" + e.what() +
                     "); npusim " + spec.name + " --help");
  }
  if (help && !own_help) throw HelpRequested(CommandHelp(spec));
  Args a;
  a.positional = positional;
  if (help) a.flags.push_back("--help");
  for (size_t i = 0; i < all.size(); ++i) {
    const std::string key = LongName(all[i].names);
    if (all[i].value.empty()) {
      if (counts[i] > 0) a.flags.push_back(key);
      continue;
    }
    if (!all[i].repeat && values[i].size() > 1)
      throw InputError(key + " given " + std::to_string(values[i].size()) +
                       " times; it takes one value");
    for (const std::string& v : values[i]) a.options.emplace_back(key, v);
  }
  return a;
}

std::string CommandHelp(const CommandSpec& spec) {
  std::string s = "usage: npusim " + spec.name +
                  (spec.positionals.empty() ? "" : " " + spec.positionals) + " [options]\n\n";
  s += spec.description + "\n\noptions:\n";
  for (const OptionSpec& o : spec.options) s += OptionLine(o);
  for (const OptionSpec& o : CommonOptions()) s += OptionLine(o);
  s += OptionLine({"-h,--help", "", "this help"});
  s += "\nexit codes: 0 ok, 2 invalid input, 3 the simulated system failed (overflow, deadlock, "
       "race, out of memory, ...),\n            4 an output could not be written completely (the "
       "output folder is left as it was)\n";
  return s;
}

std::string TopLevelHelp() {
  std::string s =
      "npusim — Ascend-like NPU simulator\n\nusage: npusim COMMAND [ARGS] [options]\n\ncommands:\n";
  for (const CommandSpec& c : Commands()) {
    std::string left = c.name + " " + c.positionals;
    if (left.size() < 30)
      left.resize(30, ' ');
    else
      left += "\n" + std::string(32, ' ');
    s += "  " + left + c.summary + "\n";
  }
  s += "\n`npusim COMMAND --help` lists a command's options; `npusim --version` the build.\n"
       "Results go to stdout (none with --quiet), logs and progress to stderr.\n"
       "exit codes: 0 ok, 2 invalid input, 3 the simulated system failed (overflow, deadlock, "
       "race, out of memory, ...),\n            4 an output could not be written completely (the "
       "output folder is left as it was)\n";
  return s;
}

std::string VersionText() {
  return std::string("npusim ") + NPUSIM_VERSION + " (git " + NPUSIM_GIT +
         ")\nconfigs: " + ConfigDir() + "\n";
}

}  // namespace npusim
