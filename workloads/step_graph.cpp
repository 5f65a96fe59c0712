#include "workloads/step_graph.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <tuple>

#include "model/error.h"
#include "model/text.h"
#include "ops/runner.h"
#include "workloads/kernel_cache.h"

namespace npusim {

namespace {

// The timing executor: keeps the timed launches in emission order.
class TimingRecorder : public GraphExecutor {
 public:
  bool functional() const override { return false; }
  TensorMap Run(Launch l) override {
    if (l.timed) launches.push_back(std::move(l));
    return {};
  }
  std::vector<Launch> launches;
};

// The recorded launches as the step graph's calls: block by block in the graph's order, and within
// a block by position in the layer, each distinct launch once with the number of layers that
// issue it. A block instance is a run of launches with the same block (a layer's mixer, then its
// MLP); launches merge across instances only at the same position, so the calls keep the layer's
// order even where two of its launches have the same shape (the issue order comes with them).
// `order`, if given, gets every launch in emission order (the host's issue order) as an index into
// the calls.
std::vector<KernelCall> Calls(const std::vector<Launch>& launches, std::vector<int>* order,
                              const char* as = nullptr) {
  struct Keyed {
    int block;
    int64_t pos;
    std::string key;
    const Launch* l;
    size_t emitted;
  };
  std::vector<Keyed> keyed;
  keyed.reserve(launches.size());
  int64_t pos = 0;
  for (size_t i = 0; i < launches.size(); ++i) {
    const Launch& l = launches[i];
    std::string key = l.op;
    if (l.host_reads_result) key += "|host_reads";
    for (const auto& [k, v] : l.params) key.append("|").append(k).append("=").append(v);
    pos = i == 0 || l.where != launches[i - 1].where ? 0 : pos + 1;
    keyed.push_back({static_cast<int>(l.where), pos, std::move(key), &l, i});
  }
  std::stable_sort(keyed.begin(), keyed.end(), [](const Keyed& a, const Keyed& b) {
    return std::tie(a.block, a.pos) < std::tie(b.block, b.pos);
  });
  std::vector<KernelCall> calls;
  std::vector<int> call_of(launches.size());
  std::map<std::tuple<int, int64_t, std::string>, size_t> seen;
  for (const Keyed& k : keyed) {
    const auto [it, fresh] = seen.emplace(std::make_tuple(k.block, k.pos, k.key), calls.size());
    call_of[k.emitted] = static_cast<int>(it->second);
    if (!fresh) {
      ++calls[it->second].count;
      continue;
    }
    calls.push_back(
        {k.l->op, k.l->params, 1, as ? as : BlockName(k.l->where), k.l->host_reads_result});
  }
  if (order) *order = std::move(call_of);
  return calls;
}

GraphOptions OptionsOf(const StepShape& o) {
  GraphOptions g;
  g.quant = o.quant;
  g.gdn_impl = o.gdn_impl;
  g.gdn_prefill = o.gdn_prefill;
  g.mla_prolog = o.mla_prolog;
  g.ssm_dtype = o.ssm_dtype;
  // DeepEP `auto`: normal mode for the target's prefill / extend (eager), low-latency for the
  // captured decode, verify and draft forwards.
  if (o.kind != ForwardKind::kDraft && !o.verify() && o.tokens > 1)
    g.deepep_normal = o.deepep_normal;
  return g;
}

ForwardBatch BatchOf(const StepShape& o) {
  const ForwardKind kind = o.verify()      ? ForwardKind::kVerify
                           : o.tokens == 1 ? ForwardKind::kDecode
                                           : ForwardKind::kPrefill;
  return UniformBatch(kind, o.batch, o.tokens, o.prefix);
}

// A draft forward: the graph's draft with the draft's own weights (served unquantised unless
// configured otherwise, kernels.md §7.4), never in verify mode (tokens > 1 is the extend over
// the prompt or the accepted tokens), every call labelled "draft".
std::vector<KernelCall> DraftForward(const ModelConfig& m, const ParallelPlan& p,
                                     const StepShape& o, std::vector<int>* order) {
  StepShape s = o;
  s.kind = ForwardKind::kDraft;  // BatchOf: one token is a decode, more an extend
  s.quant = o.draft_quant;
  TimingRecorder rec;
  LayerGraph g(m, p, OptionsOf(s), rec);
  LayerGraph::DraftTensors none;
  g.Draft(BatchOf(s), {}, {}, {}, none, {}, nullptr);
  return Calls(rec.launches, order, "draft");
}

}  // namespace

std::vector<KernelCall> StepKernels(const ModelConfig& m, const ParallelPlan& p, const StepShape& o,
                                    std::vector<int>* order) {
  TimingRecorder rec;
  LayerGraph g(m, p, OptionsOf(o), rec);
  const ForwardBatch b = BatchOf(o);
  const std::vector<LayerSpec> specs = DecoderLayers(m);
  std::vector<LayerTensors> none(specs.size());
  Tensor residual;
  const Tensor x = g.Embed(b, {}, {});
  const Tensor delta = g.Decoder(b, specs, none, x, &residual);
  g.Head(b, delta, residual, {}, {}, nullptr, nullptr);
  if (o.verify())
    g.Commit(b, {}, {});  // greedy acceptance, then the accepted token's ssm state and conv window
  return Calls(rec.launches, order);
}

std::vector<KernelCall> DraftStepKernels(const ModelConfig& m, const ParallelPlan& p,
                                         const StepShape& o, std::vector<int>* order) {
  return DraftForward(m, p, o, order);
}

std::vector<KernelCall> Eagle3DraftKernels(const ModelConfig& d, const ParallelPlan& p,
                                           const StepShape& o, std::vector<int>* order) {
  ModelConfig one = d;
  one.vocab = d.draft_vocab;  // the lm_head's rows; the embedding gather does not depend on them
  return DraftForward(one, p, o, order);
}

KernelProfile ProfileOf(const KernelRun& r, const DeviceConfig& d) {
  KernelProfile p;
  p.us = r.launch.time_us;
  p.launches = std::max<int64_t>(1, static_cast<int64_t>(r.launch_times.size()));
  p.torch_ops = r.torch_ops;
  p.roofline_us = r.roofline_us;
  p.bound = RooflineBound(r);
  p.cube_flops = r.launch.cube_flops;
  p.hbm_bytes = static_cast<double>(r.launch.hbm_read_bytes + r.launch.hbm_write_bytes);
  for (int side = 0; side < 2; ++side) {
    const auto& usage = side == 0 ? r.launch.aic : r.launch.aiv;
    for (int i = 0; i < kNumPipes; ++i)
      if (usage[i].cores > 0)
        p.busy_us[side * kNumPipes + i] =
            d.CyclesToUs(static_cast<double>(usage[i].busy_cycles) / usage[i].cores);
  }
  return p;
}

std::string ProfilePipeName(int i) {
  return std::string(i < kNumPipes ? "aic." : "aiv.") + PipeName(static_cast<Pipe>(i % kNumPipes));
}

StepTime TimeStep(const ModelConfig& m, const ParallelPlan& p, const DeviceConfig& d,
                  const StepShape& o) {
  return TimeCalls(StepKernels(m, p, o), d);
}

namespace {

ParamValues CallParams(const Op& op, const KernelCall& c) {
  ParamValues pv(op.params());
  for (const auto& [k, v] : c.params) pv.Set(k, v);
  return pv;
}

// NPUSIM_KERNEL_CACHE (kernel_cache.h): the key of a call on the device of `fingerprint`.
std::string CacheKey(const KernelCall& c, const ParamValues& pv, const std::string& fingerprint) {
  return c.op + "|" + pv.Canonical() + "|" + fingerprint;
}

}  // namespace

std::optional<KernelProfile> CachedCallProfile(const KernelCall& c,
                                               const std::string& device_fingerprint) {
  if (device_fingerprint.empty() || KernelCacheDir().empty()) return std::nullopt;
  const Op& op = FindOp(c.op);
  return CachedProfile(CacheKey(c, CallParams(op, c), device_fingerprint));
}

StepTime TimeCalls(const std::vector<KernelCall>& calls, const DeviceConfig& d) {
  StepTime t;
  RunOptions ro;
  ro.mode = ModeChoice::kTimingOnly;
  // The key costs a device fingerprint, so only with a cache, and once for all the calls.
  const std::string fingerprint = KernelCacheDir().empty() ? std::string() : DeviceFingerprint(d);
  for (const KernelCall& c : calls) {
    const Op& op = FindOp(c.op);
    const ParamValues pv = CallParams(op, c);
    const std::string key = fingerprint.empty() ? std::string() : CacheKey(c, pv, fingerprint);
    std::optional<KernelProfile> p = key.empty() ? std::nullopt : CachedProfile(key);
    if (!p) {
      const auto start = std::chrono::steady_clock::now();
      const KernelRun r = RunKernel(op, pv, d, ro);  // memoised by op, parameters and device
      spdlog::debug(
          "timed {} ({}) in {:.1f} ms of wall time", c.op, pv.Canonical(),
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
              .count());
      if (r.status != "ok")
        throw SimFailure(r.status, c.op + " (" + pv.Canonical() + "): " + r.message);
      p = ProfileOf(r, d);
      if (!key.empty()) StoreProfile(key, *p);
    }
    t.calls.push_back({c, p->us});
    t.profiles.push_back(*p);
    t.total_us += p->us * static_cast<double>(c.count);
  }
  return t;
}

double StepStudy::RoundUs() const {
  if (!draft || !verify) return 0;
  return static_cast<double>(draft_tokens - 1) * draft->total_us + verify->total_us;
}

StepStudy StudyStep(const ModelConfig& m, const ParallelPlan& p, const DeviceConfig& d,
                    const StepShape& step, bool prefill, int64_t draft_tokens) {
  if (step.batch < 1 || step.tokens < 1 || step.prefix < 0)
    throw InputError("the step's batch, tokens and context take positive integers");
  if (step.gdn_impl != "fused" && step.gdn_impl != "triton_chain")
    throw InputError("GDN decode implementation '" + step.gdn_impl + "'" +
                     NearestHint(step.gdn_impl, {"fused", "triton_chain"}));
  StepStudy s;
  s.step = step;
  s.prefill = prefill;
  s.draft_tokens = draft_tokens;
  s.time = TimeStep(m, p, d, step);
  if (prefill || draft_tokens < 2) return s;
  StepShape verify = step;
  verify.tokens = draft_tokens;
  verify.kind = ForwardKind::kVerify;
  s.draft = TimeCalls(DraftStepKernels(m, p, step), d);
  s.verify = TimeStep(m, p, d, verify);
  return s;
}

}  // namespace npusim
