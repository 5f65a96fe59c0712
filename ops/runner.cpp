#include "ops/runner.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <filesystem>
#include <functional>

#include "model/config.h"
#include "model/error.h"
#include "model/npy.h"

namespace npusim {

namespace {

// The roofline bounds of a run from its launch's counters.
void SetRoofline(const DeviceConfig& device, KernelRun& run) {
  const double hbm_bytes =
      static_cast<double>(run.launch.hbm_read_bytes + run.launch.hbm_write_bytes);
  run.memory_bound_us = hbm_bytes / (device.hbm_bandwidth_gbps * 1e3);
  run.cube_bound_us =
      device.CyclesToUs(run.launch.cube_ideal_cycles / static_cast<double>(device.aic_count));
  run.vector_bound_us =
      device.CyclesToUs(run.launch.vector_ideal_cycles / static_cast<double>(device.aiv_count));
  run.link_bound_us =
      std::max({static_cast<double>(run.launch.link_bytes) / (device.link_aggregate_gbps * 1e3),
                static_cast<double>(run.launch.link_max_peer_bytes) / (device.link_peer_gbps * 1e3),
                static_cast<double>(run.launch.link_pair_bytes) / (device.link_pair_gbps * 1e3)});
  run.roofline_us =
      std::max({run.memory_bound_us, run.cube_bound_us, run.vector_bound_us, run.link_bound_us});
}

// Times `run` (a planned launch, not simulated) from the op's probes. A probe's first core unit
// to finish ran while every other unit was still running, i.e. under the same contention for
// HBM / L2 bandwidth as a balanced full launch, whose units all finish together: those samples
// fit a unit's cycles as a * units + b * work (exactly with two probes, least squares with
// more), and the full launch takes its slowest unit under the fit. Counters scale with the
// fitted core time (pipe busy time, instructions) or with the work (bytes, flops).
// A user-given index tensor against the values its spec allows (TensorSpec::min_value, ...).
void CheckValues(const Op& op, const TensorSpec& s, const Tensor& t) {
  const bool bounded = s.min_value != std::numeric_limits<int64_t>::min() ||
                       s.max_value != std::numeric_limits<int64_t>::max();
  if ((!bounded && !s.nondecreasing) || !t.materialised()) return;
  double prev = -std::numeric_limits<double>::infinity();
  for (int64_t i = 0; i < t.numel(); ++i) {
    const double v = t.At(i);
    if (bounded &&
        !(v >= static_cast<double>(s.min_value) && v <= static_cast<double>(s.max_value)))
      throw InputError(op.name() + ": input '" + s.name + "' element " + std::to_string(i) +
                       " is " + FormatNumber(v) + ", outside [" + std::to_string(s.min_value) +
                       ", " + std::to_string(s.max_value) + "] for these parameters");
    if (s.nondecreasing && v < prev)
      throw InputError(op.name() + ": input '" + s.name + "' decreases at element " +
                       std::to_string(i) + " (" + FormatNumber(prev) + " then " + FormatNumber(v) +
                       "): offsets must not decrease");
    prev = v;
  }
}

// A probe's launch carried over to the full one: instruction counts and pipe time scale with the
// time (`by_time`), traffic, flops and ideal cycles with the work (`by_work`); HBM bytes the op
// knows (> 0: the footprint) replace the scaled ones. The caller sets cycles, time and units.
LaunchResult ScaledLaunch(LaunchResult r, double by_time, double by_work, double hbm_read_bytes,
                          double hbm_write_bytes) {
  auto scale = [](uint64_t v, double f) {
    return static_cast<uint64_t>(std::llround(static_cast<double>(v) * f));
  };
  r.instructions = scale(r.instructions, by_time);
  r.dcache_misses = scale(r.dcache_misses, by_work);
  r.dispatched_instructions = scale(r.dispatched_instructions, by_time);
  const double gm_reads = static_cast<double>(r.hbm_read_bytes + r.l2_hit_bytes) *
                          by_work;  // every GM read, hit or miss
  r.hbm_read_bytes =
      hbm_read_bytes > 0 ? static_cast<uint64_t>(hbm_read_bytes) : scale(r.hbm_read_bytes, by_work);
  r.hbm_write_bytes = hbm_write_bytes > 0 ? static_cast<uint64_t>(hbm_write_bytes)
                                          : scale(r.hbm_write_bytes, by_work);
  r.l2_hit_bytes =
      static_cast<uint64_t>(std::max(0.0, gm_reads - static_cast<double>(r.hbm_read_bytes)));
  r.cube_flops *= by_work;
  r.cube_ideal_cycles *= by_work;
  r.vector_ideal_cycles *= by_work;
  for (auto* side : {&r.aiv, &r.aic})
    for (PipeUsage& u : *side)
      u.busy_cycles = scale(u.busy_cycles, by_time),
      u.instructions = scale(u.instructions, by_time);
  r.stats.clear();
  return r;
}

// A stage of a run: the first sets run.launch, later ones add to it (AppendLaunch).
void AddStage(KernelRun& run, const KernelRun::Launch& stage) {
  if (run.launches.empty())
    run.launch = stage.result;
  else
    AppendLaunch(run.launch, stage.result);
  run.launch_times.emplace_back(stage.name, stage.result.time_us);
  run.launches.push_back(stage);
}

// Probes are simulated in full, timing-only.
RunOptions ProbeOptions() {
  RunOptions po;
  po.mode = ModeChoice::kTimingOnly;
  po.extrapolate = false;
  return po;
}

bool TimeFromProbes(const Op& op, const Extrapolation& ex, const DeviceConfig& device,
                    double start_delay_us, KernelRun& run) {
  const RunOptions po = ProbeOptions();
  std::vector<KernelRun> probes;
  std::vector<std::pair<UnitWork, double>> samples;
  for (size_t i = 0; i < ex.probes.size(); ++i) {
    probes.push_back(RunKernel(op, ex.probes[i], device, po));
    const KernelRun& p = probes.back();
    if (p.status != "ok" || p.launch.unit_cycles.size() != ex.probe_work[i].size() ||
        p.launch.unit_cycles.empty())
      return false;
    const auto first = std::min_element(p.launch.unit_cycles.begin(), p.launch.unit_cycles.end()) -
                       p.launch.unit_cycles.begin();
    samples.push_back({ex.probe_work[i][static_cast<size_t>(first)],
                       static_cast<double>(p.launch.unit_cycles[static_cast<size_t>(first)])});
  }
  double s_nn = 0, s_nw = 0, s_ww = 0, s_ny = 0, s_wy = 0;
  for (const auto& [uw, y] : samples)
    s_nn += uw.units * uw.units, s_nw += uw.units * uw.work, s_ww += uw.work * uw.work,
        s_ny += uw.units * y, s_wy += uw.work * y;
  const double det = s_nn * s_ww - s_nw * s_nw;
  if (samples.size() < 2 || std::fabs(det) < 1e-9 * s_nn * s_ww) return false;
  double a = (s_ny * s_ww - s_wy * s_nw) / det, b = (s_wy * s_nn - s_ny * s_nw) / det;
  // Costs are not negative: when the probes put the per-unit cost below zero (units and work
  // grow nearly in proportion across the probes, so the split between them is ill-conditioned),
  // the least-squares fit with a = 0 prices everything per work item.
  if (a < 0) a = 0, b = s_wy / s_ww;
  spdlog::debug("extrapolation fit of {}: a {:.1f} b {:.1f}", op.name(), a, b);
  if (b <= 0) return false;  // not the affine cost the op declared
  auto fit = [&](const UnitWork& uw) { return a * uw.units + b * uw.work; };
  const KernelRun& base = probes.back();  // the largest probe
  double probe_time = 0, probe_work = 0, full_time = 0, full_work = 0, slowest = 0;
  for (const UnitWork& uw : ex.probe_work.back()) probe_time += fit(uw), probe_work += uw.work;
  std::vector<uint64_t> unit_cycles;
  for (const UnitWork& uw : ex.work) {
    const double c = fit(uw);
    unit_cycles.push_back(static_cast<uint64_t>(std::llround(c)));
    slowest = std::max(slowest, c);
    full_time += c, full_work += uw.work;
  }
  LaunchResult r = ScaledLaunch(base.launch, full_time / probe_time, full_work / probe_work,
                                ex.hbm_read_bytes, ex.hbm_write_bytes);
  r.unit_cycles = unit_cycles;
  r.cycles = device.NsToCycles((device.launch_overhead_us + start_delay_us) * 1e3) +
             static_cast<uint64_t>(std::llround(slowest));
  r.time_us = device.CyclesToUs(static_cast<double>(r.cycles));
  run.launch = r;
  run.launch_times = {
      {base.launch_times.empty() ? op.name() : base.launch_times.front().first, r.time_us}};
  run.launches = {{run.launch_times.front().first, run.block_dim, run.core_type, r}};
  run.extrapolated = true;
  std::string sizes;
  for (const ParamValues& p : ex.probes) sizes += (sizes.empty() ? "" : "; ") + p.Canonical();
  run.mode_reason += fmt::format(
      "; time extrapolated from simulated probes ({}): a core unit's cycles under full contention "
      "fit "
      "as {:.0f} per unit + {:.0f} per {} (no timeline recorded; --simulate for the full "
      "simulation)",
      sizes, a, b, ex.work_name);
  return true;
}

// The launches of a multi-launch op (Extrapolation::probe_sizes): each launch's cycles fit as
// a + b * size by least squares over the probes, every probe running the same launches; the
// full chain is their sum. Instruction counts and pipe time scale with each launch's time,
// traffic and work with the size.
bool TimeChainFromProbes(const Op& op, const Extrapolation& ex, const DeviceConfig& device,
                         KernelRun& run) {
  if (ex.probes.size() < 2 || ex.probe_sizes.size() != ex.probes.size() || ex.size <= 0)
    return false;
  const RunOptions po = ProbeOptions();
  std::vector<KernelRun> probes;
  for (const ParamValues& p : ex.probes) {
    probes.push_back(RunKernel(op, p, device, po));
    const KernelRun& k = probes.back();
    if (k.status != "ok" || k.launches.empty() ||
        k.launches.size() != probes.front().launches.size())
      return false;
    for (size_t i = 0; i < k.launches.size(); ++i)
      if (k.launches[i].name != probes.front().launches[i].name) return false;
  }
  const KernelRun& base = probes.back();  // the largest probe
  const double n = static_cast<double>(probes.size());
  double s_x = 0, s_xx = 0;
  for (double x : ex.probe_sizes) s_x += x, s_xx += x * x;
  const double det = n * s_xx - s_x * s_x;
  if (std::fabs(det) < 1e-9 * n * s_xx) return false;
  std::vector<KernelRun::Launch> stages;
  std::string fits;
  for (size_t i = 0; i < base.launches.size(); ++i) {
    double s_y = 0, s_xy = 0;
    for (size_t j = 0; j < probes.size(); ++j) {
      const double y = static_cast<double>(probes[j].launches[i].result.cycles);
      s_y += y, s_xy += ex.probe_sizes[j] * y;
    }
    const double b = (n * s_xy - s_x * s_y) / det, a = (s_y - b * s_x) / n;
    const double cycles = a + b * ex.size;
    if (b <= 0 || cycles <= 0) return false;  // not the linear growth the op declared
    const KernelRun::Launch& from = base.launches[i];
    const double by_time = cycles / static_cast<double>(from.result.cycles);
    LaunchResult r = ScaledLaunch(from.result, by_time, ex.size / ex.probe_sizes.back(), 0, 0);
    for (uint64_t& c : r.unit_cycles)
      c = static_cast<uint64_t>(std::llround(static_cast<double>(c) * by_time));
    r.cycles = static_cast<uint64_t>(std::llround(cycles));
    r.time_us = device.CyclesToUs(cycles);
    stages.push_back({from.name, from.block_dim, from.core_type, r});
    fits += fmt::format("{}{} {:.0f} + {:.1f}", fits.empty() ? "" : ", ", from.name, a, b);
  }
  run.launches.clear();
  run.launch_times.clear();
  for (const KernelRun::Launch& stage : stages) AddStage(run, stage);
  run.extrapolated = true;
  std::string sizes;
  for (const ParamValues& p : ex.probes) sizes += (sizes.empty() ? "" : "; ") + p.Canonical();
  run.mode_reason += fmt::format(
      "; time extrapolated from simulated probes ({}): each launch's cycles fit as a + b per {} "
      "({}) (no timeline recorded; --simulate for the full simulation)",
      sizes, ex.work_name, fits);
  return true;
}

std::map<std::string, KernelRun>& Cache() {
  static std::map<std::string, KernelRun> cache;
  return cache;
}
CacheStats& Stats() {
  static CacheStats s;
  return s;
}

uint64_t Fnv1a(const uint8_t* p, size_t n, uint64_t h = 1469598103934665603ull) {
  for (size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 1099511628211ull;
  return h;
}

Tensor LoadInput(const std::string& dir, const TensorSpec& s) {
  std::string path = dir + "/" + s.name + ".npy";
  if (!std::filesystem::exists(path))
    throw InputError(path + ": missing input '" + s.name + "' " + ShapeString(s.shape) + " " +
                     std::string(Name(s.dtype)));
  Tensor t = ReadNpy(path, s.name, s.dtype);
  if (t.shape() != s.shape || t.dtype() != s.dtype)
    throw InputError(path + ": input '" + s.name + "' must be " + ShapeString(s.shape) + " " +
                     std::string(Name(s.dtype)) + ", file holds " + ShapeString(t.shape()) + " " +
                     std::string(Name(t.dtype())));
  return t;
}

}  // namespace

std::string DeviceFingerprint(const DeviceConfig& device) {
  // Exact text: two devices that differ in any bit of a parameter (a fit's neighbouring points)
  // never share a chip, a memoised run or a disk-cache entry.
  std::string s;
  for (const auto& [key, value] : DeviceParams(device)) s += key + "=" + value + ";";
  return s;
}

Chip& ChipFor(const DeviceConfig& device) {
  static std::map<std::string, std::unique_ptr<Chip>> chips;
  auto& chip = chips[DeviceFingerprint(device)];
  if (!chip) chip = std::make_unique<Chip>(device);
  return *chip;
}

CacheStats KernelCacheStats() { return Stats(); }

namespace {

// Functional or timing-only, and why (run.functional, run.mode_reason); returns the bytes the
// kernel's tensors take in HBM.
uint64_t ChooseMode(const Op& op, const ParamValues& params, const RunOptions& options,
                    KernelRun& run) {
  uint64_t total_bytes = 0, host_bytes = 0;
  for (const auto& s : run.tensors) {
    const auto elems = static_cast<uint64_t>(NumElements(s.shape)), bytes = elems * SizeOf(s.dtype);
    total_bytes += bytes;
    // A functional run holds more than its tensors: the inputs' snapshot the reference reads,
    // each written tensor's fp64 reference and its copies in the result and the kernel cache.
    host_bytes +=
        bytes + (IsRead(s.role) ? bytes : 0) + (IsWritten(s.role) ? 2 * bytes + 8 * elems : 0);
  }
  const std::string timing_only = op.TimingOnly(params);
  if (!timing_only.empty() && options.mode == ModeChoice::kFunctional)
    throw InputError(op.name() + " cannot run functionally: " + timing_only);
  switch (options.mode) {
    case ModeChoice::kFunctional:
      run.functional = true;
      run.mode_reason = "functional (requested)";
      break;
    case ModeChoice::kTimingOnly:
      run.mode_reason = "timing-only (requested)";
      break;
    case ModeChoice::kAuto: {
      if (!timing_only.empty()) {
        run.mode_reason = "timing-only: " + timing_only;
        break;
      }
      const double macs = op.FunctionalMacs(params);
      run.functional =
          host_bytes <= options.functional_limit_bytes && macs <= options.functional_limit_macs;
      const std::string holds = "tensors take " + std::to_string(total_bytes) + " B, " +
                                std::to_string(host_bytes) +
                                " B on the host with the fp64 reference and copies";
      if (run.functional)
        run.mode_reason = "functional: " + holds;
      else if (host_bytes > options.functional_limit_bytes)
        run.mode_reason = "timing-only: " + holds + ", above the functional limit of " +
                          std::to_string(options.functional_limit_bytes) +
                          " B (use --functional to force)";
      else
        run.mode_reason = fmt::format(
            "timing-only: {:.3g} multiply-accumulates, above the functional limit of {:.3g} "
            "(use --functional to force)",
            macs, options.functional_limit_macs);
      break;
    }
  }
  if ((!options.inputs_dir.empty() || options.inputs) && !run.functional)
    throw InputError("--inputs needs functional mode; the run is " + run.mode_reason);
  return total_bytes;
}

// The kernel's tensors: data for everything in functional mode, for control tensors only
// otherwise; generated from the seed, then replaced by the user's inputs, which must agree with
// what the parameters fix.
TensorMap PrepareTensors(const Op& op, const ParamValues& params, const RunOptions& options,
                         const KernelRun& run) {
  TensorMap tensors;
  for (const auto& s : run.tensors)
    tensors[s.name] = Tensor(s.name, s.shape, s.dtype, run.functional || s.control);
  Rng rng(options.seed);
  op.FillInputs(params, tensors, rng);
  TensorMap from_params;  // what the parameters give for the tensors they fix
  for (const auto& s : run.tensors)
    if (s.fixed_by_params) from_params[s.name] = tensors[s.name];
  if (!options.inputs_dir.empty())
    for (const auto& s : run.tensors)
      if (IsRead(s.role)) tensors[s.name] = LoadInput(options.inputs_dir, s);
  if (options.inputs)
    for (const auto& s : run.tensors) {
      auto it = options.inputs->find(s.name);
      if (it == options.inputs->end() || !IsRead(s.role)) continue;
      if (it->second.shape() != s.shape || it->second.dtype() != s.dtype)
        throw InputError(op.name() + ": input '" + s.name + "' is " +
                         ShapeString(it->second.shape()) + " " +
                         std::string(Name(it->second.dtype())) + ", the kernel expects " +
                         ShapeString(s.shape) + " " + std::string(Name(s.dtype)));
      tensors[s.name] = it->second;
    }
  if (!options.inputs_dir.empty() || options.inputs)
    for (const auto& s : run.tensors) {
      if (!IsRead(s.role)) continue;
      CheckValues(op, s, tensors[s.name]);
      if (!s.fixed_by_params) continue;
      const Tensor &given = tensors[s.name], &want = from_params.at(s.name);
      for (int64_t i = 0; i < given.numel(); ++i)
        if (given.At(i) != want.At(i))
          throw InputError(op.name() + ": input '" + s.name + "' element " + std::to_string(i) +
                           " is " + FormatNumber(given.At(i)) + ", but the parameters give " +
                           FormatNumber(want.At(i)) + " (" + s.name +
                           " follows from the parameters; set them, e.g. seq_lens, to match)");
    }
  return tensors;
}

// GM buffers at 512 B-aligned addresses, in declaration order.
GmMap PlaceInGm(const KernelRun& run, TensorMap& tensors) {
  GmMap gm;
  uint64_t addr = 0x100000000ull;
  for (const auto& s : run.tensors) {
    Tensor& t = tensors[s.name];
    gm[s.name] =
        GmBuffer{s.name, t.materialised() && t.nbytes() ? t.data() : nullptr, t.nbytes(), addr};
    addr += (t.nbytes() + 511) / 512 * 512;
  }
  return gm;
}

// Memo key: (op, parameters incl. shapes and dtypes, tiling, device, mode) and the bytes the
// result depends on: control tensors always (they steer the kernel), all inputs when functional.
std::string MemoKey(const Op& op, const ParamValues& params, const DeviceConfig& device,
                    const RunOptions& options, const LaunchPlan& plan, const KernelRun& run,
                    TensorMap& tensors) {
  std::string key = op.name() + "|" + params.Canonical() + "|";
  for (const auto& kv : plan.tiling) key += kv.first + "=" + kv.second + ",";
  key += "|" + DeviceFingerprint(device) + "|" + (run.functional ? "functional" : "timing") + "|";
  uint64_t h = 1469598103934665603ull;
  for (const auto& s : run.tensors)
    if (IsRead(s.role) && (s.control || run.functional))
      h = Fnv1a(tensors[s.name].data(), tensors[s.name].nbytes(), h);
  return key + std::to_string(h) + (options.extrapolate ? "" : "|simulated");
}

// Runs the plan's launches in order into run.launch / launch_times / launches; a simulated
// failure becomes run.status and run.message. A `concurrent` launch runs on another chip at the
// same time as the launch before it (one per rank of a collective): its stage takes the longest
// time; a `same_kernel` one is a later stage of the same kernel: one launch in all.
void SimulateLaunches(Chip& chip, LaunchPlan& plan, KernelRun& run) {
  try {
    std::vector<KernelLaunch*> launches = {&plan.launch};
    for (KernelLaunch& next : plan.then) launches.push_back(&next);
    // The launches of one op follow each other on one chip, so a later one may find the data an
    // earlier one left in L2; concurrent launches stand for other chips (other ranks' L2), so a
    // plan that has them starts every launch cold.
    bool concurrent = false;
    for (const KernelLaunch* l : launches) concurrent = concurrent || l->concurrent;
    for (size_t i = 0; i < launches.size(); ++i) launches[i]->follows = i > 0 && !concurrent;
    LaunchResult stage;
    std::string stage_name;
    const KernelLaunch* stage_launch = nullptr;
    bool have_stage = false;
    auto flush = [&] {
      if (have_stage)
        AddStage(run, {stage_name, stage_launch->block_dim, stage_launch->core_type, stage});
    };
    for (KernelLaunch* l : launches) {
      l->functional = run.functional;
      const LaunchResult r = chip.Launch(*l);
      if (l->concurrent && have_stage) {
        if (r.cycles > stage.cycles) {
          stage.cycles = r.cycles;
          stage.time_us = r.time_us;
        }
        continue;
      }
      if (l->same_kernel && have_stage) {
        const int waves = std::max(stage.waves, r.waves);
        AppendLaunch(stage, r);
        stage.waves = waves;
        continue;
      }
      flush();
      if (l->torch_op) ++run.torch_ops;
      stage = r;
      stage_name = l->name;
      stage_launch = l;
      have_stage = true;
    }
    flush();
  } catch (const SimFailure& e) {
    run.status = e.status();
    run.message = e.what();
  }
}

// Each written tensor against the op's fp64 reference (computed from the inputs as they were
// before the launch): run.numerics, and the outputs themselves in run.outputs.
void CompareWithReference(const Op& op, const ParamValues& params, const TensorMap& before,
                          const TensorMap& tensors, KernelRun& run) {
  const Expected expected = op.Reference(params, before);
  for (const auto& [name, ref] : expected) {
    const Tensor& out = tensors.at(name);
    TensorError err;
    err.elements = out.numel();
    double max_ref = 0;
    for (int64_t i = 0; i < out.numel(); ++i) {
      double a = out.At(i), r = ref[static_cast<size_t>(i)];
      double abs_err =
          (std::isnan(a) != std::isnan(r)) ? INFINITY : (std::isnan(a) ? 0 : std::fabs(a - r));
      err.max_abs_err = std::max(err.max_abs_err, abs_err);
      err.max_rel_err =
          std::max(err.max_rel_err, abs_err / std::max(std::fabs(r), static_cast<double>(FLT_MIN)));
      if (!std::isnan(r)) max_ref = std::max(max_ref, std::fabs(r));
    }
    err.norm_err = err.max_abs_err / std::max(max_ref, static_cast<double>(FLT_MIN));
    run.numerics[name] = err;
  }
  for (const auto& s : run.tensors)
    if (IsWritten(s.role)) run.outputs[s.name] = tensors.at(s.name);
}

}  // namespace

KernelRun RunKernel(const Op& op, const ParamValues& params, const DeviceConfig& device,
                    const RunOptions& options) {
  KernelRun run;
  run.op = op.name();
  run.device = device.soc;
  run.params = params;
  run.tensors = op.tensors(params);
  const uint64_t total_bytes = ChooseMode(op, params, options, run);
  TensorMap tensors = PrepareTensors(op, params, options, run);
  GmMap gm = PlaceInGm(run, tensors);

  LaunchPlan plan = op.Plan(params, device, gm);
  run.tiling = plan.tiling;
  run.block_dim = plan.launch.block_dim;
  run.core_type = plan.launch.core_type;
  plan.launch.functional = run.functional;

  const std::string key = MemoKey(op, params, device, options, plan, run, tensors);
  if (options.use_cache && !options.trace) {
    auto it = Cache().find(key);
    if (it != Cache().end()) {
      ++Stats().hits;
      KernelRun cached = it->second;
      cached.from_cache = true;
      return cached;
    }
  }
  ++Stats().misses;

  const auto chips = static_cast<uint64_t>(std::max<int64_t>(1, op.Chips(params)));
  if (total_bytes / chips > static_cast<uint64_t>(device.hbm_bytes)) {
    run.status = "out_of_memory";
    run.message = "out of memory: kernel tensors need " + std::to_string(total_bytes / chips) +
                  " B of HBM" + (chips > 1 ? " per chip" : "") + ", the device has " +
                  std::to_string(device.hbm_bytes) + " B";
    return run;
  }

  if (!run.functional && options.extrapolate)  // no timeline is recorded then
    if (const auto ex = op.Extrapolate(params, device, gm);
        ex &&
        (ex->probe_sizes.empty()
             ? plan.then.empty() && TimeFromProbes(op, *ex, device, plan.launch.start_delay_us, run)
             : TimeChainFromProbes(op, *ex, device, run))) {
      SetRoofline(device, run);
      if (options.use_cache) Cache()[key] = run;
      return run;
    }

  TensorMap before;
  if (run.functional)
    for (const auto& s : run.tensors)
      if (IsRead(s.role)) before[s.name] = tensors[s.name];

  Chip& chip = ChipFor(device);
  chip.SetTrace(options.trace);
  SimulateLaunches(chip, plan, run);
  chip.SetTrace(nullptr);
  if (run.status != "ok") return run;

  SetRoofline(device, run);
  if (run.functional) CompareWithReference(op, params, before, tensors, run);
  if (options.use_cache) Cache()[key] = run;
  return run;
}

std::string RooflineBound(const KernelRun& r) {
  if (r.roofline_us == r.memory_bound_us) return "memory";
  if (r.roofline_us == r.cube_bound_us) return "cube";
  if (r.roofline_us == r.link_bound_us) return "link";
  return "vector";
}

}  // namespace npusim
