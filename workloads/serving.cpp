#include "workloads/serving.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <deque>
#include <limits>
#include <memory>
#include <systemc>
#include <utility>

#include "model/error.h"
#include "model/rng.h"
#include "ops/runner.h"
#include "workloads/scheduler.h"

namespace npusim {

void ProfileTotal::Add(const KernelProfile& p, int64_t launches) {
  const double n = static_cast<double>(launches);
  us += p.us * n;
  roofline_us += p.roofline_us * n;
  cube_flops += p.cube_flops * n;
  hbm_bytes += p.hbm_bytes * n;
  bound_us[p.bound] += p.us * n;
  for (size_t i = 0; i < busy_us.size(); ++i) busy_us[i] += p.busy_us[i] * n;
}

void ProfileTotal::Add(const ProfileTotal& o) {
  us += o.us;
  roofline_us += o.roofline_us;
  cube_flops += o.cube_flops;
  hbm_bytes += o.hbm_bytes;
  for (const auto& [b, t] : o.bound_us) bound_us[b] += t;
  for (size_t i = 0; i < busy_us.size(); ++i) busy_us[i] += o.busy_us[i];
}

int64_t ShapeBucket(int64_t x, int64_t min_step) {
  if (x <= 0) return 0;
  int64_t step = 1;
  while (step * 16 <= x) step *= 2;  // 2^(floor(log2 x) - 3)
  step = std::max(step, min_step);
  return (x + step - 1) / step * step;
}

ResolvedRun ResolveRun(const RunConfig& run) {
  if (run.Disaggregated()) {
    // Each pool is prepared as the server it is (its own plan, memory and graphs); the run keeps
    // the decode pool's view for what reports show once, and the load.
    ResolvedRun prefill = ResolveRun(run.Pool("prefill")), decode = ResolveRun(run.Pool("decode"));
    if (prefill.model.file != decode.model.file)
      throw std::logic_error("PD pools read different models");
    if (prefill.run.page_size != decode.run.page_size)
      throw InputError(run.file + ": the pools' page_size differ (" +
                       std::to_string(prefill.run.page_size) + " vs " +
                       std::to_string(decode.run.page_size) +
                       "): the KV moves page by page and both must use one size");
    if (prefill.run.Mtp() != decode.run.Mtp())
      throw InputError(run.file +
                       ": speculative decoding must be set for both pools or neither (the prefill "
                       "pool runs the draft's extend)");
    ResolvedRun s = decode;
    s.run = run;
    s.requests = GenerateRequests(run);
    prefill.requests.clear();
    decode.requests.clear();
    s.pools = {std::move(prefill), std::move(decode)};
    return s;
  }
  ResolvedRun s;
  s.run = run;
  s.host = run.Host();
  s.model = LoadModelConfig(run.ModelPath());
  s.replicas = run.Replicas();
  s.device = LoadDevice(run.device);
  s.plan = run.Plan();
  s.shapes = ShapesPerRank(s.model, s.plan);
  // The fused AscendC recurrent op is instantiated for a bf16 state only (kernels.md §3.5): say so
  // before any step, not at the first decode step's launch.
  if (s.model.count(LayerKind::kLinearAttention) > 0 && run.gdn_decode_impl == "fused" &&
      run.mamba_ssm_dtype == "float32")
    throw InputError(run.At("mamba_ssm_dtype") +
                     ": mamba_ssm_dtype float32 with gdn_decode_impl fused: the fused recurrent op "
                     "(npu_recurrent_gated_delta_rule) takes a bfloat16 state only; use "
                     "mamba_ssm_dtype bfloat16 or gdn_decode_impl "
                     "triton_chain");
  if (run.Mtp() && !run.Eagle3() && s.model.mtp_layers == 0)
    throw InputError(run.At("speculative_algorithm") +
                     ": speculative_algorithm NEXTN needs a model with MTP layers (" +
                     s.model.file +
                     " has none); a separate draft model is speculative_algorithm EAGLE3 with "
                     "speculative_draft_model_path");
  s.ssm_dtype = SsmPoolDtype(run.mamba_ssm_dtype, run.gdn_decode_impl, s.model);
  MemoryOptions mo = run.Memory();
  mo.ssm_dtype = s.ssm_dtype;
  if (run.Eagle3()) {
    s.eagle3_draft = LoadModelConfig(run.DraftModelPath());
    if (!s.eagle3_draft->eagle3)
      throw InputError(run.DraftModelPath() +
                       ": not an EAGLE3 draft model (architectures names no *Eagle3 class)");
    if (s.eagle3_draft->target_hidden != s.model.hidden)
      throw InputError(run.DraftModelPath() + ": target_hidden_size " +
                       std::to_string(s.eagle3_draft->target_hidden) +
                       " does not match the model's hidden_size " + std::to_string(s.model.hidden));
    mo.eagle3_draft = &*s.eagle3_draft;
  }
  s.memory = PlanMemory(s.model, s.plan, s.device, mo);
  if (s.memory.max_running < mo.max_running_requests)
    spdlog::warn(
        "max_running_requests: {} per DP group, capped at {} by the mamba pool ({} slots, {} per "
        "running request with the radix cache)",
        mo.max_running_requests, s.memory.max_running, s.memory.slots,
        s.memory.slots / std::max<int64_t>(1, s.memory.max_running));
  s.requests = GenerateRequests(run);
  s.fidelity = FidelityFor(s.model.file, "", s.device.soc, ParallelSetup(run), s.device.source_file,
                           s.host.source_file, run.quantization);
  return s;
}

int64_t ResolvedRun::TransferBytesPerRank(int64_t input_len) const {
  auto side = [&](const ResolvedRun& p) {
    return input_len * p.memory.kv_per_token + p.memory.swa_kv_per_request +
           p.memory.mamba_per_request;
  };
  return pools.size() == 2 ? std::max(side(pools[0]), side(pools[1])) : 0;
}

double ResolvedRun::TransferStreamUs(int64_t input_len) const {
  if (pools.size() != 2) return 0;
  return static_cast<double>(TransferBytesPerRank(input_len)) /
         (pools[1].device.link_kv_transfer_gbps * 1e3);  // GB/s = 1e3 B/us
}

namespace {

using sc_core::SC_PS;
using sc_core::sc_time;

sc_time Us(double us) { return sc_time(std::llround(us * 1e6), SC_PS); }
// Simulated times are doubles in us and SystemC ticks of 1 ps: a moment within one tick of now is
// now (a wait until `t` can end half a tick before t, and a test `t > now` would then never pass).
constexpr double kTickUs = 1e-6;

struct PlannedForward {
  ForwardKind kind = ForwardKind::kDecode;
  StepShape shape;
  bool graph = false;
};

// The plain-C++ side of the engine: scheduling, forward shapes and their cost, bookkeeping.
class Engine {
 public:
  struct Transfer {  // PD: a request's KV on the link until end_us
    int64_t id;
    double end_us;
  };
  // One replica of the model (replicated DP runs several, each with its own scheduler, host and
  // device; every request reaches exactly one of them).
  // `pool`: 0 a unified server, 1 a PD prefill replica (a request leaves it with its first token),
  // 2 a PD decode replica (requests arrive with their prompt computed, their KV to move).
  Engine(const ResolvedRun& s, KernelTimer& t, int64_t replica, int pool = 0)
      : s_(s),
        timer_(t),
        replica_(replica),
        pool_(pool),
        sched_(SchedConfig(s, pool)),
        accept_rng_(static_cast<uint64_t>(s.run.seed) * 7919 + 5 +
                    static_cast<uint64_t>(replica) * 104729) {
    graph_bs_ = s.run.cuda_graph_bs;
    std::sort(graph_bs_.begin(), graph_bs_.end());
    if (s.run.disable_cuda_graph) graph_bs_.clear();
    log_launches_ = s.run.trace_kernels;
    rates_ = s.run.AcceptRates();
  }

  static SchedulerConfig SchedConfig(const ResolvedRun& s, int pool) {
    SchedulerConfig c;
    c.hold_finished =
        pool == 1;  // PD: the prefill server keeps a request's KV until it has been sent
    c.dp = s.plan.dp;
    // Over all groups, so that the scheduler's per-group cap is the resolved one (the mamba pool
    // may allow fewer running requests than asked; SGLang caps them the same way).
    c.max_running_requests = s.group_request_cap() * std::max<int64_t>(1, s.plan.dp);
    c.chunked_prefill_size = s.run.chunked_prefill_size;
    c.max_prefill_tokens = s.run.max_prefill_tokens;
    c.page_size = s.run.page_size;
    c.kv_tokens = s.model.count(LayerKind::kFullAttention)
                      ? s.memory.kv_tokens
                      : std::numeric_limits<int64_t>::max() / 4;
    c.mixed_chunk = s.run.enable_mixed_chunk;
    c.prefill_max_requests = s.run.prefill_max_requests;
    c.prefill_delayer =
        pool != 2 && s.run.enable_prefill_delayer;  // SGLang ignores it on a decode server
    c.prefill_delayer_max_passes = s.run.prefill_delayer_max_delay_passes;
    c.prefill_delayer_queue_min_ratio = s.run.prefill_delayer_queue_min_ratio;
    c.prefill_delayer_max_delay_ms = s.run.prefill_delayer_max_delay_ms;
    c.prefix_cache = !s.run.disable_radix_cache;
    c.hybrid_states = s.model.count(LayerKind::kLinearAttention) > 0;
    c.track_interval =
        s.run.mamba_scheduler_strategy == "extra_buffer" ? s.run.mamba_track_interval : 0;
    c.state_slots = s.memory.snapshot_slots;
    return c;
  }

  // bench_serving's warm-up request is the load's first prompt, sent alone before the timed run.
  void Warm(const std::vector<Request>& load) {
    if (s_.run.warmup_requests > 0 && !load.empty()) sched_.Warm(load.front().prompt);
  }

  // Client side.
  void Send(const Request& r, double now) {
    RequestRecord rec;
    rec.id = r.id;
    rec.input_len = r.input_len;
    rec.output_len = r.output_len;
    rec.arrival_us = r.arrival_us;
    rec.sent_us = now;
    rec.replica = replica_;
    rec.group = static_cast<int64_t>(result_.requests.size()) %
                std::max<int64_t>(1, s_.plan.dp);  // DP-attention groups in turn
    index_[r.id] = result_.requests.size();
    result_.requests.push_back(rec);
    // The front end (HTTP, tokenization, the hand-off to the engine process) holds each request
    // for request_us on its own: requests sent together become schedulable together.
    fronting_.push_back(
        {now + s_.host.request_us, r.id, r.input_len, pool_ == 1 ? 1 : r.output_len, r.prompt});
    AdmitFronted(now);
    ++in_flight_;
  }

  // PD decode replica: a request the prefill pool finished at `now`. It waits for KV room and a
  // transfer slot (MoveTransfers, at the next step formed, as SGLang's decode loop polls its
  // queues once per iteration); its first token reaches the client when its KV has arrived.
  void Receive(const RequestRecord& pre, double now, const ResolvedRun& run) {
    RequestRecord rec = pre;
    rec.replica = replica_;
    rec.prefill_replica = pre.replica;
    rec.prefill_end_us = now;
    rec.first_token_us = rec.finish_us = -1;
    rec.token_times_us.clear();
    index_[rec.id] = result_.requests.size();
    result_.requests.push_back(rec);
    pending_.push_back({rec.id, run.TransferStreamUs(rec.input_len)});
    ++in_flight_;
  }
  // PD prefill replica: request `id`'s KV has been sent by `end_us` and can be freed then.
  void ReleaseAt(int64_t id, double end_us) { releases_.push_back({id, end_us}); }
  // PD decode replica: the transfers started since the last call (the prefill side frees their KV).
  std::vector<Transfer> TakeStarted() { return std::exchange(started_, {}); }
  // The earliest moment a transfer in flight completes, held KV is freed or a request leaves the
  // front end (+inf: none).
  double NextWakeUs() const {
    double t = std::numeric_limits<double>::infinity();
    if (!fronting_.empty()) t = fronting_.front().ready_us;
    for (const Transfer& x : moving_) t = std::min(t, x.end_us);
    for (const Transfer& x : releases_) t = std::min(t, x.end_us);
    return t;
  }
  const RequestRecord& record(int64_t id) const { return result_.requests[index_.at(id)]; }
  const std::vector<int64_t>& last_finished() const { return last_finished_; }
  int64_t in_flight() const { return in_flight_; }
  int64_t done() const { return done_; }

  // Host side: the next step, or false when nothing can run.
  bool Form(double now) {
    AdmitFronted(now);
    if (pool_ == 2) MoveTransfers(now);
    if (pool_ == 1) FreeSent(now);
    batch_ = sched_.Next(now);
    if (batch_.empty()) return false;
    step_ = StepRecord{};
    step_.index = static_cast<int64_t>(result_.steps.size());
    step_.prefill = batch_.prefill;
    step_.start_us = now;
    for (const auto& g : batch_.groups)
      for (const BatchEntry& e : g) {
        ++step_.requests;
        step_.new_tokens += e.new_tokens;
        step_.decode_requests += e.decode;
      }
    planned_ = Plan(batch_);
    return true;
  }

  // A round's draft steps replay one captured graph (SGLang's EAGLEDraftCudaGraphRunner captures
  // the loop over speculative_num_steps), every other graph forward one of its own.
  bool OneGraph(size_t a, size_t b) const {
    return planned_[a].graph && planned_[b].graph && planned_[a].kind == ForwardKind::kDraft &&
           planned_[b].kind == ForwardKind::kDraft;
  }

  // Issue times (host) and durations (device) of every launch of the step, forwards in order.
  // A call of several launches is issued over [issue_us, last_issue_us]: the device may start on
  // its first launch as soon as that one is issued, and finishes its last (tail_us of device
  // time, the call's average per launch) no earlier than that one's issue.
  struct Launch {
    double issue_us, dur_us;
    int forward, call;
    double last_issue_us, tail_us;
  };
  // The host clock runs launch by launch beside a device clock, so a launch that makes the host
  // wait for the device (an eager DeepEP dispatch: the host reads the receive counts before it
  // can size the next buffers) stalls the issue of everything after it. The device is idle when
  // a step is issued: the host waits for the previous step's results.
  std::vector<Launch> Issue(double now, double& host_end) {
    const HostProfile& h = s_.host;
    std::vector<Launch> out;
    double t = now + h.step_us;
    for (const PlannedForward& pf : planned_)
      if (pf.kind == ForwardKind::kVerify) t += h.mtp_round_us;
    double dev = now;
    double refreshed = 0;  // host: when the current replay's last parameter refresh is done
    for (size_t f = 0; f < planned_.size(); ++f) {
      const PlannedForward& pf = planned_[f];
      const Forward& fw = Get(pf);
      const bool more_of_graph = f > 0 && OneGraph(f - 1, f);
      const bool graph_ends = pf.graph && !(f + 1 < planned_.size() && OneGraph(f, f + 1));
      ForwardRecord fr;
      fr.kind = pf.kind;
      fr.batch = pf.shape.batch;
      fr.tokens = pf.shape.tokens;
      fr.prefix = pf.shape.prefix;
      fr.graph = pf.graph;
      fr.launches = static_cast<int64_t>(fw.order.size());
      fr.issue_start_us = t;
      fr.shape_key = Key(pf);
      if (pf.graph && !more_of_graph) {
        // The device may start once the replay is submitted; the attention launches' parameter
        // refreshes run one after another, beside the replay call or after it.
        refreshed = h.graph_update_during_replay ? t : t + h.graph_replay_us;
        t += h.graph_replay_us;
      }
      // Glue launches (copies, casts, slices the framework issues between the modelled kernels)
      // are spread evenly over the forward's kernel launches; their device time is not modelled.
      const double glue_per_launch =
          fw.device_launches > 0 ? h.glue_launches_per_layer * static_cast<double>(fw.layers) /
                                       static_cast<double>(fw.device_launches)
                                 : 0;
      for (int call : fw.order) {
        const size_t c = static_cast<size_t>(call);
        const KernelProfile& prof = fw.profiles[c];
        const double n = static_cast<double>(std::max<int64_t>(1, prof.launches));
        double first = t;
        if (!pf.graph) {
          // A torch op of a Python composite costs the host torch_op_us; a kernel launch
          // launch_us and its share of the framework's glue launches.
          const double torch = static_cast<double>(prof.torch_ops),
                       kernel_us = h.launch_us * (1 + glue_per_launch);
          first = t + (prof.torch_ops > 0 ? h.torch_op_us : kernel_us);
          t += kernel_us * (static_cast<double>(prof.launches) - torch) + h.torch_op_us * torch;
        }
        const double dur = fw.call_us[c];
        double ready = pf.graph ? t : first, last = t;
        if (pf.graph && RefreshedBeforeReplay(fw.calls[c])) {
          refreshed += h.graph_update_us;
          ready = last = std::max(t, refreshed);
          ++fr.graph_refreshes;
        }
        out.push_back({ready, dur, static_cast<int>(f), call, last, dur / n});
        dev = std::max(std::max(dev, ready) + dur, last + dur / n);
        if (!pf.graph && fw.calls[c].host_reads_result && h.a2a_normal_host_sync) {
          t = std::max(t, dev);
          ++fr.host_syncs;
        }
      }
      if (graph_ends) t = std::max(t, refreshed);  // the host is done when its refreshes are
      fr.issue_end_us = t;
      for (size_t c = 0; c < fw.calls.size(); ++c)
        if (fw.calls[c].where == "commit")
          fr.commit_us += fw.call_us[c] * static_cast<double>(fw.calls[c].count);
      step_.forwards.push_back(fr);
      Account(pf.kind, fw);
    }
    result_.host_busy_us += t - now;
    host_end = t;
    return out;
  }

  // Device side: each launch starts when issued and when the previous one has finished.
  double Execute(const std::vector<Launch>& launches, double device_free) {
    double t = device_free;
    for (const Launch& l : launches) {
      const double start = std::max(t, l.issue_us);
      t = std::max(start + l.dur_us, l.last_issue_us + l.tail_us);
      ForwardRecord& fr = step_.forwards[static_cast<size_t>(l.forward)];
      if (fr.device_busy_us == 0 && fr.device_start_us == 0) fr.device_start_us = start;
      fr.device_end_us = t;
      fr.device_busy_us += l.dur_us;
      result_.device_busy_us += l.dur_us;
      if (log_launches_) fr.launch_log.push_back({l.call, start, t});
    }
    return t;
  }

  // After the step's results are back on the host.
  void Finish(double now) {
    step_.end_us = now;
    std::vector<int64_t> got;
    for (const auto& g : batch_.groups)
      for (const BatchEntry& e : g) {
        RequestRecord& rec = result_.requests[index_.at(e.request)];
        if (e.decode) {
          const int64_t left = rec.output_len - static_cast<int64_t>(rec.token_times_us.size());
          int64_t n = 1;
          if (s_.run.Mtp()) {
            for (int64_t i = 0; i + 1 < s_.run.speculative_num_draft_tokens; ++i) {
              const double p = rates_[std::min(static_cast<size_t>(i), rates_.size() - 1)];
              if (accept_rng_.Uniform() >= p) break;
              ++n;
            }
            ++rec.verify_rounds;
            rec.round_tokens += n;
          }
          n = std::min(n, left);
          got.push_back(n);
          for (int64_t k = 0; k < n; ++k) rec.token_times_us.push_back(now);
        } else if (e.completes_prefill) {
          rec.first_token_us = now;
          rec.token_times_us.push_back(now);
        }
      }
    const std::vector<int64_t> finished = sched_.Complete(batch_, got);
    last_finished_ = finished;
    for (const auto& g : batch_.groups)  // admitted now: what its prompt found in the cache
      for (const BatchEntry& e : g)
        if (!e.decode)
          result_.requests[index_.at(e.request)].cached_tokens = sched_.cached_tokens(e.request);
    for (int64_t id : finished) {
      result_.requests[index_.at(id)].finish_us = now;
      ++done_;
      --in_flight_;
    }
    step_.replica = replica_;
    step_.pool = pool_;
    result_.steps.push_back(std::move(step_));
  }

  ServingResult Take(double end) {
    result_.duration_us = end;
    result_.forwards_simulated = static_cast<int64_t>(memo_.size());
    result_.prefill_delayed_passes = sched_.delayed_passes();
    for (const auto& [key, fw] : memo_) result_.shape_calls[key] = fw.calls;
    return std::move(result_);
  }

  const StepRecord& step() const { return step_; }

 private:
  std::string Key(const PlannedForward& pf) const {
    static const char* kQuant[] = {"", " w8a8", " w4a8"};
    return ForwardKindName(pf.kind) + std::string(kQuant[static_cast<int>(pf.shape.quant)]) + " b" +
           std::to_string(pf.shape.batch) + " t" + std::to_string(pf.shape.tokens) + " p" +
           std::to_string(pf.shape.prefix);
  }

  int64_t GraphBatch(int64_t b) const {
    for (int64_t g : graph_bs_)
      if (g >= b) return g;
    return -1;
  }

  std::vector<PlannedForward> Plan(const Batch& b) const {
    std::vector<PlannedForward> out;
    StepShape base;
    base.gdn_impl = s_.run.gdn_decode_impl;
    base.gdn_prefill = s_.run.gdn_prefill_impl;
    base.mla_prolog = s_.run.mla_prolog;
    base.deepep_normal = s_.run.deepep_normal_dispatch;
    base.ssm_dtype = s_.ssm_dtype;
    base.quant = ParseWeightQuant(s_.run.quantization);
    base.draft_quant = ParseWeightQuant(s_.run.DraftQuantization());
    // Symmetric ranks: every rank runs the step at the busiest group's shape.
    int64_t pn = 0, ptok = 0, pprefix = 0, dn = 0, dprefix = 0;
    for (const auto& g : b.groups) {
      int64_t n = 0, tok = 0, pre = 0, d = 0, dpre = 0;
      for (const BatchEntry& e : g) {
        if (e.decode) {
          ++d;
          dpre += e.prefix;
        } else {
          ++n;
          tok += e.new_tokens;
          pre += e.prefix;
        }
      }
      if (tok > ptok) pn = n, ptok = tok, pprefix = pre;
      if (d > dn) dn = d, dprefix = dpre;
    }
    const int64_t page = s_.run.page_size;
    if (pn > 0) {
      PlannedForward f{ForwardKind::kPrefill, base, false};
      f.shape.batch = pn;
      f.shape.tokens = ShapeBucket((ptok + pn - 1) / pn, 64);
      f.shape.prefix = pprefix == 0 ? 0 : ShapeBucket((pprefix + pn - 1) / pn, page);
      out.push_back(f);
      if (s_.run.Mtp()) {
        f.kind = ForwardKind::kDraftExtend;
        out.push_back(f);
      }
    }
    if (dn > 0) {
      const int64_t gb = GraphBatch(dn);
      PlannedForward f{ForwardKind::kDecode, base, gb > 0};
      // An eager decode batch is bucketed like tokens (exact below 16 requests, 8 buckets per
      // octave above): the step is timed for up to 12.5 % more requests than it runs, padded as a
      // graph's batch is, and a load whose running count drifts step by step times tens of
      // shapes instead of one per count.
      f.shape.batch = gb > 0 ? gb : ShapeBucket(dn, 1);
      f.shape.tokens = 1;
      f.shape.prefix = ShapeBucket((dprefix + dn - 1) / dn, page);
      if (!s_.run.Mtp()) {
        out.push_back(f);
      } else {
        f.kind = ForwardKind::kDraft;
        for (int64_t i = 0; i < s_.run.speculative_num_steps; ++i) out.push_back(f);
        f.kind = ForwardKind::kVerify;
        f.shape.tokens = s_.run.speculative_num_draft_tokens;
        out.push_back(f);
        f.kind = ForwardKind::kDraftExtend;
        out.push_back(f);
      }
    }
    return out;
  }

  const Forward& Get(const PlannedForward& pf) {
    const std::string key = Key(pf);
    auto it = memo_.find(key);
    if (it != memo_.end()) return it->second;
    Forward fw;
    const bool draft = IsDraft(pf.kind);
    StepShape shape = pf.shape;
    shape.kind = pf.kind;
    fw.calls = !draft            ? StepKernels(s_.model, s_.plan, shape, &fw.order)
               : s_.eagle3_draft ? Eagle3DraftKernels(*s_.eagle3_draft, s_.plan, shape, &fw.order)
                                 : DraftStepKernels(s_.model, s_.plan, shape, &fw.order);
    try {
      fw.profiles = timer_.Time(fw.calls);
      for (const KernelProfile& p : fw.profiles) fw.call_us.push_back(p.us);
    } catch (const SimFailure& e) {
      throw SimFailure(
          e.status(),
          std::string(e.what()) + "\n  in serving step " + std::to_string(step_.index) +
              " at t = " + FormatNumber(std::round(step_.start_us) / 1e3) + " ms: the " +
              ForwardKindName(pf.kind) + " forward (" + key + ")" +
              (pf.kind == ForwardKind::kVerify && !verified_ ? ", the run's first verify" : ""));
    }
    fw.layers = draft ? 1 : static_cast<int64_t>(s_.model.layers.size());
    for (int c : fw.order)  // the kernel launches the framework's glue launches spread over
      fw.device_launches += fw.profiles[static_cast<size_t>(c)].launches -
                            fw.profiles[static_cast<size_t>(c)].torch_ops;
    for (int c : fw.order) fw.device_us += fw.call_us[static_cast<size_t>(c)];
    if (pf.kind == ForwardKind::kVerify) verified_ = true;
    return memo_.emplace(key, std::move(fw)).first->second;
  }

  void Account(ForwardKind fk, const Forward& fw) {
    const std::string kind = ForwardKindName(fk);
    for (size_t c = 0; c < fw.calls.size(); ++c) {
      const KernelCall& call = fw.calls[c];
      std::string params;
      for (const auto& [k, v] : call.params) params += (params.empty() ? "" : " ") + k + "=" + v;
      const std::string key = kind + "|" + call.op + "|" + call.where + "|" + params;
      auto it = op_index_.find(key);
      if (it == op_index_.end()) {
        it = op_index_.emplace(key, result_.ops.size()).first;
        result_.ops.push_back({kind, call.op, call.where, params, 0, fw.call_us[c], 0, {}});
      }
      OpTotal& o = result_.ops[it->second];
      o.launches += call.count;
      o.device_us += fw.call_us[c] * static_cast<double>(call.count);
      o.profile.Add(fw.profiles[c], call.count);
    }
  }

  const ResolvedRun& s_;
  KernelTimer& timer_;
  // PD decode: KV transfers. Each waits (pending) until the scheduler can hold its KV and one of
  // disaggregation_transfer_queue slots is free, then moves over the replica's link, one request
  // after another (every rank streams its own shard at once: the per-rank bytes set the time).
  void MoveTransfers(double now) {
    for (size_t i = 0; i < moving_.size();) {
      const Transfer& x = moving_[i];
      if (x.end_us > now + kTickUs) {
        ++i;
        continue;
      }
      RequestRecord& rec = result_.requests[index_.at(x.id)];
      rec.first_token_us = x.end_us;
      rec.token_times_us.push_back(x.end_us);
      if (sched_.Join(x.id)) {  // its one output token was the prefill pool's
        rec.finish_us = x.end_us;
        ++done_;
        --in_flight_;
      }
      moving_.erase(moving_.begin() + static_cast<std::ptrdiff_t>(i));
    }
    const double latency = s_.device.link_kv_transfer_latency_us;
    while (!pending_.empty() &&
           static_cast<int64_t>(moving_.size()) < s_.run.disaggregation_transfer_queue) {
      RequestRecord& rec = result_.requests[index_.at(pending_.front().id)];
      if (!sched_.Hold(rec.id, rec.input_len, rec.output_len)) break;
      const double start = std::max(now, link_free_us_);
      link_free_us_ = start + pending_.front().stream_us;
      rec.transfer_start_us = start;
      rec.transfer_end_us = link_free_us_ + latency;
      moving_.push_back({rec.id, rec.transfer_end_us});
      started_.push_back(moving_.back());
      pending_.pop_front();
    }
  }
  void FreeSent(double now) {
    for (size_t i = 0; i < releases_.size();) {
      if (releases_[i].end_us > now + kTickUs) {
        ++i;
        continue;
      }
      sched_.Release(releases_[i].id);
      releases_.erase(releases_.begin() + static_cast<std::ptrdiff_t>(i));
    }
  }

  struct Pending {
    int64_t id;
    double stream_us;  // its bytes over the link, without the fixed latency
  };
  struct Fronted {  // a request in the front end until ready_us
    double ready_us;
    int64_t id, input_len, output_len;
    Prompt prompt;
  };
  // Requests whose front-end latency has passed reach the scheduler, in the order they were sent
  // (one latency for all keeps the queue sorted).
  void AdmitFronted(double now) {
    while (!fronting_.empty() && fronting_.front().ready_us <= now + kTickUs) {
      Fronted& f = fronting_.front();
      sched_.Arrive(f.id, f.input_len, f.output_len, std::move(f.prompt));
      fronting_.pop_front();
    }
  }

  int64_t replica_ = 0;
  int pool_ = 0;
  std::deque<Pending> pending_;
  std::deque<Fronted> fronting_;
  std::vector<Transfer> moving_, started_, releases_;
  double link_free_us_ = 0;
  std::vector<int64_t> last_finished_;
  Scheduler sched_;
  Rng accept_rng_;
  std::vector<int64_t> graph_bs_;
  std::vector<double> rates_;
  std::map<int64_t, size_t> index_;
  std::map<std::string, Forward> memo_;
  std::map<std::string, size_t> op_index_;
  ServingResult result_;
  Batch batch_;
  StepRecord step_;
  std::vector<PlannedForward> planned_;
  int64_t in_flight_ = 0, done_ = 0;
  bool verified_ = false;
  bool log_launches_ = false;  // trace_kernels
};

}  // namespace

// The SystemC side: a client thread, and a host and a device thread per replica over its
// Engine, events between them. The threads wait for `go_` first, so kernels may be simulated on
// the same SystemC kernel (functional runs) between elaboration and the serving run; serving time
// counts from the moment it starts. The replicas' host and device threads are spawned at Start,
// when their number is known.
class ServingSystem : public sc_core::sc_module {
 public:
  SC_HAS_PROCESS(ServingSystem);
  explicit ServingSystem(sc_core::sc_module_name name) : sc_module(name) { SC_THREAD(Client); }
  // `pools[i]`: engine i's pool (0 unified, 1 PD prefill, 2 PD decode); `setup` the whole run's.
  void Start(const std::vector<Engine*>& engines, const std::vector<int>& pools,
             const ResolvedRun& setup, int64_t max_concurrency, bool shortest_queue,
             const ProgressFn& progress) {
    setup_ = &setup;
    reqs_ = &setup.requests;
    max_concurrency_ = max_concurrency;
    shortest_queue_ = shortest_queue;
    progress_ = progress;
    for (size_t i = 0; i < engines.size(); ++i) {
      replicas_.push_back(std::make_unique<Replica>());
      replicas_.back()->e = engines[i];
      replicas_.back()->pool = pools[i];
      sc_core::sc_spawn([this, i] { Host(*replicas_[i]); }, sc_core::sc_gen_unique_name("host"));
      sc_core::sc_spawn([this, i] { Device(*replicas_[i]); },
                        sc_core::sc_gen_unique_name("device"));
    }
    origin_ = sc_core::sc_time_stamp();
    started_ = true;  // threads not yet activated see this; those already waiting get go_
    go_.notify(sc_core::SC_ZERO_TIME);
  }
  int64_t done() const { return done_; }
  std::exception_ptr failure;
  double end_us = 0;

 private:
  struct Replica {
    Engine* e = nullptr;
    int pool = 0;
    sc_core::sc_event arrived, issued, device_done;
    std::vector<Engine::Launch> launches;
    double device_free = 0;
  };

  double Now() const {
    return static_cast<double>((sc_core::sc_time_stamp() - origin_).value()) / 1e6;
  }
  // The first failure of any thread ends the run; Run() rethrows it after sc_start returns.
  void Fail() {
    if (!failure) failure = std::current_exception();
    sc_core::sc_stop();
  }
  // From now to `us` (run time): zero when `us` rounds to now or earlier, never a wrapped sc_time.
  sc_core::sc_time Until(double us) const {
    const sc_core::sc_time at = Us(us) + origin_, now = sc_core::sc_time_stamp();
    return at > now ? at - now : sc_core::SC_ZERO_TIME;
  }
  void WaitUntil(double us) {
    if (us > Now()) wait(Until(us));
  }
  int64_t InFlight() const {
    int64_t n = 0;
    for (const auto& r : replicas_) n += r->e->in_flight();
    return n;
  }
  // The router, among the replicas of `pool`: round robin (by arrival, or by hand-off for the PD
  // decode pool), or the one with the fewest requests in flight (the lowest index among equals).
  Replica& Route(int pool) {
    std::vector<size_t> of;
    for (size_t i = 0; i < replicas_.size(); ++i)
      if (replicas_[i]->pool == pool) of.push_back(i);
    size_t& next = next_[static_cast<size_t>(pool)];
    size_t pick = of[next++ % of.size()];
    if (shortest_queue_) {
      pick = of.front();
      for (size_t i : of)
        if (replicas_[i]->e->in_flight() < replicas_[pick]->e->in_flight()) pick = i;
    }
    return *replicas_[pick];
  }
  // Requests finished for the client: a PD prefill replica's only hand them on.
  void CountDone() {
    int64_t n = 0;
    for (const auto& r : replicas_)
      if (r->pool != 1) n += r->e->done();
    if (n == done_) return;
    done_ = n;
    if (done_ == static_cast<int64_t>(reqs_->size())) end_us = Now();
    finished_.notify(sc_core::SC_ZERO_TIME);
  }

  void Client() {
    if (!started_) wait(go_);
    // A failure here (a request larger than the KV pool) ends the run like one in the host: kept
    // for Run() to rethrow, never left to SystemC (which reports it as an internal error).
    try {
      for (const Request& r : *reqs_) {
        WaitUntil(r.arrival_us);
        while (max_concurrency_ > 0 && InFlight() >= max_concurrency_) wait(finished_);
        Replica& to =
            Route(replicas_.front()->pool);  // unified, or the PD prefill pool (listed first)
        to.e->Send(r, Now());
        to.arrived.notify(sc_core::SC_ZERO_TIME);
      }
    } catch (...) {
      Fail();
    }
  }

  void Host(Replica& rep) {
    if (!started_) wait(go_);
    try {
      wait(sc_core::SC_ZERO_TIME);
      const auto total = static_cast<int64_t>(reqs_->size());
      while (done_ < total) {
        const bool formed = rep.e->Form(Now());
        if (rep.pool == 2)  // the prefill side frees what it has sent
          for (const Engine::Transfer& x : rep.e->TakeStarted()) {
            Replica& from = *replicas_[static_cast<size_t>(rep.e->record(x.id).prefill_replica)];
            from.e->ReleaseAt(x.id, x.end_us);
            from.arrived.notify(sc_core::SC_ZERO_TIME);
          }
        if (!formed) {
          CountDone();  // a PD request whose only token came from the prefill pool finishes as its
                        // KV lands
          const double wake = rep.e->NextWakeUs();
          if (std::isfinite(wake))
            wait(Until(wake), rep.arrived);
          else
            wait(rep.arrived);
          continue;
        }
        double host_end = 0;
        rep.launches = rep.e->Issue(Now(), host_end);
        WaitUntil(host_end);
        rep.issued.notify(sc_core::SC_ZERO_TIME);
        wait(rep.device_done);
        rep.e->Finish(Now());
        if (rep.pool == 1)
          for (int64_t id : rep.e->last_finished()) {
            Replica& to = Route(2);
            to.e->Receive(rep.e->record(id), Now(), *setup_);
            to.arrived.notify(sc_core::SC_ZERO_TIME);
          }
        CountDone();
        // Every step, not only when a request finishes: a caller that logs on a wall-clock tick
        // stays live through long stretches in which no request completes.
        if (progress_) progress_(done_, total, Now());
        finished_.notify(sc_core::SC_ZERO_TIME);
      }
    } catch (...) {
      Fail();
    }
  }

  // The device runs what the host issued; launches issued while the host was still issuing
  // (eager) have already started, so the device may finish after, or well after, the host.
  void Device(Replica& rep) {
    if (!started_) wait(go_);
    for (;;) {
      wait(rep.issued);
      const double end =
          rep.e->Execute(rep.launches, std::max(rep.device_free, rep.e->step().start_us));
      rep.device_free = end;
      WaitUntil(end);
      rep.device_done.notify(sc_core::SC_ZERO_TIME);
    }
  }

  std::vector<std::unique_ptr<Replica>> replicas_;
  const ResolvedRun* setup_ = nullptr;
  const std::vector<Request>* reqs_ = nullptr;
  int64_t max_concurrency_ = 0, done_ = 0;
  std::array<size_t, 3> next_{};  // round robin, per pool
  bool shortest_queue_ = false;
  ProgressFn progress_;
  sc_core::sc_time origin_;
  bool started_ = false;
  sc_core::sc_event go_, finished_;
};

// SystemC keeps modules until the process exits: one serving simulation per process.
ServingSimulation::ServingSimulation() : system_(new ServingSystem("serving")) {}

namespace {
// The replicas' results as one: requests by id, steps by start time, kernel totals added up per
// (forward, call), shapes united; device and host busy time summed over the replicas.
ServingResult Merge(std::vector<ServingResult> parts, double end_us) {
  if (parts.size() == 1) return std::move(parts.front());
  ServingResult out;
  out.duration_us = end_us;
  out.replicas = static_cast<int64_t>(parts.size());
  std::map<std::string, size_t> op_at;
  for (ServingResult& p : parts) {
    for (auto& q : p.requests) out.requests.push_back(std::move(q));
    for (auto& st : p.steps) out.steps.push_back(std::move(st));
    for (const OpTotal& o : p.ops) {
      const std::string key = o.forward + "|" + o.op + "|" + o.where + "|" + o.params;
      auto [it, fresh] = op_at.emplace(key, out.ops.size());
      if (fresh) {
        out.ops.push_back(o);
        continue;
      }
      OpTotal& t = out.ops[it->second];
      t.launches += o.launches;
      t.device_us += o.device_us;
      t.profile.Add(o.profile);
    }
    for (auto& [k, v] : p.shape_calls) out.shape_calls.emplace(k, std::move(v));
    out.device_busy_us += p.device_busy_us;
    out.host_busy_us += p.host_busy_us;
    out.prefill_delayed_passes += p.prefill_delayed_passes;
  }
  out.forwards_simulated = static_cast<int64_t>(out.shape_calls.size());
  std::sort(out.requests.begin(), out.requests.end(),
            [](const RequestRecord& a, const RequestRecord& b) { return a.id < b.id; });
  std::stable_sort(
      out.steps.begin(), out.steps.end(), [](const StepRecord& a, const StepRecord& b) {
        return a.start_us != b.start_us ? a.start_us < b.start_us : a.replica < b.replica;
      });
  for (size_t i = 0; i < out.steps.size(); ++i) out.steps[i].index = static_cast<int64_t>(i);
  return out;
}
}  // namespace

ServingResult ServingSimulation::Run(const ResolvedRun& setup, KernelTimer& timer,
                                     const ProgressFn& progress) {
  if (used_) throw std::logic_error("a ServingSimulation runs once");
  used_ = true;
  std::vector<std::unique_ptr<Engine>> engines;
  std::vector<Engine*> raw;
  std::vector<int> pools;
  auto add = [&](const ResolvedRun& s, int pool) {
    for (int64_t i = 0; i < std::max<int64_t>(1, s.replicas); ++i) {
      engines.push_back(std::make_unique<Engine>(s, timer, i, pool));
      raw.push_back(engines.back().get());
      pools.push_back(pool);
    }
  };
  if (setup.pools.size() == 2) {
    add(setup.pools[0], 1);
    add(setup.pools[1], 2);
  } else {
    add(setup, 0);
  }
  engines.front()->Warm(
      setup.requests);  // bench_serving's one warm-up request reaches the first replica
  system_->Start(raw, pools, setup, setup.run.max_concurrency,
                 setup.run.load_balance_method == "shortest_queue", progress);
  sc_core::sc_start();
  if (system_->failure) std::rethrow_exception(system_->failure);
  if (system_->done() != static_cast<int64_t>(setup.requests.size()))
    throw SimFailure(
        "deadlock",
        "the serving run stopped with requests unfinished (scheduler could not admit them)");
  std::vector<ServingResult> parts;
  for (auto& e : engines) parts.push_back(e->Take(system_->end_us));
  if (setup.pools.size() != 2) return Merge(std::move(parts), system_->end_us);
  // PD: each request's record is its decode replica's (it carries the prefill side's times too).
  std::vector<ServingResult::PoolTotal> totals = {{"prefill"}, {"decode"}};
  for (size_t i = 0; i < parts.size(); ++i) {
    ServingResult::PoolTotal& t = totals[static_cast<size_t>(pools[i] - 1)];
    ++t.replicas;
    t.steps += static_cast<int64_t>(parts[i].steps.size());
    t.device_busy_us += parts[i].device_busy_us;
    t.host_busy_us += parts[i].host_busy_us;
    if (pools[i] == 1) parts[i].requests.clear();
  }
  ServingResult out = Merge(std::move(parts), system_->end_us);
  out.replicas = totals[1].replicas;
  out.pools = std::move(totals);
  return out;
}

ServingResult RunServing(const ResolvedRun& setup, KernelTimer& timer, const ProgressFn& progress) {
  ServingSimulation sim;
  return sim.Run(setup, timer, progress);
}

}  // namespace npusim
