#include "workloads/calibration_run.h"

#include <spdlog/spdlog.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <numeric>
#include <optional>
#include <set>
#include <utility>

#include "devices/device_config.h"
#include "model/error.h"
#include "model/progress.h"
#include "model/text.h"
#include "workloads/fidelity.h"
#include "workloads/host_profile.h"
#include "workloads/run_config.h"
#include "workloads/self_runs.h"

namespace npusim {

namespace fs = std::filesystem;

namespace {

std::string DevicePath(const std::string& soc, const ProfileOverrides& o) {
  auto it = o.device.find(soc);
  return it == o.device.end() ? soc : it->second;
}

double HostLaunchUs(const std::string& host, const ProfileOverrides& o) {
  auto it = o.host.find(host);
  return LoadHostProfile(it == o.host.end() ? host : it->second).launch_us;
}

std::string Join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : " ") + x;
  return s;
}

double CurrentValue(const std::string& file, const std::string& key) {
  const std::string v = YamlValue(ReadFileText(file), key);
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

}  // namespace

PointResult ReadCalibrationPoint(const CalibrationRow& row, const std::string& point_dir,
                                 int exit_code, double host_launch_us) {
  PointResult p;
  p.id = row.id;
  std::ifstream in(point_dir + "/metrics.json");
  nlohmann::ordered_json m;
  try {
    if (in) m = nlohmann::ordered_json::parse(in);
  } catch (const std::exception&) {
  }
  if (!m.is_object()) {
    p.status = "failed";
    std::ifstream log(point_dir + "/log.txt");
    std::string line, last;
    while (std::getline(log, line))
      if (line.rfind("error", 0) == 0) last = line;
    p.message = "exit " + std::to_string(exit_code) + (last.empty() ? "" : ": " + last);
    return p;
  }
  if (m.value("status", "ok") != "ok") {
    p.status = "failed";
    p.message = m.value("status", "") + ": " + m.value("message", "");
    return p;
  }
  // bandwidth_gbps rows read the kernel's time and divide the row's bytes by it.
  const bool bandwidth = row.metric == "bandwidth_gbps";
  const std::string key = bandwidth ? "time_us" : row.metric;
  const nlohmann::ordered_json* at = &m;
  nlohmann::ordered_json stages;  // `launch: a+b`: the named stages' time_us summed
  if (!row.launch.empty()) {
    double sum = 0;
    size_t start = 0;
    while (start <= row.launch.size()) {
      const size_t plus = row.launch.find('+', start);
      const std::string want =
          row.launch.substr(start, plus == std::string::npos ? std::string::npos : plus - start);
      const nlohmann::ordered_json* hit = nullptr;
      if (m.contains("launches"))
        for (const auto& l : m["launches"]) {
          const std::string n = l.value("name", "");
          const size_t dot = n.rfind('.');
          if (n == want || (dot != std::string::npos && n.substr(dot + 1) == want)) hit = &l;
        }
      if (!hit || !hit->contains(key)) {
        p.status = "failed";
        p.message = "no launch '" + want + "' with " + key + " in " + point_dir + "/metrics.json";
        return p;
      }
      sum += (*hit)[key].get<double>();
      if (plus == std::string::npos) break;
      start = plus + 1;
    }
    stages[key] = sum;
    at = &stages;
  }
  const std::string& path = key;
  size_t start = 0;
  while (at && start <= path.size()) {
    const size_t dot = path.find('.', start);
    const std::string part =
        path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    at = at->contains(part) ? &(*at)[part] : nullptr;
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  if (!at || !at->is_number()) {
    p.status = "failed";
    p.message = "no number at '" + key + "' in " + point_dir + "/metrics.json";
    return p;
  }
  // e2e per call of a kernel called back to back in an eager loop: the host enqueues the next
  // call while the device runs this one, so a call costs the slower of the two, not their sum
  // (C4: ~106 us whatever the size up to 2048 tokens, then growing with the device time; C3's
  // 106.9 us for a 67 MB conv1d could not hold a ~106 us host floor plus >= 42 us of HBM traffic).
  p.simulated =
      std::max(at->get<double>(), static_cast<double>(row.host_launches) * host_launch_us);
  if (bandwidth) p.simulated = row.bytes / (p.simulated * 1e3);  // bytes / us / 1e3 = GB/s
  p.error = RelativeError(p.simulated, row.measured, row.measured_kind);
  p.pass = std::fabs(p.error) <= row.tolerance;
  return p;
}

// The npusim arguments that simulate a row (without --out).
std::vector<std::string> RowCommand(const CalibrationRow& r, const ProfileOverrides& o,
                                    bool charts) {
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
  if (!charts) a.push_back("--no-charts");
  return a;
}

// Runs `rows` (and the rows their ratios need) under `o`; results in the order of `rows`.
std::vector<PointResult> RunCalibrationRows(const Corpus& c,
                                            const std::vector<const CalibrationRow*>& rows,
                                            const ProfileOverrides& o, int64_t jobs,
                                            const std::string& work, bool progress, bool charts) {
  std::vector<std::vector<std::string>> commands;  // distinct commands
  std::map<std::string, size_t> index;
  std::map<std::string, size_t> of_row;
  std::map<std::string, std::string> setup_errors;  // rows whose run config or device does not load
  // The rows and the sums' inline terms (kernel rows of their own, reported through their sum).
  std::vector<const CalibrationRow*> all = rows;
  for (const CalibrationRow* r : rows)
    for (const CalibrationRow& t : r->terms) all.push_back(&t);
  for (const CalibrationRow* r : all) {
    if (r->status != "ok" || r->Derived()) continue;
    std::vector<std::string> cmd;
    try {
      cmd = RowCommand(*r, o, charts);
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
  for (const CalibrationRow* r : all) {
    PointResult p;
    p.id = r->id;
    if (r->status != "ok") {
      p.status = r->status;
    } else if (setup_errors.count(r->id)) {
      p.status = "failed";
      p.message = setup_errors[r->id];
    } else if (!r->Derived()) {
      const size_t i = of_row.at(r->id);
      p = ReadCalibrationPoint(*r, dir(i), codes[i],
                               r->host_launches ? HostLaunchUs(r->host, o) : 0);
    }
    by_id[r->id] = p;
  }
  std::vector<PointResult> out;
  for (const CalibrationRow* r : rows) {
    out.push_back(r->Derived() && r->status == "ok" ? DerivedPoint(*r, by_id) : by_id[r->id]);
  }
  return out;
}

PointResult DerivedPoint(const CalibrationRow& r, const std::map<std::string, PointResult>& by_id) {
  PointResult p;
  p.id = r.id;
  std::vector<std::string> ids = r.of, labels = r.of;  // a term: its id, and how reports name it
  for (const CalibrationRow& t : r.terms) {
    ids.push_back(t.id);
    labels.push_back(t.KernelLabel());
  }
  std::vector<double> v;
  std::string failed;  // an inline term's own failure, which names no row the user can run
  for (const std::string& id : ids)
    if (auto it = by_id.find(id); it != by_id.end() && it->second.status == "ok")
      v.push_back(it->second.simulated);
    else if (it != by_id.end() && failed.empty() && !it->second.message.empty())
      failed = id + ": " + it->second.message;
  if (v.size() != ids.size()) {
    p.status = "failed";
    p.message = failed.empty() ? "needs rows " + JoinIds(ids) + " simulated" : failed;
    return p;
  }
  p.simulated = r.kind == "ratio" ? v[0] / v[1] : std::accumulate(v.begin(), v.end(), 0.0);
  if (r.kind == "sum")
    for (size_t i = 0; i < ids.size(); ++i) p.terms.emplace_back(labels[i], v[i]);
  p.error = RelativeError(p.simulated, r.measured, r.measured_kind);
  p.pass = std::fabs(p.error) <= r.tolerance;
  return p;
}

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
      s.setup = ParallelSetup(rc);
      s.weights = WeightsName(rc.quantization);
    }
  } catch (const InputError&) {  // a row that needs a feature may not load yet
  }
  return s;
}

// The rows `ids` name plus the rows their ratios and sums are made of.
std::vector<const CalibrationRow*> SelectRows(const Corpus& c, const std::set<std::string>& ids) {
  std::set<std::string> want = ids;
  for (const std::string& id : ids)
    if (const CalibrationRow* r = c.Find(id); r && r->Derived())
      want.insert(r->of.begin(), r->of.end());
  std::vector<const CalibrationRow*> rows;
  for (const auto& r : c.rows)
    if (ids.empty() || want.count(r.id)) rows.push_back(&r);
  return rows;
}

namespace {

// One group's fit: the YAMLs its constants live in, rewritten at a candidate point, and the loss
// of a point (the group's fit rows rerun with those YAMLs).
class GroupFit {
 public:
  GroupFit(const Corpus& c, const FitGroup& g, int64_t jobs, std::string work)
      : c_(c), g_(g), jobs_(jobs), work_(std::move(work)) {
    for (const auto& id : g.rows) rows_.push_back(c.Find(id));
    for (const auto& k : g.constants)
      for (const auto& f : TargetFiles(k)) {
        originals_[f] = ReadFileText(f);
        if (IsDeviceTarget(k)) device_files_.insert(f);
      }
    for (const auto& [f, text] : originals_)
      if (text.empty()) throw InputError("fit group '" + g.name + "': cannot read " + f);
  }

  // The texts with every constant at `x`; `final` adds the fitted-by comment.
  std::map<std::string, std::string> TextsAt(const std::vector<double>& x, bool final) const {
    std::map<std::string, std::string> texts = originals_;
    for (size_t i = 0; i < g_.constants.size(); ++i) {
      const FitConstant& k = g_.constants[i];
      const std::string comment = final ? std::string(kFittedMarker) + " (group " + g_.name +
                                              ") on " + JoinIds(g_.rows) + "; bounds [" +
                                              FormatNumber(k.lo) + ", " + FormatNumber(k.hi) + "]"
                                        : "";
      for (const auto& f : TargetFiles(k))
        texts[f] = SetYamlScalar(texts[f], k.key, ValueText(k, x[i]), comment);
    }
    return texts;
  }

  // Mean squared log error of the fit rows at `x` (a row that does not simulate counts as far
  // off and is remembered for FailedAt).
  double Loss(const std::vector<double>& x) {
    const std::string dir = work_ + "/" + g_.name + "/" + std::to_string(evals_++);
    fs::create_directories(dir + "/points");
    double sum = 0;
    std::string failed;
    for (const PointResult& p :
         RunCalibrationRows(c_, rows_, WriteCandidate(x, dir), jobs_, dir + "/points", false,
                            /*charts=*/false)) {
      const double e = p.status == "ok" ? std::log(1 + p.error) : 10;
      if (p.status != "ok")
        failed += (failed.empty() ? "" : ", ") + p.id + " (" + p.message.substr(0, 200) + ")";
      sum += e * e;
    }
    failures_[x] = failed;
    // The evaluation's YAMLs stay (what was tried); its points' outputs go once read: a fit's ~60
    // evaluations kept ~2 GB of kernel traces.
    std::error_code ec;
    fs::remove_all(dir + "/points", ec);
    const double l = sum / static_cast<double>(rows_.size());
    std::string xs;
    for (double v : x) xs += " " + FormatNumber(v);
    spdlog::info("fit {}: evaluation {} at{}: rms log error {:.4f}", g_.name, evals_, xs,
                 std::sqrt(l));
    return l;
  }

  const std::string& FailedAt(const std::vector<double>& x) { return failures_[x]; }

 private:
  // The candidate YAMLs written into `dir`, named by SoC / profile for the rows' commands.
  ProfileOverrides WriteCandidate(const std::vector<double>& x, const std::string& dir) const {
    ProfileOverrides o;
    for (const auto& [f, text] : TextsAt(x, false)) {
      const std::string copy = dir + "/" + fs::path(f).filename().string();
      WriteFileOrThrow(copy, text);
      if (device_files_.count(f))
        o.device[LoadDeviceFile(copy).soc] = fs::absolute(copy).string();
      else
        o.host[LoadHostProfile(copy).name] = fs::absolute(copy).string();
    }
    return o;
  }

  const Corpus& c_;
  const FitGroup& g_;
  int64_t jobs_;
  std::string work_;
  std::vector<const CalibrationRow*> rows_;
  std::map<std::string, std::string> originals_;  // file -> text
  std::set<std::string> device_files_;
  int evals_ = 0;
  std::map<std::vector<double>, std::string> failures_;  // point -> rows that did not simulate
};

}  // namespace

std::vector<FitOutcome> FitGroupOnRows(const Corpus& c, const FitGroup& g, int64_t jobs,
                                       const std::string& work, bool write) {
  GroupFit fit(c, g, jobs, work);
  std::vector<double> lo, hi, start;
  for (const auto& k : g.constants)
    lo.push_back(k.lo), hi.push_back(k.hi), start.push_back(k.start);
  const FitResult r = NelderMead([&](const std::vector<double>& x) { return fit.Loss(x); }, start,
                                 lo, hi, 60, 1e-4);
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
    f.failed_rows = fit.FailedAt(r.x);
    any_bound |= f.at_bound || !f.failed_rows.empty();
    f.rows = g.rows;
    f.rms_log_error = std::sqrt(r.value);
    f.evals = r.evals;
    out.push_back(f);
  }
  if (write && !any_bound)
    for (const auto& [f, text] : fit.TextsAt(r.x, true)) {
      const std::string tmp = f + ".tmp";
      std::ofstream(tmp) << text;
      fs::rename(tmp, f);
    }
  return out;
}

CalibrationOutput CalibrateCorpus(const Corpus& c, const CalibrateRequest& req) {
  CalibrationOutput o;
  o.corpus_dir = c.dir;
  if (req.fit)
    for (const FitGroup& g : c.groups) {
      bool wanted = req.only.empty();
      for (const auto& id : g.rows) wanted |= req.only.count(id) > 0;
      if (!wanted) continue;
      spdlog::info("fitting group {} ({} constants on {} rows)", g.name, g.constants.size(),
                   g.rows.size());
      for (FitOutcome& f : FitGroupOnRows(c, g, req.jobs, req.work + "/fit", req.write)) {
        if (f.at_bound)
          spdlog::warn("fit {}: {} {} ended at {} in [{}, {}]: a modelling gap, not written",
                       g.name, f.target, f.key, FormatNumber(f.value), FormatNumber(f.lo),
                       FormatNumber(f.hi));
        o.fits.push_back(f);
      }
    }
  o.results = RunCalibrationRows(c, SelectRows(c, req.only), ProfileOverrides{}, req.jobs,
                                 req.work + "/points", true);
  o.verdict = Summarise(c, o.results);
  return o;
}

std::set<std::string> OnlyRows(const Corpus& c, const std::vector<std::string>& values) {
  std::vector<std::string> all;
  for (const auto& r : c.rows) all.push_back(r.id);
  std::set<std::string> only;
  for (const std::string& v : values) {
    size_t start = 0;
    while (start <= v.size()) {
      const size_t comma = std::min(v.find(',', start), v.size());
      const std::string id = v.substr(start, comma - start);
      start = comma + 1;
      if (id.empty()) continue;
      if (!c.Find(id))
        throw InputError("--only: no row '" + id + "' in " + c.dir + NearestHint(id, all));
      only.insert(id);
    }
  }
  return only;
}

}  // namespace npusim
