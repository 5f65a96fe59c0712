#include "reports/kernel_report.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "model/error.h"
#include "model/npy.h"
#include "reports/calibration_report.h"
#include "reports/charts.h"
#include "reports/format.h"
#include "reports/html.h"
#include "workloads/step_graph.h"

namespace npusim {

namespace {

using Json = nlohmann::ordered_json;
using report::Sig3;
using report::Tidy;
std::string Fixed(double v, int digits = 3) { return report::Fixed(v, digits); }

struct PipeRow {
  std::string key;
  double busy_us, utilisation;
  uint64_t instructions;
};

std::vector<PipeRow> PipeRows(const KernelRun& run, const DeviceConfig& d) {
  std::vector<PipeRow> rows;
  for (int side = 0; side < 2; ++side) {
    const auto& usage = side == 0 ? run.launch.aic : run.launch.aiv;
    for (int p = 0; p < kNumPipes; ++p) {
      const PipeUsage& u = usage[p];
      if (u.cores == 0 || u.instructions == 0) continue;
      double busy_us = d.CyclesToUs(static_cast<double>(u.busy_cycles) / u.cores);
      rows.push_back({std::string(side == 0 ? "aic." : "aiv.") + PipeName(static_cast<Pipe>(p)),
                      busy_us, run.launch.time_us > 0 ? busy_us / run.launch.time_us : 0,
                      u.instructions});
    }
  }
  return rows;
}

// "UB 196608 / 196608 B, L1 ..." for every local buffer the kernel used.
std::string BufferPeaks(const LaunchResult& l, const DeviceConfig& d) {
  const std::pair<Mem, int64_t> bufs[] = {{Mem::kUb, d.ub_bytes},
                                          {Mem::kL1, d.l1_bytes},
                                          {Mem::kL0A, d.l0a_bytes},
                                          {Mem::kL0B, d.l0b_bytes},
                                          {Mem::kL0C, d.l0c_bytes}};
  std::string out;
  for (const auto& [m, cap] : bufs) {
    const uint64_t peak = l.peak_bytes[static_cast<int>(m)];
    if (peak == 0) continue;
    out += (out.empty() ? "" : ", ") + std::string(MemName(m)) + " " + std::to_string(peak) +
           " / " + std::to_string(cap) + " B";
  }
  return out.empty() ? "none" : out;
}

std::string Shapes(const KernelRun& r, bool inputs) {
  std::string shapes, types;
  for (const auto& t : r.tensors) {
    if (t.role == TensorRole::kWorkspace || (t.role == TensorRole::kOutput) == inputs) continue;
    std::string s;
    for (size_t i = 0; i < t.shape.size(); ++i) s += (i ? "," : "") + std::to_string(t.shape[i]);
    shapes += (shapes.empty() ? "" : ";") + s;
  }
  return "\"" + shapes + "\"";
}

std::string Types(const KernelRun& r, bool inputs) {
  std::string types;
  for (const auto& t : r.tensors) {
    if (t.role == TensorRole::kWorkspace || (t.role == TensorRole::kOutput) == inputs) continue;
    types += (types.empty() ? "" : ";") + std::string(Name(t.dtype));
  }
  return "\"" + types + "\"";
}

}  // namespace

Json KernelMetrics(const KernelRun& run, const DeviceConfig& d) {
  Json j;
  j["kernel"] = run.op;
  j["device"] = run.device;
  j["status"] = run.status;
  if (!run.message.empty()) j["message"] = run.message;
  j["mode"] = run.functional ? "functional" : "timing-only";
  j["mode_reason"] = run.mode_reason;
  Json params = Json::object();
  for (const auto& [k, v] : run.params.items()) params[k] = v;
  j["params"] = params;
  Json tiling = Json::object();
  for (const auto& [k, v] : run.tiling) tiling[k] = v;
  j["tiling"] = tiling;
  j["block_dim"] = run.block_dim;
  j["core_type"] = CoreTypeName(run.core_type);
  if (run.status != "ok") return j;
  const LaunchResult& l = run.launch;
  j["time_us"] = Tidy(l.time_us);
  j["cycles"] = l.cycles;
  j["clock_mhz"] = d.clock_mhz;
  j["waves"] = l.waves;
  if (run.launch_times.size() > 1) {
    j["launches"] = Json::array();
    for (const auto& [n, t] : run.launch_times)
      j["launches"].push_back(Json{{"name", n}, {"time_us", Tidy(t)}});
  }
  j["launch_overhead_us"] = d.launch_overhead_us;
  j["ub_peak_bytes"] = l.peak_bytes[static_cast<int>(Mem::kUb)];
  j["l1_peak_bytes"] = l.peak_bytes[static_cast<int>(Mem::kL1)];
  j["l0a_peak_bytes"] = l.peak_bytes[static_cast<int>(Mem::kL0A)];
  j["l0b_peak_bytes"] = l.peak_bytes[static_cast<int>(Mem::kL0B)];
  j["l0c_peak_bytes"] = l.peak_bytes[static_cast<int>(Mem::kL0C)];
  j["hbm_bytes"] = l.hbm_read_bytes + l.hbm_write_bytes;
  j["hbm_read_bytes"] = l.hbm_read_bytes;
  j["l2_hit_bytes"] = l.l2_hit_bytes;
  j["link_bytes"] = l.link_bytes + l.link_pair_bytes;
  j["hbm_write_bytes"] = l.hbm_write_bytes;
  j["cube_flops"] = l.cube_flops;
  j["roofline_us"] = Tidy(run.roofline_us);
  j["roofline"] = {{"bound", RooflineBound(run)},
                   {"memory_us", Tidy(run.memory_bound_us)},
                   {"cube_us", Tidy(run.cube_bound_us)},
                   {"link_us", Tidy(run.link_bound_us)},
                   {"vector_us", Tidy(run.vector_bound_us)},
                   {"fraction_of_time", Tidy(l.time_us > 0 ? run.roofline_us / l.time_us : 0)}};
  j["instructions"] = l.instructions;
  Json pipes = Json::object();
  for (const auto& r : PipeRows(run, d))
    pipes[r.key] = {{"busy_us", Tidy(r.busy_us)},
                    {"utilisation", Tidy(r.utilisation)},
                    {"instructions", r.instructions}};
  j["pipes"] = pipes;
  Json stats = Json::object();
  for (const Stat& st : l.stats)
    if (st.value != 0) stats[st.name] = {{"value", st.value}, {"unit", st.unit}, {"desc", st.desc}};
  j["stats"] = stats;
  j["fidelity"] = FidelityJson(FidelityFor("", run.op, d.soc, "", d.source_file, ""));
  if (run.functional) {
    double abs_err = 0, rel_err = 0, norm_err = 0;
    Json per = Json::object();
    for (const auto& [name, e] : run.numerics) {
      abs_err = std::max(abs_err, e.max_abs_err);
      rel_err = std::max(rel_err, e.max_rel_err);
      norm_err = std::max(norm_err, e.norm_err);
      per[name] = {{"max_abs_err", e.max_abs_err},
                   {"max_rel_err", e.max_rel_err},
                   {"norm_err", e.norm_err},
                   {"elements", e.elements}};
    }
    j["numerics"] = {{"reference", "fp64"},
                     {"max_abs_err", abs_err},
                     {"max_rel_err", rel_err},
                     {"norm_err", norm_err},
                     {"tensors", per}};
  }
  return j;
}

// msprof's op_summary with --aic-metrics=PipeUtilization, in its column order (msprof's own
// header tests): one row per launch. Times per core are the mean over the cores of that type
// that ran; total_cycles sum over them; a ratio is a pipe's busy cycles over the core's cycles.
// npusim adds a final Status column (a failed launch is the row with its failure).
namespace {

// One launch's aicore / aiv columns: each side's time and cycles, then each pipe's busy time and
// its share of the core's cycles, as msprof writes them (zeros for a side the launch did not use).
std::string CoreColumns(const KernelRun::Launch& l, const DeviceConfig& d) {
  const LaunchResult& r = l.result;
  std::string cols;
  // Cycles of the core units that ran (an AIV, an AIC, or an AIC with its two AIVs).
  double unit_sum = 0;
  for (uint64_t c : r.unit_cycles) unit_sum += static_cast<double>(c);
  const double units = static_cast<double>(r.unit_cycles.size());
  const double core_cycles = units > 0 ? unit_sum / units : 0;
  const bool aic = l.core_type != CoreType::kAiv, aiv = l.core_type != CoreType::kAic;
  auto pipe = [&](const std::array<PipeUsage, kNumPipes>& side, Pipe p) {
    const PipeUsage& u = side[static_cast<int>(p)];
    const double busy = u.cores > 0 ? static_cast<double>(u.busy_cycles) / u.cores : 0;
    return "," + Fixed(d.CyclesToUs(busy)) + "," + Fixed(core_cycles > 0 ? busy / core_cycles : 0);
  };
  if (aic) {
    cols += "," + Fixed(d.CyclesToUs(core_cycles)) + "," +
            std::to_string(static_cast<uint64_t>(unit_sum));
    for (Pipe p : {Pipe::kM, Pipe::kS, Pipe::kMte1, Pipe::kMte2, Pipe::kFix})
      cols += pipe(r.aic, p);
    cols += ",N/A";
  } else {
    cols += ",0,0,0,0,0,0,0,0,0,0,0,0,N/A";
  }
  if (aiv) {
    const double per_unit = l.core_type == CoreType::kMix ? 2 : 1;  // a mixed unit holds two AIVs
    cols += "," + Fixed(d.CyclesToUs(core_cycles)) + "," +
            std::to_string(static_cast<uint64_t>(unit_sum * per_unit));
    for (Pipe p : {Pipe::kV, Pipe::kS, Pipe::kMte2, Pipe::kMte3}) cols += pipe(r.aiv, p);
    cols += ",N/A";
  } else {
    cols += ",0,0,0,0,0,0,0,0,0,0,N/A";
  }
  return cols;
}

}  // namespace

std::string OpSummaryCsv(const KernelRun& run, const DeviceConfig& d) {
  std::string csv =
      "Device_id,Model ID,Task ID,Stream ID,Op Name,OP Type,OP State,Task Type,Task Start "
      "Time(us),Task Duration(us),"
      "Task Wait Time(us),Block Dim,Mix Block Dim,HF32 Eligible,Input Shapes,Input Data "
      "Types,Input Formats,Output Shapes,"
      "Output Data Types,Output Formats,Context "
      "ID,aicore_time(us),aic_total_cycles,aic_mac_time(us),aic_mac_ratio,"
      "aic_scalar_time(us),aic_scalar_ratio,aic_mte1_time(us),aic_mte1_ratio,aic_mte2_time(us),aic_"
      "mte2_ratio,"
      "aic_fixpipe_time(us),aic_fixpipe_ratio,aic_icache_miss_rate,aiv_time(us),aiv_total_cycles,"
      "aiv_vec_time(us),aiv_vec_ratio,"
      "aiv_scalar_time(us),aiv_scalar_ratio,aiv_mte2_time(us),aiv_mte2_ratio,aiv_mte3_time(us),aiv_"
      "mte3_ratio,"
      "aiv_icache_miss_rate,cube_utilization(%),Status\n";
  auto formats = [&](bool inputs) {
    std::string f;
    for (const auto& t : run.tensors)
      if (t.role != TensorRole::kWorkspace && (t.role == TensorRole::kOutput) != inputs)
        f += (f.empty() ? "" : ";") + std::string("ND");
    return "\"" + f + "\"";
  };
  auto task_type = [](CoreType c) {
    return c == CoreType::kAiv ? "AI_VECTOR_CORE" : c == CoreType::kAic ? "AI_CORE" : "MIX_AIC";
  };
  // Op Name is the launch's name ("chunk_gated_delta_rule.cumsum"), OP Type its kernel ("cumsum").
  auto common = [&](size_t task, const std::string& name, CoreType core, double start_us,
                    const std::string& dur, int64_t block_dim) {
    const std::string type =
        name.rfind(run.op + ".", 0) == 0 ? name.substr(run.op.size() + 1) : name;
    return "0,N/A," + std::to_string(task) + ",1," + name + "," + type + ",static," +
           task_type(core) + "," + Fixed(start_us) + "," + dur + ",0.000," +
           std::to_string(block_dim) + "," +
           (core == CoreType::kMix ? std::to_string(2 * block_dim) : "0") + ",NO," +
           Shapes(run, true) + "," + Types(run, true) + "," + formats(true) + "," +
           Shapes(run, false) + "," + Types(run, false) + "," + formats(false) + ",N/A";
  };
  if (run.status != "ok" || run.launches.empty()) {  // the launch that failed: no times
    std::string row = common(1, run.op, run.core_type, 0, "N/A", run.block_dim);
    for (int i = 0; i < 25; ++i) row += ",N/A";
    return csv + row + "," + run.status + "\n";
  }
  double start = 0;
  for (size_t i = 0; i < run.launches.size(); ++i) {
    const KernelRun::Launch& l = run.launches[i];
    const LaunchResult& r = l.result;
    std::string row = common(i + 1, l.name, l.core_type, start, Fixed(r.time_us), l.block_dim);
    start += r.time_us;
    row += CoreColumns(l, d);
    // The cube's share of the chip's peak over the launch: ideal cube cycles over all AICs' cycles.
    const double chip_cycles = static_cast<double>(d.aic_count) * static_cast<double>(r.cycles);
    row += "," + Fixed(chip_cycles > 0 ? 100 * r.cube_ideal_cycles / chip_cycles : 0, 2);
    csv += row + "," + run.status + "\n";
  }
  return csv;
}

std::string KernelReportMarkdown(const KernelRun& run, const DeviceConfig& d) {
  std::string md = "# Kernel `" + run.op + "` on " + run.device + "\n\n";
  md += "Mode: " + run.mode_reason + ".\n\n";
  if (run.status != "ok")
    return md + "**Status: " + run.status + "**\n\n```\n" + run.message + "\n```\n";
  const LaunchResult& l = run.launch;
  md += "| quantity | value |\n|---|---|\n";
  md += "| time | " + Fixed(l.time_us) + " us (" + std::to_string(l.cycles) + " cycles at " +
        Fixed(d.clock_mhz, 0) + " MHz) |\n";
  md += "| roofline | " + Fixed(run.roofline_us) + " us, " + RooflineBound(run) + "-bound (" +
        Fixed(l.time_us > 0 ? 100 * run.roofline_us / l.time_us : 0, 1) + " % of the time) |\n";
  md += "| block_dim / waves | " + std::to_string(run.block_dim) + " / " + std::to_string(l.waves) +
        " |\n";
  md += "| buffer peaks per core | " + BufferPeaks(l, d) + " |\n";
  md += "| HBM traffic | " + std::to_string(l.hbm_read_bytes) + " B read, " +
        std::to_string(l.hbm_write_bytes) + " B written, " + std::to_string(l.l2_hit_bytes) +
        " B read from L2 |\n";
  md += "| instructions | " + std::to_string(l.instructions) + " |\n\n";
  md += "## Tiling\n\n";
  for (const auto& [k, v] : run.tiling) md += "- " + k + " = " + v + "\n";
  md +=
      "\n## Pipes (mean per core)\n\n| pipe | busy (us) | utilisation | instructions "
      "|\n|---|---|---|---|\n";
  for (const auto& r : PipeRows(run, d))
    md += "| " + r.key + " | " + Fixed(r.busy_us) + " | " + Fixed(100 * r.utilisation, 1) +
          " % | " + std::to_string(r.instructions) + " |\n";
  if (run.functional) {
    md +=
        "\n## Numerics vs the fp64 reference\n\n| tensor | max abs err | max rel err | abs err / "
        "max abs ref |\n|---|---|---|---|\n";
    char buf[128];
    for (const auto& [name, e] : run.numerics) {
      std::snprintf(buf, sizeof buf, "| %s | %.3g | %.3g | %.3g |\n", name.c_str(), e.max_abs_err,
                    e.max_rel_err, e.norm_err);
      md += buf;
    }
  }
  return md;
}

std::string KernelConsoleSummary(const KernelRun& run, const DeviceConfig& d) {
  std::string s = "kernel " + run.op + " on " + run.device + " — " + run.mode_reason + "\n";
  if (run.status != "ok") return s + "  status     " + run.status + "\n";
  const LaunchResult& l = run.launch;
  s += "  status     ok\n";
  if (run.launch_times.size() > 1)  // stages of different shapes: their count, not a block_dim
    s += "  time       " + Fixed(l.time_us) + " us (" + std::to_string(l.cycles) + " cycles, " +
         std::to_string(run.launch_times.size()) + " launches in sequence)\n";
  else
    s += "  time       " + Fixed(l.time_us) + " us (" + std::to_string(l.cycles) +
         " cycles, block_dim " + std::to_string(run.block_dim) + ", " + std::to_string(l.waves) +
         (l.waves == 1 ? " wave)\n" : " waves)\n");
  if (run.launch_times.size() > 1) {
    // Each launch in order; past a screenful, each launch name once with its count and total.
    constexpr size_t kListed = 24;
    std::vector<std::pair<std::string, std::pair<int, double>>> by_name;
    for (const auto& [n, t] : run.launch_times) {
      const std::string shortname = n.substr(n.rfind('.') + 1);
      if (run.launch_times.size() <= kListed) {
        by_name.push_back({shortname, {1, t}});
        continue;
      }
      auto it = std::find_if(by_name.begin(), by_name.end(),
                             [&](const auto& e) { return e.first == shortname; });
      if (it == by_name.end()) it = by_name.insert(by_name.end(), {shortname, {0, 0.0}});
      ++it->second.first;
      it->second.second += t;
    }
    s += "  launches  ";
    for (const auto& [n, ct] : by_name)
      s += " " + n + (ct.first > 1 ? " x" + std::to_string(ct.first) : "") + " " +
           Fixed(ct.second, 2);
    s += run.launch_times.size() <= kListed ? " (us)\n" : " (us in all, by launch name)\n";
  }
  s += "  roofline   " + Fixed(run.roofline_us) + " us, " + RooflineBound(run) + "-bound (" +
       Fixed(l.time_us > 0 ? 100 * run.roofline_us / l.time_us : 0, 1) + " % of the time)\n";
  s += "  buffers    " + BufferPeaks(l, d) + " (peak per core)\n";
  s += "  pipes     ";
  for (const auto& r : PipeRows(run, d))
    s += " " + r.key + " " + Fixed(100 * r.utilisation, 1) + " %";
  s += "\n";
  if (run.functional) {
    char buf[160];
    for (const auto& [name, e] : run.numerics) {
      std::snprintf(
          buf, sizeof buf,
          "  numerics   %s: max_abs_err %.3g, max_rel_err %.3g, abs/max|ref| %.3g vs fp64\n",
          name.c_str(), e.max_abs_err, e.max_rel_err, e.norm_err);
      s += buf;
    }
  }
  return s;
}

namespace {

// What the host tiling chose, and (functional runs) every output against the fp64 reference.
void AddTilingAndNumerics(html::Page& page, const KernelRun& run) {
  if (!run.tiling.empty()) {  // what the host tiling chose, as the op reports it
    std::vector<std::vector<std::string>> rows;
    for (const auto& [k, v] : run.tiling) rows.push_back({k, v});
    page.Heading("Tiling");
    page.Table({"field", "value"}, rows);
  }
  if (!run.numerics.empty()) {  // functional runs: every output against the fp64 reference
    std::vector<std::vector<std::string>> rows;
    for (const auto& [name, e] : run.numerics)
      rows.push_back({name, std::to_string(e.elements), Sig3(e.max_abs_err), Sig3(e.max_rel_err),
                      Sig3(e.norm_err)});
    page.Heading("Numerics (against the fp64 reference)");
    page.Table(
        {"output", "elements", "max abs error", "max rel error", "max abs / max |reference|"},
        rows);
  } else {
    page.Paragraph(
        "Numerics: not computed (timing-only run; --functional computes them against the fp64 "
        "reference).");
  }
}

// The same charts a serving run draws per kernel, for this one launch: pipe utilisation, the
// roofline terms, the local buffers' peaks.
void AddKernelCharts(html::Page& page, const KernelRun& run, const DeviceConfig& d) {
  const LaunchResult& l = run.launch;
  ProfileTotal p;
  p.Add(ProfileOf(run, d), 1);
  const std::vector<std::pair<std::string, ProfileTotal>> one = {{run.op, p}};
  page.AddChart(charts::PipeUtilisation(one),
                "Pipe utilisation (busy time of each pipe, % of the kernel's time)");
  html::Chart bounds;
  bounds.ylabel = "us";
  bounds.categories = {"simulated", "memory bound", "cube bound", "vector bound", "link bound"};
  bounds.series.push_back(
      {"time",
       {},
       {l.time_us, run.memory_bound_us, run.cube_bound_us, run.vector_bound_us, run.link_bound_us},
       ""});
  page.AddChart(bounds, "Simulated time against each roofline term");
  html::Chart buffers;
  buffers.ylabel = "KiB per core";
  const std::pair<Mem, int64_t> bufs[] = {{Mem::kUb, d.ub_bytes},
                                          {Mem::kL1, d.l1_bytes},
                                          {Mem::kL0A, d.l0a_bytes},
                                          {Mem::kL0B, d.l0b_bytes},
                                          {Mem::kL0C, d.l0c_bytes}};
  html::Series peak{"peak", {}, {}, ""}, cap{"capacity", {}, {}, ""};
  for (const auto& [m, c] : bufs) {
    buffers.categories.push_back(MemName(m));
    peak.y.push_back(static_cast<double>(l.peak_bytes[static_cast<int>(m)]) / 1024);
    cap.y.push_back(static_cast<double>(c) / 1024);
  }
  buffers.series = {peak, cap};
  page.AddChart(buffers, "Local buffer peaks against their capacity");
}

}  // namespace

html::Page KernelPage(const KernelRun& run, const DeviceConfig& d) {
  html::Page page("npusim kernel " + run.op + " on " + run.device);
  std::vector<std::pair<std::string, std::string>> facts = {{"mode", run.mode_reason},
                                                            {"status", run.status}};
  std::string params;
  for (const auto& [k, v] : run.params.items())
    params += (params.empty() ? "" : ", ") + k + "=" + v;
  facts.push_back({"parameters", params});
  if (run.status != "ok") {
    page.Facts(facts);
    page.Heading("Failure");
    page.Paragraph(run.message);
    return page;
  }
  const LaunchResult& l = run.launch;
  facts.push_back({"time", Fixed(l.time_us) + " us (" + std::to_string(l.cycles) +
                               " cycles), block_dim " + std::to_string(run.block_dim) + ", " +
                               std::to_string(l.waves) + " wave(s)"});
  facts.push_back({"roofline", Fixed(run.roofline_us) + " us, " + RooflineBound(run) + "-bound (" +
                                   Fixed(l.time_us > 0 ? 100 * run.roofline_us / l.time_us : 0, 1) +
                                   " % of the time)"});
  facts.push_back({"buffers", BufferPeaks(l, d)});
  facts.push_back(
      {"HBM traffic", Fixed(static_cast<double>(l.hbm_read_bytes) / 1e6, 3) + " MB read, " +
                          Fixed(static_cast<double>(l.hbm_write_bytes) / 1e6, 3) + " MB written; " +
                          Fixed(static_cast<double>(l.l2_hit_bytes) / 1e6, 3) +
                          " MB of reads served by L2"});
  page.Facts(facts);
  AddTilingAndNumerics(page, run);
  AddKernelCharts(page, run, d);
  std::vector<std::vector<std::string>> rows;
  for (const auto& r : PipeRows(run, d))
    rows.push_back({r.key, Fixed(r.busy_us), Fixed(100 * r.utilisation, 1) + " %",
                    std::to_string(r.instructions)});
  page.Heading("Pipes");
  page.Table({"pipe", "busy us", "utilisation", "instructions"}, rows);
  page.Paragraph("The per-pipe timeline is trace.json (open it in Perfetto).");
  return page;
}

void WriteKernelOutputs(const KernelRun& run, const DeviceConfig& d, const std::string& dir,
                        const TraceRecorder* trace) {
  std::filesystem::create_directories(dir);
  auto write = [&](const std::string& name, const std::string& text) {
    WriteFileOrThrow(dir + "/" + name, text);
  };
  write("metrics.json", KernelMetrics(run, d).dump(2) + "\n");
  std::string md = KernelReportMarkdown(run, d);
  if (trace && trace->dropped() > 0)
    md += "\n**trace.json is cut**: " + std::to_string(trace->size()) +
          " instruction slices kept, up to " + Fixed(trace->kept_until_us()) + " us of " +
          Fixed(run.launch.time_us) + " us; " + std::to_string(trace->dropped()) +
          " dropped (npusim kernel --trace-limit).\n";
  write("report.md", md);
  write("report.html", KernelPage(run, d).Render());
  write("op_summary.csv",
        OpSummaryCsv(run, d));  // also for a failed launch: its row names the failure
  if (trace && !run.extrapolated)
    trace->Write(dir + "/trace.json");  // an extrapolated launch has no timeline
  for (const auto& [name, t] : run.outputs) WriteNpy(dir + "/" + name + ".npy", t);
}

}  // namespace npusim
