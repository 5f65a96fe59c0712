// `npusim calibrate [DIR] [--fit [--no-write]] [--record] [--only ID[,ID...]]... [-j N] [--out
// DIR]` (and the importers --add-bench-serving RESULT.jsonl --run RUN.yaml, --add-msprof CSV
// --device SOC, which add rows to DIR): every row of the calibration corpus simulated as its own
// npusim process (`kernel` or `run`), N at a time, compared with its measurement; --fit first fits
// each group of fit.yaml on its fit rows (Nelder-Mead on the mean squared log error, from the
// group's declared start, inside its bounds) and writes the values into the device / host YAMLs
// unless a value ends at a bound;
// --record keeps the results in DIR/state.json, which every run's fidelity section reads.
#include "app/calibrate.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <tuple>

#include "app/cli_util.h"
#include "app/command_line.h"
#include "devices/device_config.h"
#include "model/config.h"
#include "model/error.h"
#include "model/text.h"
#include "reports/calibration_report.h"
#include "workloads/calibration.h"
#include "workloads/host_profile.h"
#include "workloads/run_config.h"
#include "workloads/step_cost.h"

namespace npusim {

namespace {

namespace fs = std::filesystem;

// Profiles replaced for one evaluation: SoC or host-profile name -> YAML path.
struct Overrides {
  std::map<std::string, std::string> device, host;
};

std::string DevicePath(const std::string& soc, const Overrides& o) {
  auto it = o.device.find(soc);
  return it == o.device.end() ? soc : it->second;
}

double HostLaunchUs(const std::string& host, const Overrides& o) {
  auto it = o.host.find(host);
  return LoadHostProfile(it == o.host.end() ? host : it->second).launch_us;
}

// The npusim arguments that simulate a row (without --out).
std::vector<std::string> RowCommand(const CalibrationRow& r, const Overrides& o) {
  std::vector<std::string> a;
  if (r.kind == "kernel") {
    a = {"kernel", r.kernel, "--device", DevicePath(r.device, o), "--timing-only"};
    for (const auto& [k, v] : r.params) a.insert(a.end(), {"--set", k + "=" + v});
    return a;
  }
  a = {"run", r.run};
  for (const auto& [k, v] : r.sets) a.insert(a.end(), {"--set", k + "=" + v});
  const RunConfig rc = LoadRunConfig(r.run, r.sets);
  const DeviceConfig d = LoadDevice(rc.device);
  if (o.device.count(d.soc)) a.insert(a.end(), {"--set", "device=" + o.device.at(d.soc)});
  const HostProfile h = rc.Host();
  if (o.host.count(h.name)) a.insert(a.end(), {"--set", "host_profile=" + o.host.at(h.name)});
  return a;
}

std::string Join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : " ") + x;
  return s;
}

// Runs `rows` (and the rows their ratios need) under `o`; results in the order of `rows`.
std::vector<PointResult> RunRows(const Corpus& c, const std::vector<const CalibrationRow*>& rows,
                                 const Overrides& o, int64_t jobs, const std::string& work,
                                 bool progress) {
  std::vector<std::vector<std::string>> commands;  // distinct commands
  std::map<std::string, size_t> index;
  std::map<std::string, size_t> of_row;
  std::map<std::string, std::string> setup_errors;  // rows whose run config or device does not load
  for (const CalibrationRow* r : rows) {
    if (r->status != "ok" || r->kind == "ratio") continue;
    std::vector<std::string> cmd;
    try {
      cmd = RowCommand(*r, o);
    } catch (const InputError& e) {
      setup_errors[r->id] = e.what();
      continue;
    }
    auto [it, fresh] = index.emplace(Join(cmd), commands.size());
    if (fresh) commands.push_back(cmd);
    of_row[r->id] = it->second;
  }
  std::optional<EtaProgress> eta;
  if (progress) eta.emplace("calibration points", static_cast<int64_t>(commands.size()));
  auto dir = [&](size_t i) { return work + "/" + std::to_string(i); };
  int64_t finished = 0;
  const std::vector<int> codes = RunChildren(commands, dir, jobs, [&](size_t, int) {
    if (eta) eta->Done(++finished);
  });
  std::map<std::string, PointResult> by_id;
  for (const CalibrationRow* r : rows) {
    PointResult p;
    p.id = r->id;
    if (r->status != "ok") {
      p.status = r->status;
    } else if (setup_errors.count(r->id)) {
      p.status = "failed";
      p.message = setup_errors[r->id];
    } else if (r->kind != "ratio") {
      const size_t i = of_row.at(r->id);
      p = ReadCalibrationPoint(*r, dir(i), codes[i],
                               r->host_launches ? HostLaunchUs(r->host, o) : 0);
    }
    by_id[r->id] = p;
  }
  std::vector<PointResult> out;
  for (const CalibrationRow* r : rows) {
    PointResult p = by_id[r->id];
    if (r->kind == "ratio" && r->status == "ok") {
      auto num = by_id.find(r->numerator), den = by_id.find(r->denominator);
      if (num == by_id.end() || den == by_id.end() || num->second.status != "ok" ||
          den->second.status != "ok") {
        p.status = "failed";
        p.message = "needs rows " + r->numerator + " and " + r->denominator + " simulated";
      } else {
        p.simulated = num->second.simulated / den->second.simulated;
        p.error = RelativeError(p.simulated, r->measured, r->measured_kind);
        p.pass = std::fabs(p.error) <= r->tolerance;
      }
    }
    out.push_back(p);
  }
  return out;
}

// What a row runs: the model file and device of a run row, the kernel and device of a kernel row.
RowSubject Subject(const CalibrationRow& r) {
  RowSubject s;
  try {
    if (r.kind == "kernel") {
      s.op = r.kernel;
      s.device = r.device;
    } else if (r.kind == "run") {
      const RunConfig rc = LoadRunConfig(r.run, r.sets);
      s.model = fs::path(rc.ModelPath()).filename().string();
      s.device = LoadDevice(rc.device).soc;
    }
  } catch (const InputError&) {  // a row that needs a feature may not load yet
  }
  return s;
}

// The rows `ids` name plus the rows their ratios divide.
std::vector<const CalibrationRow*> Select(const Corpus& c, const std::set<std::string>& ids) {
  std::set<std::string> want = ids;
  for (const std::string& id : ids)
    if (const CalibrationRow* r = c.Find(id); r && r->kind == "ratio")
      want.insert({r->numerator, r->denominator});
  std::vector<const CalibrationRow*> rows;
  for (const auto& r : c.rows)
    if (ids.empty() || want.count(r.id)) rows.push_back(&r);
  return rows;
}

double CurrentValue(const std::string& file, const std::string& key) {
  const std::string v = YamlValue(Slurp(file), key);
  char* end = nullptr;
  const double x = std::strtod(v.c_str(), &end);
  if (v.empty() || *end)
    throw InputError(file + ": no number at key '" + key + "' (named by fit.yaml)");
  return x;
}

bool IsDeviceTarget(const FitConstant& k) { return k.target.rfind("device:", 0) == 0; }

std::string ValueText(const FitConstant& k, double v) {
  // Integer parameters stay integers (the binder rejects 12.5 cycles): a device key that refuses
  // a fraction is an integer one.
  bool integer = false;
  if (IsDeviceTarget(k)) {
    DeviceConfig probe;
    ParamSetter setter(k.key, "0.5");
    try {
      probe.Bind(setter);
    } catch (const InputError&) {
      integer = true;
    }
  }
  if (integer) return std::to_string(std::llround(v));
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.4g",
                v);  // four significant digits, written without an exponent
  return FormatNumber(std::stod(buf));
}

// Fits one group; writes its values unless one ends at a bound or `write` is false.
std::vector<FitOutcome> FitGroupOnRows(const Corpus& c, const FitGroup& g, int64_t jobs,
                                       const std::string& work, bool write) {
  std::vector<const CalibrationRow*> rows;
  for (const auto& id : g.rows) rows.push_back(c.Find(id));
  std::map<std::string, std::string> originals;  // file -> text
  std::set<std::string> device_files;
  for (const auto& k : g.constants)
    for (const auto& f : TargetFiles(k)) {
      originals[f] = Slurp(f);
      if (IsDeviceTarget(k)) device_files.insert(f);
    }
  for (const auto& [f, text] : originals)
    if (text.empty()) throw InputError("fit group '" + g.name + "': cannot read " + f);
  std::vector<double> lo, hi, start;
  for (const auto& k : g.constants)
    lo.push_back(k.lo), hi.push_back(k.hi), start.push_back(k.start);
  auto texts_at = [&](const std::vector<double>& x, bool final) {
    std::map<std::string, std::string> texts = originals;
    for (size_t i = 0; i < g.constants.size(); ++i)
      for (const auto& f : TargetFiles(g.constants[i])) {
        const std::string comment = final ? std::string(kFittedMarker) + " (group " + g.name +
                                                ") on " + JoinIds(g.rows) + "; bounds [" +
                                                FormatNumber(g.constants[i].lo) + ", " +
                                                FormatNumber(g.constants[i].hi) + "]"
                                          : "";
        texts[f] =
            SetYamlScalar(texts[f], g.constants[i].key, ValueText(g.constants[i], x[i]), comment);
      }
    return texts;
  };
  int eval = 0;
  std::map<std::vector<double>, std::string>
      failures;  // evaluation point -> rows that did not simulate
  auto loss = [&](const std::vector<double>& x) {
    const std::string dir = work + "/" + g.name + "/" + std::to_string(eval++);
    fs::create_directories(dir + "/points");
    Overrides o;
    for (const auto& [f, text] : texts_at(x, false)) {
      const std::string copy = dir + "/" + fs::path(f).filename().string();
      WriteFileOrThrow(copy, text);
      if (device_files.count(f))
        o.device[LoadDeviceFile(copy).soc] = fs::absolute(copy).string();
      else
        o.host[LoadHostProfile(copy).name] = fs::absolute(copy).string();
    }
    double sum = 0;
    std::string failed;
    for (const PointResult& p : RunRows(c, rows, o, jobs, dir + "/points", false)) {
      const double e = p.status == "ok" ? std::log(1 + p.error) : 10;  // a failing point is far off
      if (p.status != "ok")
        failed += (failed.empty() ? "" : ", ") + p.id + " (" + p.message.substr(0, 200) + ")";
      sum += e * e;
    }
    failures[x] = failed;
    // The evaluation's YAMLs stay (what was tried); its points' outputs go once read: a fit's ~60
    // evaluations kept ~2 GB of kernel traces.
    std::error_code ec;
    fs::remove_all(dir + "/points", ec);
    const double l = sum / static_cast<double>(rows.size());
    std::string xs;
    for (double v : x) xs += " " + FormatNumber(v);
    spdlog::info("fit {}: evaluation {} at{}: rms log error {:.4f}", g.name, eval, xs,
                 std::sqrt(l));
    return l;
  };
  const FitResult r = NelderMead(loss, start, lo, hi, 60, 1e-4);
  std::vector<FitOutcome> out;
  bool any_bound = false;
  for (size_t i = 0; i < g.constants.size(); ++i) {
    FitOutcome f;
    f.group = g.name;
    f.target = g.constants[i].target;
    f.key = g.constants[i].key;
    f.before = CurrentValue(TargetFiles(g.constants[i]).front(), f.key);
    f.value = std::stod(ValueText(g.constants[i], r.x[i]));
    f.lo = lo[i], f.hi = hi[i];
    f.at_bound = AtBound(r.x[i], lo[i], hi[i]);
    f.failed_rows = failures[r.x];
    any_bound |= f.at_bound || !f.failed_rows.empty();
    f.rows = g.rows;
    f.rms_log_error = std::sqrt(r.value);
    f.evals = r.evals;
    out.push_back(f);
  }
  if (write && !any_bound)
    for (const auto& [f, text] : texts_at(r.x, true)) {
      const std::string tmp = f + ".tmp";
      std::ofstream(tmp) << text;
      fs::rename(tmp, f);
    }
  return out;
}

// One CSV record's fields ("a,\"b,c\",d" -> a | b,c | d).
std::vector<std::string> CsvFields(const std::string& line) {
  std::vector<std::string> out(1);
  bool quoted = false;
  for (size_t i = 0; i < line.size(); ++i) {
    const char ch = line[i];
    if (ch == '"') {
      if (quoted && i + 1 < line.size() && line[i + 1] == '"')
        out.back() += '"', ++i;
      else
        quoted = !quoted;
    } else if (ch == ',' && !quoted) {
      out.emplace_back();
    } else if (ch != '\r') {
      out.back() += ch;
    }
  }
  for (auto& f : out) {
    const size_t a = f.find_first_not_of(' '), b = f.find_last_not_of(' ');
    f = a == std::string::npos ? "" : f.substr(a, b - a + 1);
  }
  return out;
}

std::string Slug(std::string s) {
  for (char& ch : s)
    if (!std::isalnum(static_cast<unsigned char>(ch)) && ch != '-' && ch != '_') ch = '-';
  return s;
}

void WriteRow(const std::string& dir, const CalibrationRow& r, const Corpus& existing) {
  if (existing.Find(r.id))
    throw InputError("row '" + r.id + "' already exists in " + dir +
                     " (use --id to name the new rows)");
  const std::string path = dir + "/" + Slug(r.id) + ".yaml";
  std::ofstream(path) << RowYaml(r);
  ReadRowCheck(path);
  std::cout << "added " << r.id << " (" << path << ")\n";
}

// `--add-bench-serving RESULT.jsonl --run RUN.yaml`: a row per figure (mean TTFT, mean TPOT,
// output throughput) of every result line, the run config's load replaced by the line's.
int AddBenchServing(const std::string& dir, const std::string& file, const std::string& run,
                    const std::string& prefix) {
  if (run.empty())
    throw InputError(
        "--add-bench-serving needs --run RUN.yaml: the run config that describes the measured "
        "server");
  LoadRunConfig(run);  // a bad run config is reported now, not at calibration time
  std::ifstream in(file);
  if (!in) throw InputError("--add-bench-serving: cannot read " + file);
  const Corpus existing = LoadCorpus(dir);
  const std::string run_abs = fs::absolute(run).lexically_normal().string();
  std::string line;
  int n = 0, added = 0;
  while (std::getline(in, line)) {
    ++n;
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(line);
    } catch (const std::exception& e) {
      throw InputError(file + ":" + std::to_string(n) + ": not a JSON object (" + e.what() + ")");
    }
    if (!j.is_object()) throw InputError(file + ":" + std::to_string(n) + ": not a JSON object");
    KeyValues sets;
    auto num = [&](const char* k) { return j.contains(k) && j[k].is_number(); };
    const std::string dataset = j.value("dataset_name", "random");
    if (num("random_input_len"))
      sets.push_back({"random_input_len", std::to_string(j["random_input_len"].get<int64_t>())});
    if (num("random_output_len"))
      sets.push_back({"random_output_len", std::to_string(j["random_output_len"].get<int64_t>())});
    if (num("random_range_ratio"))
      sets.push_back({"random_range_ratio", FormatNumber(j["random_range_ratio"].get<double>())});
    if (num("completed"))
      sets.push_back({"num_prompts", std::to_string(j["completed"].get<int64_t>())});
    if (num("max_concurrency"))
      sets.push_back({"max_concurrency", std::to_string(j["max_concurrency"].get<int64_t>())});
    if (num("request_rate"))
      sets.push_back({"request_rate", FormatNumber(j["request_rate"].get<double>())});
    else if (j.contains("request_rate") && j["request_rate"].is_string())
      sets.push_back({"request_rate", j["request_rate"].get<std::string>()});
    const std::string id = (prefix.empty() ? "bench-" + fs::path(file).stem().string() : prefix) +
                           "-" + std::to_string(n);
    for (const auto& [key, metric, what] :
         std::vector<std::tuple<const char*, const char*, const char*>>{
             {"mean_ttft_ms", "mean_ttft_ms", "ttft"},
             {"mean_tpot_ms", "mean_tpot_ms", "tpot"},
             {"output_throughput", "output_throughput", "tput"}}) {
      if (!num(key) || j[key].get<double>() <= 0) continue;
      CalibrationRow r;
      r.id = id + "-" + what;
      r.source = "bench_serving result " + fs::path(file).filename().string() + " line " +
                 std::to_string(n);
      r.note =
          "imported by npusim calibrate --add-bench-serving; the server is described by the run "
          "config";
      r.role = "check";
      r.tolerance = 0.2;
      if (dataset != "random") r.status = "needs the '" + dataset + "' load of bench_serving";
      r.kind = "run";
      r.run = run_abs;
      r.sets = sets;
      r.metric = metric;
      r.measured = j[key].get<double>();
      r.family = "imported";
      WriteRow(dir, r, existing);
      ++added;
    }
  }
  if (added == 0)
    throw InputError(file + ": no line has mean_ttft_ms, mean_tpot_ms or output_throughput");
  return 0;
}

// `--add-msprof op_summary.csv --device SOC`: a kernel row per distinct mapped (OP Type, Input
// Shapes), measured = the mean Task Duration of its launches; unmapped ops are listed.
int AddMsprof(const std::string& dir, const std::string& file, const std::string& device,
              const std::string& prefix) {
  if (device.empty())
    throw InputError("--add-msprof needs --device SOC: the chip the op summary was taken on");
  LoadDevice(device);
  std::ifstream in(file);
  if (!in) throw InputError("--add-msprof: cannot read " + file);
  std::string line;
  if (!std::getline(in, line)) throw InputError(file + ": empty");
  const std::vector<std::string> head = CsvFields(line);
  auto col = [&](const std::string& name) -> size_t {
    for (size_t i = 0; i < head.size(); ++i)
      if (head[i] == name) return i;
    throw InputError(file + ":1: no column '" + name + "'" + NearestHint(name, head));
  };
  const size_t c_type = col("OP Type"), c_shapes = col("Input Shapes"),
               c_dur = col("Task Duration(us)");
  size_t c_dtypes = head.size();
  for (size_t i = 0; i < head.size(); ++i)
    if (head[i] == "Input Data Types") c_dtypes = i;
  struct Acc {
    std::string kernel;
    KeyValues params;
    double sum = 0;
    int count = 0;
    int first_line = 0;
  };
  std::map<std::string, Acc> ops;  // "type|shapes" -> launches
  std::map<std::string, std::pair<int, std::string>> unmapped;
  int n = 1;
  while (std::getline(in, line)) {
    ++n;
    if (line.find_first_not_of(" \r") == std::string::npos) continue;
    const std::vector<std::string> f = CsvFields(line);
    if (f.size() <= std::max({c_type, c_shapes, c_dur}))
      throw InputError(file + ":" + std::to_string(n) + ": fewer columns than the header");
    const std::string type = f[c_type], shapes = f[c_shapes],
                      dtypes = c_dtypes < f.size() ? f[c_dtypes] : "";
    char* end = nullptr;
    const double dur = std::strtod(f[c_dur].c_str(), &end);
    if (end == f[c_dur].c_str() || !(dur > 0))
      throw InputError(file + ":" + std::to_string(n) + ": Task Duration(us) '" + f[c_dur] +
                       "' is not a positive number");
    std::string kernel, why;
    KeyValues params;
    if (!MapMsprofOp(type, shapes, dtypes, kernel, params, why)) {
      auto& u = unmapped[type];
      if (u.first++ == 0) u.second = why;
      continue;
    }
    Acc& a = ops[type + "|" + shapes];
    if (a.count == 0) a.kernel = kernel, a.params = params, a.first_line = n;
    a.sum += dur;
    ++a.count;
  }
  const Corpus existing = LoadCorpus(dir);
  const std::string base = prefix.empty() ? "msprof-" + fs::path(file).stem().string() : prefix;
  for (const auto& [key, a] : ops) {
    CalibrationRow r;
    r.id = base + "-line" + std::to_string(a.first_line) + "-" + a.kernel;
    r.source = "msprof op_summary " + fs::path(file).filename().string() + " (" +
               key.substr(0, key.find('|')) + ", first at line " + std::to_string(a.first_line) +
               ")";
    r.note = "imported by npusim calibrate --add-msprof: mean Task Duration of " +
             std::to_string(a.count) + " launches";
    r.role = "check";
    r.tolerance = 0.25;
    r.kind = "kernel";
    r.kernel = a.kernel;
    r.device = device;
    r.params = a.params;
    r.metric = "time_us";
    r.measured = a.sum / a.count;
    r.family = "imported";
    WriteRow(dir, r, existing);
  }
  for (const auto& [type, u] : unmapped)
    std::cout << "unmapped " << type << " (" << u.first << " launches): " << u.second << "\n";
  if (ops.empty()) throw InputError(file + ": no op maps to a kernel of the set");
  return 0;
}

}  // namespace

// NPUSIM_KERNEL_WORKERS for this process's children when the caller left it unset: the cores
// shared among the `jobs` runs at a time (at least one worker each), so -j runs do not
// oversubscribe the machine with kernel-timer workers.
class KernelWorkersScope {
 public:
  explicit KernelWorkersScope(int64_t jobs) {
    const char* set = std::getenv("NPUSIM_KERNEL_WORKERS");
    if (set && *set) return;
    const int64_t share = std::max<int64_t>(1, MachineCores() / std::max<int64_t>(1, jobs));
    ::setenv("NPUSIM_KERNEL_WORKERS", std::to_string(share).c_str(), 1);
    mine_ = true;
  }
  ~KernelWorkersScope() {
    if (mine_) ::unsetenv("NPUSIM_KERNEL_WORKERS");
  }
  KernelWorkersScope(const KernelWorkersScope&) = delete;
  KernelWorkersScope& operator=(const KernelWorkersScope&) = delete;

 private:
  bool mine_ = false;
};

int Calibrate(std::vector<std::string> argv) {
  Args a = ParseCommand(Command("calibrate"), argv);
  ConfigureProcess(a);
  if (a.positional.size() > 1)
    throw InputError("npusim calibrate takes one corpus directory (default configs/calibration)");
  const std::string dir = a.positional.empty() ? ConfigDir() + "/calibration" : a.positional[0];
  const int64_t jobs = JobsOption(a, 2);
  KernelWorkersScope workers(jobs);
  const std::string out = Option(a, "--out", "reports/out/calibrate");
  if (!Option(a, "--add-bench-serving", "").empty())
    return AddBenchServing(dir, Option(a, "--add-bench-serving", ""), Option(a, "--run", ""),
                           Option(a, "--id", ""));
  if (!Option(a, "--add-msprof", "").empty())
    return AddMsprof(dir, Option(a, "--add-msprof", ""), Option(a, "--device", ""),
                     Option(a, "--id", ""));
  Corpus corpus = LoadCorpus(dir);
  std::set<std::string> only;
  std::vector<std::string> all;
  for (const auto& r : corpus.rows) all.push_back(r.id);
  for (const auto& [k, v] : a.options) {
    if (k != "--only") continue;
    std::string cur;
    for (char ch : v + ",") {
      if (ch != ',') {
        cur += ch;
        continue;
      }
      if (cur.empty()) continue;
      if (!corpus.Find(cur))
        throw InputError("--only: no row '" + cur + "' in " + dir + NearestHint(cur, all));
      only.insert(cur);
      cur.clear();
    }
  }
  // The rows' child processes share the kernel cache (workloads/kernel_cache.h, on unless
  // NPUSIM_KERNEL_CACHE=off), so a fit's evaluations after the first only rerun the serving engine.
  // Everything goes into <out>.partial, moved into place once complete.
  OutputFolder folder(out);
  const std::string& partial = folder.path();
  CalibrationOutput o;
  o.corpus_dir = dir;
  if (Has(a, "--fit"))
    for (const FitGroup& g : corpus.groups) {
      bool wanted = only.empty();
      for (const auto& id : g.rows) wanted |= only.count(id) > 0;
      if (!wanted) continue;
      spdlog::info("fitting group {} ({} constants on {} rows)", g.name, g.constants.size(),
                   g.rows.size());
      for (FitOutcome& f : FitGroupOnRows(corpus, g, jobs, fs::absolute(partial).string() + "/fit",
                                          !Has(a, "--no-write"))) {
        if (f.at_bound)
          spdlog::warn("fit {}: {} {} ended at {} in [{}, {}]: a modelling gap, not written",
                       g.name, f.target, f.key, FormatNumber(f.value), FormatNumber(f.lo),
                       FormatNumber(f.hi));
        o.fits.push_back(f);
      }
    }
  const std::vector<const CalibrationRow*> rows = Select(corpus, only);
  o.results =
      RunRows(corpus, rows, Overrides{}, jobs, fs::absolute(partial).string() + "/points", true);
  o.verdict = Summarise(corpus, o.results);
  WriteCalibrationOutputs(corpus, o, partial);
  if (Has(a, "--record")) {
    std::vector<RowSubject> subjects;
    for (const CalibrationRow* r : rows) subjects.push_back(Subject(*r));
    RecordCalibrationState(corpus, o.results, subjects, dir + "/state.json");
  }
  folder.Commit();
  if (Has(a, "--quiet"))
    std::cout << o.verdict.Line() << "\n";
  else
    std::cout << CalibrationSummary(corpus, o);
  spdlog::info("written {}/", out);
  return 0;
}

}  // namespace npusim
