// `fused_infer_attention_score`: registration, inputs, launch and fp64 reference (kernels.md
// §6.1; scenario S4). Paged KV (page 128) with block tables, GQA, TND / BSND, sparse_mode
// 0/2/3/4 with pre/next tokens, an explicit atten_mask (e.g. from `swa_mask`); prefill, extend
// with a prefix, decode and MTP verify are the same kernel with different lengths.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <sstream>

#include "model/error.h"
#include "ops/common/op_util.h"
#include "ops/fused_infer_attention_score/fia_kernel.h"

namespace npusim {

namespace {

using fia::kPage;
using op_util::Kv;

constexpr int64_t kMaxGroups =
    32;  // workspace slots: above the AIC count of every A2/A3 part (ref §1.2)
// Prefill launches reading more (query tile, KV page) pairs than this are timed from probes
// (Op::Extrapolate): a 16384-token prefill of 4 heads reads ~33k pairs and simulates in ~4 s.
constexpr double kExtrapolateAbovePairs = 65536;
constexpr int64_t kProbeTokens[] = {4096, 8192};  // probe query lengths: 32 and 64 tiles per head
constexpr int64_t kProbePrefixCap =
    4096;  // a probe keeps the launch's prefix up to this many tokens

std::vector<int64_t> ParseList(const std::string& key, const std::string& s) {
  std::vector<int64_t> v;
  std::stringstream in(s);
  std::string item;
  while (std::getline(in, item, ',')) {
    try {
      size_t used = 0;
      const long long x = std::stoll(item, &used);
      if (used != item.size() || x < 0) throw std::invalid_argument(item);
      v.push_back(x);
    } catch (const std::exception&) {
      throw InputError("parameter '" + key + "': '" + item +
                       "' is not a non-negative integer (expected e.g. 0,300,17)");
    }
  }
  return v;
}

class FiaOp : public Op {
 public:
  std::string name() const override { return "fused_infer_attention_score"; }
  std::string summary() const override {
    return "FIA: paged flash attention (page 128), GQA, TND/BSND, sparse_mode 0/2/3/4, explicit "
           "mask; AIC QK^T/PV + AIV softmax (§6.1)";
  }
  std::vector<OpParam> params() const override {
    using K = OpParam::Kind;
    return {
        {"batch", K::kInt, "24", "requests B", 1, 65535},
        {"q_len", K::kInt, "1",
         "query tokens per request (1 decode, d verify, more for prefill/extend)", 1, 1e6},
        {"context", K::kInt, "4095", "KV tokens already cached per request (the prefix)", 0, 1e7},
        {"context_lens", K::kString, "",
         "comma-separated prefix per request, overrides batch/context (e.g. 0,300,17)"},
        {"heads", K::kInt, "4", "query heads per rank Nq (Qwen3-Next 16 / TP 4)", 1, 1024},
        {"kv_heads", K::kInt, "1", "KV heads per rank Nkv (Nq a multiple)", 1, 1024},
        {"head_dim", K::kInt, "256",
         "query / key head dim D (a multiple of 16; MLA's latent + rope: 576)", 16, 576},
        {"value_dim", K::kInt, "0",
         "value / output head dim Dv (a multiple of 16; 0 = head_dim; MLA: 512)", 0, 576},
        {"kv_cache",
         K::kString,
         "separate",
         "separate: key_cache and value_cache; latent: MLA's one cache whose rows' first value_dim "
         "columns are V (the absorbed form)",
         0,
         0,
         {"separate", "latent"}},
        {"scale", K::kFloat, "0",
         "softmax scale (0 = 1/sqrt(head_dim); MLA: 1/sqrt(qk_nope + qk_rope), yarn's mscale^2 "
         "applied)",
         0, 100},
        {"layout",
         K::kString,
         "TND",
         "TND: actual_seq_lengths cumulative; BSND: per request",
         0,
         0,
         {"TND", "BSND"}},
        {"sparse_mode", K::kInt, "0",
         "0 none/band, 2 leftUpCausal, 3 rightDownCausal, 4 band right-down", 0, 4},
        {"pre_tokens", K::kInt, "-1", "keys before the diagonal a query may see (-1 = INT32_MAX)",
         -1, 2147483647},
        {"next_tokens", K::kInt, "-1", "keys after the diagonal (-1 = INT32_MAX)", -1, 2147483647},
        {"window", K::kInt, "0",
         "sliding window: with sparse_mode 4, pre_tokens = window and next_tokens = 0 (SGLang's "
         "SWA call); the swa mask's window",
         0, 1e7},
        {"mask",
         K::kString,
         "none",
         "explicit atten_mask: none, or swa (the decode mask of swa_mask for `window`)",
         0,
         0,
         {"none", "swa"}},
        {"band_q1_quirk", K::kInt, "1",
         "1: sparse_mode 4 with query length 1 ignores pre/next_tokens as CANN 8.5 does (scenario "
         "S4); 0: the documented band",
         0, 1}};
  }

  static int64_t ValueDim(const ParamValues& p) {
    return p.Int("value_dim") > 0 ? p.Int("value_dim") : p.Int("head_dim");
  }
  static bool Latent(const ParamValues& p) { return p.Str("kv_cache") == "latent"; }

  struct Shape4 {
    std::vector<int64_t> prefix;
    int64_t B = 0, S = 0, T = 0, max_kv = 0, max_blocks = 0, pages = 0;
  };
  Shape4 Shapes(const ParamValues& p) const {
    Shape4 s;
    s.prefix = p.Str("context_lens").empty()
                   ? std::vector<int64_t>(static_cast<size_t>(p.Int("batch")), p.Int("context"))
                   : ParseList("context_lens", p.Str("context_lens"));
    if (s.prefix.empty()) throw InputError("parameter 'context_lens' lists no request");
    s.B = static_cast<int64_t>(s.prefix.size());
    s.S = p.Int("q_len");
    s.T = s.B * s.S;
    for (int64_t c : s.prefix) {
      s.max_kv = std::max(s.max_kv, c + s.S);
      s.pages += (c + s.S + kPage - 1) / kPage;
    }
    s.max_blocks = (s.max_kv + kPage - 1) / kPage;
    s.pages += 1;  // page 0 stays unused, so a zero block-table entry shows
    if (p.Int("heads") % p.Int("kv_heads"))
      throw InputError("parameter 'heads' must be a multiple of 'kv_heads' (GQA)");
    if (p.Int("head_dim") % 16) throw InputError("parameter 'head_dim' must be a multiple of 16");
    if (p.Int("value_dim") % 16) throw InputError("parameter 'value_dim' must be a multiple of 16");
    if (p.Str("kv_cache") == "latent" && ValueDim(p) > p.Int("head_dim"))
      throw InputError("kv_cache=latent: value_dim (" + std::to_string(ValueDim(p)) +
                       ") must not exceed head_dim (" + std::to_string(p.Int("head_dim")) +
                       "): V is the first value_dim columns of each latent row");
    return s;
  }

  std::vector<TensorSpec> tensors(const ParamValues& p) const override {
    const Shape4 s = Shapes(p);
    const int64_t Nq = p.Int("heads"), Nkv = p.Int("kv_heads"), D = p.Int("head_dim"),
                  Dv = ValueDim(p), G = Nq / Nkv;
    const DType bf = DType::kBFloat16;
    const auto ws = TensorRole::kWorkspace;
    std::vector<TensorSpec> v = {{"query", {s.T, Nq, D}, bf},
                                 {"key_cache", {s.pages, kPage, Nkv * D}, bf}};
    if (!Latent(p)) v.push_back({"value_cache", {s.pages, kPage, Nkv * Dv}, bf});
    v.push_back({"block_table",
                 {s.B, s.max_blocks},
                 DType::kInt32,
                 TensorRole::kInput,
                 true,
                 0,
                 s.pages - 1});
    v.push_back({"actual_seq_lengths", {s.B}, DType::kInt32, TensorRole::kInput, true, 0, s.T});
    v.push_back(
        {"actual_seq_lengths_kv", {s.B}, DType::kInt32, TensorRole::kInput, true, 0, s.max_kv});
    if (p.Str("mask") != "none") v.push_back({"atten_mask", {s.B, s.S, s.max_kv}, DType::kUInt8});
    v.push_back({"attention_out", {s.T, Nq, Dv}, bf, TensorRole::kOutput});
    v.push_back({"ws_scores",
                 {2 * kMaxGroups * fia::kMaxRows, kPage},
                 DType::kFloat32,
                 ws});  // two slots per AIC
    v.push_back({"ws_p", {2 * kMaxGroups * fia::kMaxRows, kPage}, bf, ws});
    v.push_back({"ws_pv", {2 * kMaxGroups * fia::kMaxRows, Dv}, DType::kFloat32, ws});
    // Split-KV slots, sized for the most splits these shapes can take with any rows per unit
    // (the device's UB picks the rows; fia_tiling.h RowsPerUnit).
    int64_t parts = 0;
    for (int64_t rows = 16; rows <= fia::kMaxRows && fia::PacksGqa(s.S, G, D, Latent(p));
         rows += 16) {
      const int64_t per_unit = fia::TokensPerPackedUnit(G, rows);
      const int64_t units = G > rows ? s.B * Nkv * s.S * ((G + rows - 1) / rows)
                                     : s.B * Nkv * ((s.S + per_unit - 1) / per_unit);
      parts = std::max(parts, fia::MaxParts(units, s.max_blocks, kMaxGroups));
    }
    if (parts > 0) {
      v.push_back({"ws_partial_out", {parts * fia::kMaxRows, Dv}, DType::kFloat32, ws});
      v.push_back({"ws_partial_ml", {parts * 4 * fia::kMlFloats}, DType::kFloat32, ws});
    }
    return v;
  }

  void FillInputs(const ParamValues& p, TensorMap& t, Rng& rng) const override {
    const Shape4 s = Shapes(p);
    std::vector<int64_t> pages;
    for (int64_t i = 1; i < s.pages; ++i) pages.push_back(i);
    for (size_t i = pages.size(); i > 1; --i)
      std::swap(pages[i - 1],
                pages[static_cast<size_t>(rng.UniformInt(0, static_cast<int64_t>(i) - 1))]);
    size_t next = 0;
    for (int64_t b = 0; b < s.B; ++b) {
      const int64_t kv = s.prefix[static_cast<size_t>(b)] + s.S;
      for (int64_t j = 0; j < s.max_blocks; ++j)
        t["block_table"].Set(b * s.max_blocks + j,
                             j * kPage < kv ? static_cast<double>(pages[next++]) : 0.0);
      t["actual_seq_lengths"].Set(
          b, static_cast<double>(p.Str("layout") == "TND" ? (b + 1) * s.S : s.S));
      t["actual_seq_lengths_kv"].Set(b, static_cast<double>(kv));
      if (p.Str("mask") == "swa" &&
          t["atten_mask"]
              .materialised())  // get_swa_mask: masked = idx < seq_len - window or idx >= seq_len
        for (int64_t i = 0; i < s.S; ++i)
          for (int64_t c = 0; c < s.max_kv; ++c) {
            const int64_t seq = kv - s.S + i + 1;  // keys visible to query i (itself included)
            t["atten_mask"].Set((b * s.S + i) * s.max_kv + c,
                                (c < seq - p.Int("window") || c >= seq) ? 1.0 : 0.0);
          }
    }
    op_util::FillNormal(t["query"], rng);
    op_util::FillNormal(t["key_cache"], rng);
    if (!Latent(p)) op_util::FillNormal(t["value_cache"], rng);
  }

  double FunctionalMacs(const ParamValues& p) const override {
    const Shape4 s = Shapes(p);
    return static_cast<double>(s.T) * static_cast<double>(s.max_kv) *
           static_cast<double>(p.Int("heads") * (p.Int("head_dim") + ValueDim(p)));
  }

  // `cores`: the AICs split-KV spreads few units over (0: no split, as the reference needs);
  // `ub_bytes`: the AIV's UB, which bounds the rows per unit (0: kMaxRows, the reference's view).
  fia::Dims DimsOf(const ParamValues& p, const Tensor* qlens, const Tensor* kvlens, int64_t cores,
                   uint64_t ub_bytes = 0) const {
    const Shape4 s = Shapes(p);
    fia::Dims d;
    d.Nq = p.Int("heads");
    d.Nkv = p.Int("kv_heads");
    d.D = p.Int("head_dim");
    d.Dv = ValueDim(p);
    d.latent = Latent(p);
    if (ub_bytes > 0) d.rows = fia::RowsPerUnit(d.Dv, ub_bytes);
    d.max_blocks = s.max_blocks;
    d.sparse_mode = static_cast<int>(p.Int("sparse_mode"));
    if (d.sparse_mode == 1)
      throw InputError("sparse_mode 1 (allMask) is not modelled; use sparse_mode 0 with mask=swa");
    d.pre_tokens = p.Int("pre_tokens") < 0 ? fia::kUnbounded : p.Int("pre_tokens");
    d.next_tokens = p.Int("next_tokens") < 0 ? fia::kUnbounded : p.Int("next_tokens");
    if (p.Int("window") > 0 && d.sparse_mode == 4) {
      d.pre_tokens = p.Int("window");
      d.next_tokens = 0;
    }
    d.band_q1_quirk = p.Int("band_q1_quirk") != 0;
    d.explicit_mask = p.Str("mask") != "none";
    d.q_len_max = s.S;
    d.mask_cols = s.max_kv;
    d.scale = static_cast<float>(p.Float("scale") > 0 ? p.Float("scale")
                                                      : 1.0 / std::sqrt(static_cast<double>(d.D)));
    const bool tnd = p.Str("layout") == "TND";
    int64_t at = 0;
    for (int64_t b = 0; b < s.B; ++b) {
      const auto ql = static_cast<int64_t>(qlens->At(b)), kv = static_cast<int64_t>(kvlens->At(b));
      const int64_t len = tnd ? ql - at : ql;
      if (len < 0 || kv < len || kv > s.max_blocks * kPage)
        throw InputError("actual_seq_lengths / actual_seq_lengths_kv of request " +
                         std::to_string(b) + " are inconsistent");
      d.reqs.push_back({at, len, kv});
      at += len;
    }
    if (at > s.T)
      throw InputError("actual_seq_lengths cover more query tokens than the query tensor holds");
    fia::BuildUnits(d, cores);
    return d;
  }

  // Long prefills: a core unit runs its query tiles one after another, each reading its KV pages
  // through the same double-buffered QK^T / softmax / PV loop, so a unit's time is affine in
  // (tiles, pages); probes of kProbeTokens query tokens (same heads, dims and mask, the prefix up
  // to kProbePrefixCap) pin the two costs and the full launch's time is its slowest unit under
  // them.
  std::optional<Extrapolation> Extrapolate(const ParamValues& p, const DeviceConfig& dev,
                                           GmMap& gm) const override {
    const Shape4 s = Shapes(p);
    Tensor ql("actual_seq_lengths", {s.B}, DType::kInt32, true),
        kvl("actual_seq_lengths_kv", {s.B}, DType::kInt32, true);
    std::memcpy(ql.data(), gm["actual_seq_lengths"].data, ql.nbytes());
    std::memcpy(kvl.data(), gm["actual_seq_lengths_kv"].data, kvl.nbytes());
    Extrapolation ex;
    double pairs = 0;
    ex.work = CoreWork(DimsOf(p, &ql, &kvl, std::min<int64_t>(dev.aic_count, kMaxGroups),
                              static_cast<uint64_t>(dev.ub_bytes)),
                       dev, pairs);
    if (ex.work.empty() || pairs <= kExtrapolateAbovePairs) return std::nullopt;
    // A KV page's cost depends on the query tile that reads it (a 128-row tile's QK^T, softmax and
    // PV against a 4-row verify tile's, which is mostly the page's copies), so the probes keep the
    // launch's tiles. Queries that fill whole tiles: probes of kProbeTokens query tokens of one
    // request. Shorter queries (an MTP verify over long contexts): the same requests, query
    // lengths and heads over two shorter contexts, so only the pages per unit change.
    const int64_t rows = fia::RowsPerUnit(ValueDim(p), static_cast<uint64_t>(dev.ub_bytes));
    struct ProbeShape {
      int64_t batch, q_len, prefix;
    };
    std::vector<ProbeShape> shapes;
    if (s.S >= rows) {
      int64_t prefix = 0;
      for (int64_t c : s.prefix) prefix = std::max(prefix, c);
      prefix = std::min(prefix, kProbePrefixCap);
      for (int64_t tokens : kProbeTokens) shapes.push_back({1, tokens, prefix});
    } else {
      const auto units = static_cast<int64_t>(
          DimsOf(p, &ql, &kvl, 0, static_cast<uint64_t>(dev.ub_bytes)).units.size());
      // The longer probe's pages per unit: as many as keep it within the simulated size, at
      // least 8.
      const int64_t pages = std::max<int64_t>(
          8, static_cast<int64_t>(kExtrapolateAbovePairs) / std::max<int64_t>(1, units));
      for (int64_t k : {pages / 2, pages})
        shapes.push_back({s.B, s.S, std::max<int64_t>(0, k * kPage - s.S)});
    }
    for (size_t i = 0; i < shapes.size(); ++i) {
      const auto [batch, tokens, prefix] = shapes[i];
      ParamValues probe = p;
      probe.Set("context_lens", "");
      probe.Set("batch", std::to_string(batch));
      probe.Set("q_len", std::to_string(tokens));
      probe.Set("context", std::to_string(prefix));
      Tensor pq("q", {batch}, DType::kInt32, true), pkv("kv", {batch}, DType::kInt32, true);
      for (int64_t b = 0; b < batch; ++b) {
        pq.Set(b, static_cast<double>(p.Str("layout") == "TND" ? (b + 1) * tokens : tokens));
        pkv.Set(b, static_cast<double>(tokens + prefix));
      }
      double probe_pairs = 0;
      ex.probe_work.push_back(
          CoreWork(DimsOf(probe, &pq, &pkv, std::min<int64_t>(dev.aic_count, kMaxGroups),
                          static_cast<uint64_t>(dev.ub_bytes)),
                   dev, probe_pairs));
      if (ex.probe_work.back().empty()) return std::nullopt;
      ex.probes.push_back(std::move(probe));
    }
    ex.work_name = "KV page";
    // Footprint: the queries, every request's K and V pages once (re-reads by later query tiles
    // hit L2; a latent page is K and V at once), the output.
    const double D = static_cast<double>(p.Int("head_dim")), Dv = static_cast<double>(ValueDim(p)),
                 heads = static_cast<double>(s.T * p.Int("heads"));
    double kv_pages = 0;
    for (int64_t b = 0; b < s.B; ++b) kv_pages += std::ceil(kvl.At(b) / static_cast<double>(kPage));
    ex.hbm_read_bytes = heads * D * 2 + kv_pages * kPage * static_cast<double>(p.Int("kv_heads")) *
                                            (Latent(p) ? D : D + Dv) * 2;
    ex.hbm_write_bytes = heads * Dv * 2;
    return ex;
  }

  // Per core unit of the launch: its query tiles and the KV pages they read (empty when the
  // launch is not a plain prefill: decode packing or split-KV merges).
  static std::vector<UnitWork> CoreWork(const fia::Dims& d, const DeviceConfig& dev,
                                        double& pairs) {
    if (d.units.empty() || d.parts > 0 || d.units.front().heads_packed) return {};
    const int64_t blocks = std::max<int64_t>(
        1, std::min<int64_t>({static_cast<int64_t>(d.units.size()), dev.aic_count, kMaxGroups}));
    std::vector<UnitWork> w(static_cast<size_t>(blocks));
    for (size_t u = 0; u < d.units.size(); ++u) {
      const double pages = static_cast<double>(fia::UnitPages(d, d.units[u]).size());
      w[u % static_cast<size_t>(blocks)].units += 1;
      w[u % static_cast<size_t>(blocks)].work += pages;
      pairs += pages;
    }
    return w;
  }

  LaunchPlan Plan(const ParamValues& p, const DeviceConfig& dev, GmMap& gm) const override {
    auto view = [&](const std::string& n, const Shape& shape) {
      Tensor t(n, shape, DType::kInt32, true);
      std::memcpy(t.data(), gm[n].data, t.nbytes());
      return t;
    };
    const Shape4 s = Shapes(p);
    const Tensor ql = view("actual_seq_lengths", {s.B}), kvl = view("actual_seq_lengths_kv", {s.B});
    fia::Dims d = DimsOf(p, &ql, &kvl, std::min<int64_t>(dev.aic_count, kMaxGroups),
                         static_cast<uint64_t>(dev.ub_bytes));
    fia::Gm g{&gm["query"],
              &gm["key_cache"],
              d.latent ? nullptr : &gm["value_cache"],
              &gm["block_table"],
              d.explicit_mask ? &gm["atten_mask"] : nullptr,
              &gm["attention_out"],
              &gm["ws_scores"],
              &gm["ws_p"],
              &gm["ws_pv"]};
    if (d.parts > 0) {
      if (!gm.count("ws_partial_out") ||
          gm["ws_partial_out"].bytes < static_cast<uint64_t>(d.parts * fia::kMaxRows * d.Dv * 4))
        throw InputError(
            "fused_infer_attention_score: the actual sequence lengths split the KV cache into more "
            "parts than the "
            "shapes of the parameters allow");
      g.ws_part = &gm["ws_partial_out"];
      g.ws_ml = &gm["ws_partial_ml"];
    }
    const int64_t blocks = std::max<int64_t>(
        1, std::min<int64_t>({static_cast<int64_t>(d.units.size()), dev.aic_count, kMaxGroups}));
    LaunchPlan plan;
    plan.launch =
        op_util::LaunchOf<fia::KernelFia>(name(), blocks, CoreType::kMix, DType::kBFloat16, g, d);
    if (d.parts > 0)  // split-KV: the partial results merged by the AIVs
      plan.then.push_back(op_util::AivLaunch<fia::KernelFiaMerge>(
          "fia_split_kv_merge",
          std::max<int64_t>(
              1, std::min<int64_t>(static_cast<int64_t>(d.merges.size()), dev.aiv_count)),
          DType::kBFloat16, g, d));
    plan.tiling = {
        Kv("block_dim", plan.launch.block_dim),
        Kv("units", static_cast<int64_t>(d.units.size())),
        Kv("rows_per_unit", d.rows),
        Kv("page", kPage),
        Kv("gqa_packing",
           !d.units.empty() && d.units[0].heads_packed ? "heads of a token" : "tokens of a head"),
        Kv("kv_splits", d.merges.empty() ? 1 : d.merges.front().splits)};
    return plan;
  }

  // Softmax attention in fp64 with the documented mask semantics (the band always honoured).
  Expected Reference(const ParamValues& p, const TensorMap& in) const override {
    fia::Dims d = DimsOf(p, &in.at("actual_seq_lengths"), &in.at("actual_seq_lengths_kv"), 0);
    d.band_q1_quirk = false;
    const Shape4 s = Shapes(p);
    const Tensor &q = in.at("query"), &kc = in.at("key_cache"),
                 &vc = in.at(d.latent ? "key_cache" : "value_cache"), &bt = in.at("block_table");
    const int64_t Nq = d.Nq, Nkv = d.Nkv, D = d.D, Dv = d.Dv, G = Nq / Nkv,
                  Vw = d.latent ? D : Dv;  // Vw: a V row's width in its cache
    std::vector<double> out(static_cast<size_t>(s.T * Nq * Dv), 0.0), w;
    for (size_t b = 0; b < d.reqs.size(); ++b) {
      const fia::Request& r = d.reqs[b];
      auto slot = [&](int64_t c) {
        return static_cast<int64_t>(bt.At(static_cast<int64_t>(b) * s.max_blocks + c / kPage)) *
                   kPage +
               c % kPage;
      };
      auto kv_at = [&](int64_t c, int64_t j) { return slot(c) * Nkv * D + j * D; };
      auto v_at = [&](int64_t c, int64_t j) { return slot(c) * Nkv * Vw + j * Vw; };
      for (int64_t i = 0; i < r.q_len; ++i) {
        int64_t lo, hi;
        fia::KeyRange(d, r, i, lo, hi);
        for (int64_t h = 0; h < Nq; ++h) {
          const int64_t j = h / G, qo = ((r.q_start + i) * Nq + h) * D,
                        oo = ((r.q_start + i) * Nq + h) * Dv;
          w.assign(static_cast<size_t>(r.kv_len), 0.0);
          double mx = -1e300, sum = 0;
          for (int64_t c = std::max<int64_t>(lo, 0); c <= hi; ++c) {
            if (d.explicit_mask &&
                in.at("atten_mask").At((static_cast<int64_t>(b) * s.S + i) * s.max_kv + c) != 0)
              continue;
            double dot = 0;
            for (int64_t x = 0; x < D; ++x) dot += q.At(qo + x) * kc.At(kv_at(c, j) + x);
            w[static_cast<size_t>(c)] = dot * d.scale;
            mx = std::max(mx, w[static_cast<size_t>(c)]);
          }
          if (mx == -1e300) continue;  // attends nothing: zero output
          for (int64_t c = std::max<int64_t>(lo, 0); c <= hi; ++c) {
            if (d.explicit_mask &&
                in.at("atten_mask").At((static_cast<int64_t>(b) * s.S + i) * s.max_kv + c) != 0) {
              w[static_cast<size_t>(c)] = 0;
              continue;
            }
            sum += w[static_cast<size_t>(c)] = std::exp(w[static_cast<size_t>(c)] - mx);
          }
          for (int64_t c = std::max<int64_t>(lo, 0); c <= hi; ++c)
            for (int64_t x = 0; x < Dv; ++x)
              out[static_cast<size_t>(oo + x)] +=
                  w[static_cast<size_t>(c)] / sum * vc.At(v_at(c, j) + x);
        }
      }
    }
    return {{"attention_out", out}};
  }
};

}  // namespace

std::unique_ptr<Op> MakeFiaOp() { return std::make_unique<FiaOp>(); }

}  // namespace npusim
