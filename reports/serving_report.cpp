#include "reports/serving_report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "model/error.h"
#include "model/trace.h"
#include "reports/calibration_report.h"
#include "reports/charts.h"
#include "reports/compare_report.h"
#include "reports/format.h"
#include "reports/html.h"

namespace npusim {

namespace {

// A list key's items as the config wrote them: "1,2,4", "0.8,0.6,0.5".
template <class T>
std::string JoinNumbers(const std::vector<T>& v) {
  std::string o;
  for (const T& x : v) o += (o.empty() ? "" : ",") + FormatNumber(static_cast<double>(x));
  return o;
}

using Json = nlohmann::ordered_json;
using report::Tidy;
std::string F(double v, int digits = 2) { return report::Fixed(v, digits); }

// bench_serving's fields of one distribution: mean_<name>, median_<name>, std_<name> and the
// percentiles it writes (p99, p95 for ITL), plus p90 and max, which npusim adds.
void PutDist(Json& j, const std::string& name, const Dist& d, bool p95) {
  j["mean_" + name] = Tidy(d.mean);
  j["median_" + name] = Tidy(d.median);
  j["std_" + name] = Tidy(d.std);
  j["p90_" + name] = Tidy(d.p90);
  if (p95) j["p95_" + name] = Tidy(d.p95);
  j["p99_" + name] = Tidy(d.p99);
  j["max_" + name] = Tidy(d.max);
}

double Gib(int64_t b) { return static_cast<double>(b) / (1 << 30); }

Json DiffJson(const FunctionalDiff& d) {
  return Json{{"tokens_equal", d.tokens_equal},
              {"requests_diverged", d.requests_diverged},
              {"first_divergence", d.first_divergence_request < 0
                                       ? Json(nullptr)
                                       : Json{{"request", d.first_divergence_request},
                                              {"token", d.first_divergence_token}}},
              {"divergence_top2_margin",
               d.divergence_margin < 0 ? Json(nullptr) : Json(Tidy(d.divergence_margin))},
              {"max_state_diff_after_prefill", Tidy(d.max_state_diff)},
              {"max_conv_diff_after_prefill",
               std::isfinite(d.max_conv_diff) ? Json(Tidy(d.max_conv_diff)) : Json(nullptr)},
              {"max_first_logit_diff", Tidy(d.max_logit_diff)},
              {"max_state_diff_same_position", Tidy(d.max_checkpoint_state_diff)},
              {"positions_compared", d.checkpoints_compared}};
}

// `recurrent`: the model has GDN layers, whose states the diff compares (attention-only models
// have none: only tokens and logits are compared).
std::string DiffLine(const char* what, const FunctionalDiff& d, bool recurrent) {
  std::string o =
      std::string("- ") + what + ": tokens " + (d.tokens_equal ? "equal" : "differ") +
      (d.tokens_equal
           ? std::string()
           : " (" + std::to_string(d.requests_diverged) + " requests; first at request " +
                 std::to_string(d.first_divergence_request) + ", token " +
                 std::to_string(d.first_divergence_token) +
                 (d.divergence_margin >= 0
                      ? ", where the reference's top-2 logit margin is " +
                            F(d.divergence_margin, 4) +
                            (d.divergence_margin < d.max_logit_diff
                                 ? ", below the largest first-token logit difference"
                                 : "")
                      : std::string()) +
                 ")");
  char buf[256];
  if (recurrent)
    std::snprintf(buf, sizeof buf,
                  "; max |state diff| after prefill %.3g, at equal positions %.3g (%lld compared); "
                  "first-token logits %.3g",
                  d.max_state_diff, d.max_checkpoint_state_diff,
                  static_cast<long long>(d.checkpoints_compared), d.max_logit_diff);
  else
    std::snprintf(buf, sizeof buf, "; no recurrent state; first-token logits %.3g",
                  d.max_logit_diff);
  return o + buf;
}

// bench_serving's result line: its names, its order (sglang.bench_serving, --output-file).
void PutBenchServingFields(Json& j, const RunConfig& rc, const ServingMetrics& m) {
  j["backend"] = "npusim";
  j["dataset_name"] = rc.dataset_name;
  j["request_rate"] = std::isinf(rc.request_rate) ? Json("inf") : Json(Tidy(rc.request_rate));
  j["max_concurrency"] = rc.max_concurrency > 0 ? Json(rc.max_concurrency) : Json(nullptr);
  j["random_input_len"] = rc.random_input_len;
  j["random_output_len"] = rc.random_output_len;
  j["random_range_ratio"] = Tidy(rc.random_range_ratio);
  j["duration"] = Tidy(m.duration_s);
  j["completed"] = m.completed;
  j["total_input_tokens"] = m.input_tokens;
  j["total_output_tokens"] = m.output_tokens;
  j["request_throughput"] = Tidy(m.request_throughput);
  j["input_throughput"] = Tidy(m.input_throughput);
  j["output_throughput"] = Tidy(m.output_throughput);
  j["total_throughput"] = Tidy(m.total_throughput);
  PutDist(j, "e2e_latency_ms", m.e2e_ms, false);
  PutDist(j, "ttft_ms", m.ttft_ms, false);
  PutDist(j, "tpot_ms", m.tpot_ms, false);
  PutDist(j, "itl_ms", m.itl_ms, true);
  j["concurrency"] = Tidy(m.concurrency);
  j["accept_length"] = Tidy(m.accept_length);
  j["max_output_tokens_per_s"] = Tidy(m.max_output_tokens_per_s);
  j["max_concurrent_requests"] = m.max_concurrent_requests;
  j["prefix_cache"] = {{"enabled", !rc.disable_radix_cache},
                       {"cached_tokens", m.cached_tokens},
                       {"hit_rate", Tidy(m.cache_hit_rate)}};
}

// Replicated DP: each replica's share of the load behind the router.
Json ReplicasJson(const ServingResult& r, const RunConfig& rc) {
  Json reps = Json::array();
  const std::vector<ServingMetrics> per = PerReplicaMetrics(r);
  for (size_t k = 0; k < per.size(); ++k)
    reps.push_back({{"replica", k},
                    {"completed", per[k].completed},
                    {"output_throughput", Tidy(per[k].output_throughput)},
                    {"mean_ttft_ms", Tidy(per[k].ttft_ms.mean)},
                    {"mean_tpot_ms", Tidy(per[k].tpot_ms.mean)},
                    {"device_busy_share", Tidy(per[k].device_busy_share)}});
  return {{"count", r.replicas},
          {"load_balance_method", rc.load_balance_method},
          {"per_replica", reps}};
}

// PD: the pools, their parallel plans and use, and the KV hand-off.
Json DisaggregationJson(const ResolvedRun& s, const ServingMetrics& m) {
  Json pools = Json::array();
  for (size_t i = 0; i < m.pools.size(); ++i) {
    const ResolvedRun& ps = s.pools[i];
    pools.push_back({{"pool", m.pools[i].name},
                     {"replicas", m.pools[i].replicas},
                     {"tp_size", ps.plan.tp},
                     {"dp_size", ps.plan.dp},
                     {"ep_size", ps.plan.ep},
                     {"chips", m.pools[i].replicas * ps.plan.tp},
                     {"steps", m.pools[i].steps},
                     {"device_busy_share", Tidy(m.pools[i].device_busy_share)}});
  }
  Json d = {{"pools", pools},
            {"transfer_queue", s.run.disaggregation_transfer_queue},
            {"kv_transfer_gbps", Tidy(s.pools[1].device.link_kv_transfer_gbps)}};
  PutDist(d, "transfer_ms", m.transfer_ms, false);
  PutDist(d, "transfer_wait_ms", m.transfer_wait_ms, false);
  return d;
}

// What bench_serving cannot see: the load as configured and the --set overrides of this run.
Json LoadJson(const RunConfig& rc) {
  Json sets = Json::object();
  for (const auto& [k, v] : rc.overrides) sets[k] = v;
  Json load = {{"num_prompts", rc.num_prompts},
               {"dataset_path", rc.dataset_path},
               {"seed", rc.seed},
               {"overrides", sets}};
  if (rc.dataset_name == "generated-shared-prefix")
    load["gsp"] = {{"num_groups", rc.gsp_num_groups},
                   {"prompts_per_group", rc.gsp_prompts_per_group},
                   {"system_prompt_len", rc.gsp_system_prompt_len},
                   {"question_len", rc.gsp_question_len},
                   {"output_len", rc.gsp_output_len}};
  return load;
}

// The run's kernels, biggest first, with the corpus's check rows of each (workloads/fidelity.h).
std::vector<KernelCheck> RunKernelChecks(const ResolvedRun& s, const ServingResult& r) {
  std::vector<std::pair<std::string, double>> shares;
  for (const auto& [op, total] : charts::ByKernel(r.ops))
    shares.emplace_back(op, r.device_busy_us > 0 ? total.us / r.device_busy_us : 0);
  return KernelChecks(shares, s.device.soc, s.fidelity.recorded);
}

// The functional study: how the chunked and MTP runs' tokens differ from the reference's.
Json FunctionalJson(const ResolvedRun& s, const FunctionalStudy& f) {
  Json fj;
  fj["fault"] = s.run.fault;
  fj["chunked_vs_unchunked"] = DiffJson(f.chunked_vs_reference);
  if (f.has_mtp) {
    fj["mtp_vs_no_mtp"] = DiffJson(f.mtp_vs_chunked);
    fj["accept_length"] = Tidy(f.accept_length);
    Json rates = Json::array();
    for (double x : f.accept_rates) rates.push_back(Tidy(x));
    fj["accept_rates"] = rates;
  }
  Json errs;
  for (const FunctionalResult* run : {&f.reference, &f.chunked, &f.mtp})
    for (const auto& [op, e] : run->kernel_errors)
      errs[op] = Tidy(std::max(errs.contains(op) ? errs[op].get<double>() : 0.0, e));
  fj["kernel_max_error"] = errs;
  Json toks = Json::array();
  for (const auto& rq : (f.has_mtp ? f.mtp : f.chunked).requests) toks.push_back(rq.tokens);
  fj["generated_tokens"] = toks;
  return fj;
}

}  // namespace

Json ServingMetricsJson(const ResolvedRun& s, const ServingResult& r, const ServingMetrics& m,
                        const FunctionalStudy* f) {
  Json j;
  j["status"] = "ok";
  j["config"] = s.run.file;
  j["model"] = s.model.file;
  j["device"] = s.device.soc;
  j["parallel"] = {{"tp_size", s.plan.tp},
                   {"dp_size", s.plan.dp},
                   {"replicas", s.replicas},
                   {"ep_size", s.plan.ep},
                   {"moe_a2a_backend", s.plan.a2a ? "deepep" : "none"},
                   {"enable_dp_lm_head", s.plan.dp_lm_head}};
  j["mtp"] = s.run.Mtp() ? Json{{"algorithm", s.run.speculative_algorithm},
                                {"num_steps", s.run.speculative_num_steps},
                                {"num_draft_tokens", s.run.speculative_num_draft_tokens}}
                         : Json(nullptr);
  const RunConfig& rc = s.run;
  PutBenchServingFields(j, rc, m);
  if (r.replicas > 1) j["replicas"] = ReplicasJson(r, rc);
  if (!m.pools.empty()) j["disaggregation"] = DisaggregationJson(s, m);
  j["load"] = LoadJson(rc);
  j["steps"] = {{"total", m.steps},
                {"prefill", m.prefill_steps},
                {"decode", m.decode_steps},
                {"decode_step_ms", Tidy(m.decode_step_ms)},
                {"decode_device_ms", Tidy(m.decode_device_ms)},
                {"prefill_delayed_passes", r.prefill_delayed_passes}};
  j["device_busy_share"] = Tidy(m.device_busy_share);
  j["host_busy_s"] = Tidy(m.host_busy_s);
  j["mtp_commit"] = {{"ms_per_verify_step", Tidy(m.commit_ms_per_step)},
                     {"share_of_decode_step", Tidy(m.commit_share)}};
  Json mem;
  for (const auto& [k, v] : s.memory.Breakdown()) mem[k] = v;
  j["memory_per_rank_bytes"] = mem;
  j["kv_pool_tokens"] = s.memory.kv_tokens;
  Json ops = Json::array();
  for (const auto& [op, total] : charts::ByKernel(r.ops))
    ops.push_back({{"op", op},
                   {"device_ms", Tidy(total.us / 1e3)},
                   {"share", Tidy(r.device_busy_us > 0 ? total.us / r.device_busy_us : 0)}});
  j["kernel_share"] = ops;
  j["forward_shapes_simulated"] = r.forwards_simulated;
  j["host_profile"] = {
      {"name", s.host.name}, {"framework", s.host.framework}, {"file", s.host.source_file}};
  j["fidelity"] = FidelityJson(s.fidelity);
  Json kernels = Json::array();
  for (const KernelCheck& k : RunKernelChecks(s, r))
    kernels.push_back({{"op", k.op},
                       {"share", Tidy(k.share)},
                       {"basis", k.basis},
                       {"check_rows", k.rows},
                       {"median_abs_error", Tidy(k.median_abs)},
                       {"worst_abs_error", Tidy(k.worst_abs)},
                       {"median_time_error", Tidy(k.median_time_error)},
                       {"rows_simulated_faster", k.faster},
                       {"rows_simulated_slower", k.slower}});
  j["fidelity"]["kernels"] = kernels;
  if (f) j["functional"] = FunctionalJson(s, *f);
  return j;
}

namespace {

// tokens.csv of a functional study: each run's generated tokens per request.
void TokensCsv(std::ostream& out, const FunctionalStudy* f) {
  out << "request,run,tokens\n";
  auto dump = [&](const char* name, const FunctionalResult& run) {
    for (size_t i = 0; i < run.requests.size(); ++i) {
      out << i << "," << name << ",";
      for (size_t t = 0; t < run.requests[i].tokens.size(); ++t)
        out << (t ? " " : "") << run.requests[i].tokens[t];
      out << "\n";
    }
  };
  dump("unchunked", f->reference);
  dump("chunked", f->chunked);
  if (f->has_mtp) dump("mtp", f->mtp);
}

void RequestsCsv(std::ostream& out, const ServingResult& r) {
  out << "id,dp_group,input_len,output_len,arrival_ms,sent_ms,ttft_ms,tpot_ms,e2e_ms,verify_"
         "rounds,accept_length,cached_tokens,replica\n";
  for (const RequestRecord& q : r.requests) {
    const double tpot = TpotMs(q);
    out << q.id << "," << q.group << "," << q.input_len << "," << q.output_len << ","
        << F(q.arrival_us / 1e3, 3) << "," << F(q.sent_us / 1e3, 3) << "," << F(TtftMs(q), 3) << ","
        << F(tpot, 3) << "," << F((q.finish_us - q.sent_us) / 1e3, 3) << "," << q.verify_rounds
        << ","
        << F(q.verify_rounds
                 ? static_cast<double>(q.round_tokens) / static_cast<double>(q.verify_rounds)
                 : 0,
             3)
        << "," << q.cached_tokens << "," << q.replica << "\n";
  }
}

// Not msprof's op_summary: one row per kernel call and forward kind.
void KernelCallsCsv(std::ostream& out, const ServingResult& r) {
  out << "forward,op,where,params,launches,us_per_launch,total_ms,share\n";
  for (const OpTotal& o : r.ops)
    out << o.forward << "," << o.op << "," << o.where << ",\"" << o.params << "\"," << o.launches
        << "," << F(o.us_per_launch, 3) << "," << F(o.device_us / 1e3, 3) << ","
        << F(r.device_busy_us > 0 ? o.device_us / r.device_busy_us : 0, 5) << "\n";
}

void WriteServingTrace(const ResolvedRun& s, const ServingResult& r, const std::string& dir) {
  TraceRecorder t(2000000);
  // One host track and two device tracks per replica (replicated DP), named by replica when there
  // are several.
  t.NameProcess(1, "host", 1);
  t.NameProcess(2, "device (one rank)", 2);
  // PD: the prefill pool's replicas first, then the decode pool's, each track named by its pool.
  const int64_t prefill_replicas = r.pools.empty() ? 0 : r.pools[0].replicas;
  auto track = [&](const StepRecord& st) {
    return static_cast<int>(st.pool == 2 ? prefill_replicas + st.replica : st.replica);
  };
  const int64_t tracks = prefill_replicas + r.replicas;
  for (int64_t k = 0; k < tracks; ++k) {
    std::string who = r.replicas > 1 ? "replica " + std::to_string(k) + " " : "";
    if (!r.pools.empty())
      who = k < prefill_replicas ? "prefill " + std::to_string(k) + " "
                                 : "decode " + std::to_string(k - prefill_replicas) + " ";
    t.NameThread(1, static_cast<int>(k), who + "steps (schedule + issue)");
    t.NameThread(2, static_cast<int>(2 * k), who + "forwards");
    if (s.run.trace_kernels) t.NameThread(2, static_cast<int>(2 * k + 1), who + "kernels");
  }
  t.NameProcess(3, "requests", 3);
  const size_t shown = std::min<size_t>(r.requests.size(), 64);
  for (size_t i = 0; i < shown; ++i)
    t.NameThread(3, static_cast<int>(i), "request " + std::to_string(r.requests[i].id));
  for (const StepRecord& st : r.steps) {
    const double host_end = st.forwards.empty() ? st.end_us : st.forwards.back().issue_end_us;
    const int k = track(st);
    t.Slice(1, k,
            std::string(st.prefill ? "prefill" : "decode") + " step " + std::to_string(st.index) +
                " (" + std::to_string(st.requests) + " req)",
            st.start_us, host_end - st.start_us);
    for (const ForwardRecord& f : st.forwards) {
      t.Slice(2, 2 * k,
              ForwardKindName(f.kind) + std::string(" ") +
                  f.shape_key.substr(f.shape_key.find(' ') + 1) + (f.graph ? " graph" : " eager"),
              f.device_start_us, f.device_end_us - f.device_start_us);
      const auto& calls = r.shape_calls.at(f.shape_key);
      for (const LaunchRecord& l : f.launch_log)
        t.Slice(2, 2 * k + 1, calls[static_cast<size_t>(l.call)].op, l.start_us,
                l.end_us - l.start_us);
    }
  }
  for (size_t i = 0; i < shown; ++i) {
    const RequestRecord& q = r.requests[i];
    if (q.first_token_us < 0) continue;
    if (q.transfer_end_us >=
        0) {  // PD: the prefill pool, the wait for the decode pool, the KV on the link
      t.Slice(3, static_cast<int>(i), "waiting + prefill", q.sent_us, q.prefill_end_us - q.sent_us);
      if (q.transfer_start_us > q.prefill_end_us)
        t.Slice(3, static_cast<int>(i), "waiting for decode KV room", q.prefill_end_us,
                q.transfer_start_us - q.prefill_end_us);
      t.Slice(3, static_cast<int>(i), "KV transfer", q.transfer_start_us,
              q.transfer_end_us - q.transfer_start_us);
    } else {
      t.Slice(3, static_cast<int>(i), "waiting + prefill", q.sent_us, q.first_token_us - q.sent_us);
    }
    if (q.finish_us > q.first_token_us)
      t.Slice(3, static_cast<int>(i), "decode", q.first_token_us, q.finish_us - q.first_token_us);
  }
  t.Write(dir + "/trace.json");
}

}  // namespace

void WriteServingOutputs(const ResolvedRun& s, const ServingResult& r, const std::string& dir,
                         const FunctionalStudy* f, const std::string& charts_omitted_why) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) throw InputError("--out " + dir + ": " + ec.message());
  // Each file is built in memory and written whole (WriteFileOrThrow: a full disk is an error).
  std::map<std::string, std::ostringstream> files;
  const ServingMetrics m = ComputeMetrics(r);
  files["metrics.json"] << ServingMetricsJson(s, r, m, f).dump(2) << "\n";
  files["config.resolved.yaml"] << s.run.ResolvedYaml();
  if (f) TokensCsv(files["tokens.csv"], f);
  RequestsCsv(files["requests.csv"], r);
  KernelCallsCsv(files["kernel_calls.csv"], r);
  WriteServingTrace(s, r, dir);
  files["report.md"] << "# npusim serving run\n\n" << ServingSummary(s, r, m, f);
  for (const auto& [name, text] : files) WriteFileOrThrow(dir + "/" + name, text.str());
  html::Page page = ServingPage(s, r, m, f);
  if (!charts_omitted_why.empty()) page.OmitCharts(charts_omitted_why);
  page.Write(dir + "/report.html");
}

namespace {
// The load as bench_serving would be told it, and what the prefix cache made of it.
std::string LoadText(const RunConfig& c, const ServingMetrics& m) {
  const std::string client =
      ", request rate " + FormatNumber(c.request_rate) +
      (c.max_concurrency > 0 ? ", concurrency " + std::to_string(c.max_concurrency) : "");
  if (c.dataset_name == "trace")
    return "trace " + c.dataset_path + " (" + std::to_string(m.completed) + " requests)" + client;
  if (c.dataset_name == "generated-shared-prefix")
    return "generated-shared-prefix: " + std::to_string(c.gsp_num_groups) + " groups x " +
           std::to_string(c.gsp_prompts_per_group) + " prompts, system prompt " +
           std::to_string(c.gsp_system_prompt_len) + " + question " +
           std::to_string(c.gsp_question_len) + " tokens, output " +
           std::to_string(c.gsp_output_len) + client +
           (c.warmup_requests > 0 ? ", after a warm-up request" : "");
  return "random: " + std::to_string(c.num_prompts) + " prompts, input " +
         std::to_string(c.random_input_len) + ", output " + std::to_string(c.random_output_len) +
         " tokens (range ratio " + F(c.random_range_ratio, 2) + ")" + client;
}
std::string CacheText(const ResolvedRun& s, const ServingMetrics& m) {
  if (s.run.disable_radix_cache) return "off";
  const bool hybrid = s.model.count(LayerKind::kLinearAttention) >
                      0;  // the state-tracking strategy matters only there
  return "on" + (hybrid ? " (" + s.run.mamba_scheduler_strategy + ")" : std::string()) + ": " +
         std::to_string(m.cached_tokens) + " of " + std::to_string(m.input_tokens) +
         " prompt tokens cached, hit rate " + F(100 * m.cache_hit_rate, 1) + " %";
}
}  // namespace

html::Page ServingPage(const ResolvedRun& s, const ServingResult& r, const ServingMetrics& m,
                       const FunctionalStudy* f) {
  html::Page page("npusim serving run: " + std::filesystem::path(s.run.file).filename().string());
  page.Facts({{"config", s.run.file},
              {"model", s.model.file + " (" + s.model.model_type + ", " +
                            std::to_string(s.model.layers.size()) + " layers)"},
              {"device", s.device.soc},
              {"parallel", "tp " + std::to_string(s.plan.tp) + ", dp attention " +
                               std::to_string(s.plan.dp) + ", ep " + std::to_string(s.plan.ep) +
                               (s.plan.a2a ? ", MoE all-to-all" : ", MoE all-reduce")},
              {"MTP", s.run.Mtp() ? std::to_string(s.run.speculative_num_steps) + " steps, " +
                                        std::to_string(s.run.speculative_num_draft_tokens) +
                                        " draft tokens, accept length " + F(m.accept_length, 3)
                                  : "off"},
              {"load", LoadText(s.run, m)},
              {"prefix cache", CacheText(s, m)},
              {"replicas", r.replicas > 1
                               ? std::to_string(r.replicas) + " x tp " + std::to_string(s.plan.tp) +
                                     ", " + s.run.load_balance_method + " router"
                               : std::string("1")},
              {"requests", std::to_string(m.completed) + " in " + F(m.duration_s, 3) + " s"},
              {"throughput", F(m.output_throughput, 1) + " output tok/s, " +
                                 F(m.request_throughput, 3) + " req/s"},
              {"device busy", F(100 * m.device_busy_share, 1) + " % of the run; decode step " +
                                  F(m.decode_step_ms, 3) + " ms"}});
  page.Heading("Latency");
  std::vector<std::vector<std::string>> rows;
  auto row = [&](const char* name, const Dist& d) {
    rows.push_back({name, F(d.mean), F(d.median), F(d.p90), F(d.p99)});
  };
  row("TTFT (ms)", m.ttft_ms);
  row("TPOT (ms)", m.tpot_ms);
  row("ITL (ms)", m.itl_ms);
  row("E2E latency (ms)", m.e2e_ms);
  page.Table({"metric", "mean", "median", "p90", "p99"}, rows);
  std::vector<double> ttft, tpot;
  for (const RequestRecord& q : r.requests) {
    if (q.finish_us < 0) continue;
    ttft.push_back(TtftMs(q));
    if (q.output_len > 1) tpot.push_back(TpotMs(q));
  }
  page.AddChart(charts::Cdf({{"TTFT", ttft}}, "TTFT (ms)"), "TTFT distribution over requests");
  if (tpot.empty())  // every request stopped at its first token: there is no TPOT to draw
    page.Paragraph("TPOT distribution: no request produced a second token.");
  else
    page.AddChart(charts::Cdf({{"TPOT", tpot}}, "TPOT (ms)"), "TPOT distribution over requests");
  page.Heading("Over the run");
  page.AddChart(charts::RequestsOverTime(r),
                "Requests in each step's batch and requests still waiting for their first token "
                "(at each step's start)");
  page.AddChart(charts::StepTimeOverTime(r), "Time of each step (host issue to results back)");
  page.Heading("Kernels (one rank)");
  const auto kernels = charts::ByKernel(r.ops);
  page.AddChart(charts::KernelShare(kernels, r.device_busy_us), "Share of device time per kernel");
  std::vector<std::vector<std::string>> checks;
  for (const KernelCheck& k : RunKernelChecks(s, r))
    if (k.share >= 0.01) checks.push_back({k.op, F(100 * k.share, 1) + " %", k.Summary()});
  page.Table({"kernel (1 % of device time or more)", "share", "corpus check rows of the kernel"},
             checks);
  page.AddChart(charts::PipeUtilisation(kernels),
                "Pipe utilisation per kernel (busy time of each pipe, % of the kernel's time)");
  page.AddChart(charts::RooflinePosition(kernels),
                "Roofline position: roofline time as % of the simulated time, [bound resource]");
  page.Heading("HBM per rank");
  page.AddChart(charts::MemoryBreakdown(s.memory.Breakdown()),
                "HBM plan per rank; KV pool " + std::to_string(s.memory.kv_tokens) + " tokens");
  if (f) {
    page.Heading("Functional runs");
    page.Paragraph(
        "Every forward ran through the kernels; report.md and metrics.json give the comparisons "
        "(tokens, first divergence, state and logits differences, kernel errors).");
  }
  page.Paragraph("Device time is one rank's (symmetric ranks simulated once); " +
                 std::to_string(r.forwards_simulated) +
                 " distinct forward shapes were simulated (shapes bucketed 8 per octave).");
  return page;
}

namespace {

// The setup: config, parallel plan, MTP and graphs, load, replicas and PD pools.
std::string SummarySetup(const ResolvedRun& s, const ServingResult& r, const ServingMetrics& m) {
  std::string o;
  auto line = [&](const std::string& x) { o += x + "\n"; };
  const RankShapes& rs = s.shapes;
  const bool recurrent = s.model.count(LayerKind::kLinearAttention) > 0;
  const RunConfig& server =
      s.pools.empty() ? s.run : s.pools[1].run;  // PD: the decode pool's server arguments
  line("- config: `" + s.run.file + "`, model `" + s.model.file + "` (" + s.model.model_type +
       ", " + std::to_string(s.model.layers.size()) + " layers), device " + s.device.soc);
  line("- parallel: tp " + std::to_string(s.plan.tp) + ", dp attention " +
       std::to_string(s.plan.dp) + " (attention TP " + std::to_string(rs.attn_tp) + "), ep " +
       std::to_string(s.plan.ep) + ", MoE " + (s.plan.a2a ? "all-to-all (deepep)" : "all-reduce") +
       (s.plan.dp_lm_head ? ", DP lm_head" : "") + (s.pools.empty() ? "" : " (decode pool)"));
  line("- MTP: " +
       (s.run.Mtp()
            ? s.run.speculative_algorithm + ", " + std::to_string(s.run.speculative_num_steps) +
                  " steps, " + std::to_string(s.run.speculative_num_draft_tokens) +
                  " draft tokens, accept rates " + JoinNumbers(s.run.speculative_accept_rates) +
                  " (timing-only)"
            : std::string("off")) +
       (recurrent ? "; GDN decode " + s.run.gdn_decode_impl : std::string()) + "; graphs " +
       (server.disable_cuda_graph ? std::string("off (eager)")
                                  : "for batch " + JoinNumbers(server.cuda_graph_bs)) +
       (s.pools.empty() ? "" : " (decode pool)"));
  line("- load: " + LoadText(s.run, m) + "; prefix cache " + CacheText(s, m));
  if (r.replicas > 1) {
    std::string reps;
    const std::vector<ServingMetrics> per = PerReplicaMetrics(r);
    for (size_t k = 0; k < per.size(); ++k)
      reps += (k ? "; " : "") + std::string("replica ") + std::to_string(k) + ": " +
              std::to_string(per[k].completed) + " requests, " + F(per[k].output_throughput, 1) +
              " output tok/s, mean TTFT " + F(per[k].ttft_ms.mean) + " ms";
    line(std::string(s.pools.empty() ? "" : "- decode pool,") +
         (s.pools.empty() ? "- replicated DP: " : " replicated DP: ") + std::to_string(r.replicas) +
         " replicas of tp " + std::to_string(s.plan.tp) + " (" + s.run.load_balance_method +
         " router, " + std::to_string(r.replicas * s.plan.tp) + " chips): " + reps);
  }
  if (!m.pools.empty()) {
    std::string pools;
    for (size_t i = 0; i < m.pools.size(); ++i) {
      const ResolvedRun& ps = s.pools[i];
      pools += (i ? "; " : "") + m.pools[i].name + " " + std::to_string(m.pools[i].replicas) +
               " x tp " + std::to_string(ps.plan.tp) +
               (ps.plan.dp > 1 ? " dp " + std::to_string(ps.plan.dp) : std::string()) +
               ", device busy " + F(100 * m.pools[i].device_busy_share, 1) + " %";
    }
    line("- PD disaggregation: " + pools + "; KV hand-off " + F(m.transfer_ms.mean) +
         " ms mean on the link (p99 " + F(m.transfer_ms.p99) + "), " + F(m.transfer_wait_ms.mean) +
         " ms mean wait before it (decode KV room, " +
         std::to_string(s.run.disaggregation_transfer_queue) +
         " transfers at most); TTFT includes both");
  }
  return o;
}

// The latency table, then throughput, steps, prefix cache, MTP, memory and fidelity.
std::string SummaryResults(const ResolvedRun& s, const ServingResult& r, const ServingMetrics& m) {
  std::string o;
  auto line = [&](const std::string& x) { o += x + "\n"; };
  const bool recurrent = s.model.count(LayerKind::kLinearAttention) > 0;
  line("| metric | mean | median | p90 | p99 |");
  line("|---|---|---|---|---|");
  auto row = [&](const char* name, const Dist& d) {
    line(std::string("| ") + name + " | " + F(d.mean) + " | " + F(d.median) + " | " + F(d.p90) +
         " | " + F(d.p99) + " |");
  };
  row("TTFT (ms)", m.ttft_ms);
  row("TPOT (ms)", m.tpot_ms);
  row("ITL (ms)", m.itl_ms);
  row("E2E latency (ms)", m.e2e_ms);
  line("");
  line("- " + std::to_string(m.completed) + " requests in " + F(m.duration_s, 3) +
       " s: " + F(m.request_throughput, 3) + " req/s, " + F(m.output_throughput, 1) +
       " output tok/s, " + F(m.input_throughput, 1) + " input tok/s");
  line("- steps: " + std::to_string(m.prefill_steps) + " prefill, " +
       std::to_string(m.decode_steps) + " decode" + (s.run.Mtp() ? " rounds" : "") +
       "; decode step " + F(m.decode_step_ms, 3) + " ms of which device busy " +
       F(m.decode_device_ms, 3) + " ms; device busy " + F(100 * m.device_busy_share, 1) +
       " % of the run" +
       (s.run.enable_prefill_delayer ? "; the prefill delayer held new requests back for " +
                                           std::to_string(r.prefill_delayed_passes) + " passes"
                                     : ""));
  if (m.cached_tokens > 0)
    line("- prefix cache: " + std::to_string(m.cached_tokens) + " of " +
         std::to_string(m.input_tokens) + " prompt tokens were cached (hit rate " +
         F(100 * m.cache_hit_rate, 1) + " %) and not computed");
  if (s.run.Mtp())
    line("- MTP: accept length " + F(m.accept_length, 3) +
         (recurrent ? "; state commit (move_intermediate_cache + conv_state_rollback) " +
                          F(m.commit_ms_per_step, 3) + " ms per verify step, " +
                          F(100 * m.commit_share, 1) + " % of the decode round"
                    : std::string("")));
  std::string mem;
  for (const auto& [k, v] : s.memory.Breakdown())
    mem += (mem.empty() ? "" : ", ") + k + " " + F(Gib(v)) + " GiB";
  line("- HBM per rank: " + mem + "; KV pool " + std::to_string(s.memory.kv_tokens) + " tokens");
  line("- host profile " + s.host.name + "; fidelity: " + s.fidelity.Summary());
  line("");
  return o;
}

// The kernel share, each kernel with what the corpus's kernel rows of it say (fidelity).
std::string KernelShareTable(const ResolvedRun& s, const ServingResult& r) {
  std::string o;
  auto line = [&](const std::string& x) { o += x + "\n"; };
  line("| kernel | device ms | share | corpus check rows of the kernel |");
  line("|---|---|---|---|");
  const auto kernels = charts::ByKernel(r.ops);
  const auto checks = RunKernelChecks(s, r);  // the same kernels in the same order
  for (size_t i = 0; i < kernels.size() && i < 12; ++i)
    line("| " + kernels[i].first + " | " + F(kernels[i].second.us / 1e3, 1) + " | " +
         F(100 * checks[i].share, 1) + " % | " + checks[i].Summary() + " |");
  line("");
  return o;
}

// The functional study: what chunking, MTP or a fault changed in the tokens and states.
std::string FunctionalSummary(const ResolvedRun& s, const FunctionalStudy& f) {
  std::string o;
  auto line = [&](const std::string& x) { o += x + "\n"; };
  const bool recurrent = s.model.count(LayerKind::kLinearAttention) > 0;
  line("Functional runs (every forward through the kernels" +
       std::string(
           s.run.fault == "none" ? "" : "; fault " + s.run.fault + " in the chunked and MTP runs") +
       "):");
  line("");
  const std::string chunk =
      s.run.chunked_prefill_size > 0
          ? "chunked (" + std::to_string(s.run.chunked_prefill_size) + "-token chunks)"
          : "unchunked";
  line(DiffLine(
      s.run.fault == "none"
          ? (s.run.chunked_prefill_size > 0
                 ? chunk + " vs unchunked prefill"
                 : std::string("run vs its unchunked reference (a determinism check)"))
                .c_str()
          : (chunk + " with fault " + s.run.fault + " vs the clean unchunked reference").c_str(),
      f.chunked_vs_reference, recurrent));
  if (f.has_mtp) {
    line(DiffLine("MTP vs no MTP", f.mtp_vs_chunked, recurrent));
    line("- the model's own draft: accept length " + F(f.accept_length, 3) +
         ", the timed run uses its per-position rates");
  }
  std::map<std::string, double> errs;
  for (const FunctionalResult* run : {&f.reference, &f.chunked, &f.mtp})
    for (const auto& [op, e] : run->kernel_errors) errs[op] = std::max(errs[op], e);
  std::string e;
  for (const auto& [op, v] : errs) {
    char buf[96];
    std::snprintf(buf, sizeof buf, "%s %.2g", op.c_str(), v);
    e += (e.empty() ? "" : ", ") + std::string(buf);
  }
  line("- kernel error vs fp64 reference (max |err| / max |ref|): " + e);
  line("");
  return o;
}

}  // namespace

std::string ServingSummary(const ResolvedRun& s, const ServingResult& r, const ServingMetrics& m,
                           const FunctionalStudy* f) {
  // GDN layers (`recurrent` in the parts): their kernels, state commit and state diffs.
  return SummarySetup(s, r, m) + "\n" + SummaryResults(s, r, m) + KernelShareTable(s, r) +
         (f ? FunctionalSummary(s, *f) : std::string()) +
         "Device time is one rank's (symmetric ranks simulated once); " +
         std::to_string(r.forwards_simulated) +
         " distinct forward shapes were simulated (shapes bucketed 8 per octave).\n";
}

void WriteFailedRunOutputs(const RunConfig& rc, const std::string& config, const SimFailure& e,
                           const std::string& dir) {
  WriteFileOrThrow(
      dir + "/metrics.json",
      nlohmann::ordered_json{{"status", e.status()}, {"message", e.what()}, {"config", config}}
              .dump(2) +
          "\n");
  WriteFileOrThrow(dir + "/config.resolved.yaml", rc.ResolvedYaml());
}

void AppendResultLine(const std::string& file, const ResolvedRun& s, const ServingResult& r,
                      const FunctionalStudy* f) {
  const std::string line = BenchServingLine(ServingMetricsJson(s, r, ComputeMetrics(r), f)) + "\n";
  std::ofstream j(file, std::ios::app);
  j.write(line.data(), static_cast<std::streamsize>(line.size()));
  j.flush();
  if (!j) throw OutputError("--result-jsonl " + file + ": cannot append");
}

}  // namespace npusim
