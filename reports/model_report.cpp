#include "reports/model_report.h"

#include <fmt/printf.h>

#include <map>

#include "model/text.h"

namespace npusim {

namespace {

long long L(int64_t v) { return static_cast<long long>(v); }
double Gib(int64_t b) { return static_cast<double>(b) / (1 << 30); }

std::string Layers(const ModelConfig& m) {
  std::string layers;
  for (LayerKind k : {LayerKind::kLinearAttention, LayerKind::kFullAttention,
                      LayerKind::kSlidingAttention, LayerKind::kMla})
    if (m.count(k))
      layers += (layers.empty() ? "" : ", ") + std::to_string(m.count(k)) + " " + LayerKindName(k);
  return layers;
}

std::string AttentionExtras(const ModelConfig& m) {
  std::string extras;
  if (m.qk_norm) extras += ", QK-norm";
  if (m.qkv_bias) extras += ", q/k/v bias";
  if (m.full.rope_scaling.factor > 0)
    extras += ", " + m.full.rope_scaling.type + " rope scaling x" +
              FormatNumber(m.full.rope_scaling.factor);
  if (m.tied_embeddings) extras += ", tied embeddings";
  if (m.eagle3)
    extras += ", EAGLE3 draft (layer input 2 x hidden, fc 3 x " + std::to_string(m.target_hidden) +
              ", draft vocab " + std::to_string(m.draft_vocab) + ")";
  return extras;
}

std::string Router(const ModelConfig& m) {
  return std::string(m.sigmoid_router ? "sigmoid + bias" : "softmax") +
         (m.expert_groups > 1 ? ", top " + std::to_string(m.topk_groups) + " of " +
                                    std::to_string(m.expert_groups) + " groups"
                              : "") +
         (m.routed_scaling != 1.0 ? ", scaled x" + FormatNumber(m.routed_scaling) : "");
}

}  // namespace

std::string ModelSummary(const ModelConfig& m) {
  const ParamCount p = CountParams(m);
  std::string o = fmt::sprintf("model %s from %s\n", m.model_type, m.file);
  o += fmt::sprintf("  layers     %zu: %s (+%lld MTP)\n", m.layers.size(), Layers(m),
                    L(m.mtp_layers));
  o += fmt::sprintf("  hidden     %lld, vocab %lld, rms_norm_eps %g\n", L(m.hidden), L(m.vocab),
                    m.rms_norm_eps);
  const char* gate = m.gate == AttentionGate::kHeadwise      ? "head-wise"
                     : m.gate == AttentionGate::kElementwise ? "elementwise"
                                                             : "no";
  o += fmt::sprintf(
      "  attention  %lld heads / %lld kv heads x %lld, rope theta %g partial %g, %s output "
      "gate%s\n",
      L(m.full.heads), L(m.full.kv_heads), L(m.full.head_dim), m.full.rope_theta,
      m.full.partial_rotary, gate, AttentionExtras(m));
  if (m.count(LayerKind::kMla))
    o += fmt::sprintf(
        "  MLA        q_lora %lld, kv_lora %lld, qk nope %lld + rope %lld, v %lld: %lld cached per "
        "token and layer\n",
        L(m.mla.q_lora_rank), L(m.mla.kv_lora_rank), L(m.mla.qk_nope_head_dim),
        L(m.mla.qk_rope_head_dim), L(m.mla.v_head_dim), L(m.mla.latent_per_token()));
  if (m.count(LayerKind::kSlidingAttention))
    o += fmt::sprintf("  sliding    %lld heads / %lld kv heads, window %lld\n", L(m.sliding.heads),
                      L(m.sliding.kv_heads), L(m.sliding_window));
  if (m.count(LayerKind::kLinearAttention))
    o += fmt::sprintf(
        "  GDN        %lld key / %lld value heads x %lld / %lld, conv %lld, conv_dim %lld, ssm "
        "state %s\n",
        L(m.lin_key_heads), L(m.lin_value_heads), L(m.lin_key_dim), L(m.lin_value_dim),
        L(m.conv_kernel), L(m.conv_dim()), m.mamba_ssm_dtype);
  if (m.experts)
    o += fmt::sprintf(
        "  MoE        %lld experts top-%lld, intermediate %lld, shared %lld%s, router %s\n",
        L(m.experts), L(m.top_k), L(m.moe_intermediate), L(m.shared_intermediate),
        m.shared_gated ? " (sigmoid-gated)" : "", Router(m));
  o += fmt::sprintf(
      "  params     %.2f B, %.2f B active per token (embeddings included); MTP layers %.2f B\n",
      p.total / 1e9, p.active / 1e9, p.mtp / 1e9);
  return o;
}

std::string RankSummary(const ModelConfig& m, const ParallelPlan& plan, const DeviceConfig& d) {
  const RankShapes rs = ShapesPerRank(m, plan);
  return fmt::sprintf(
      "per rank   tp %lld dp %lld ep %lld on %s: %lld q / %lld kv heads, GDN %lld / %lld heads "
      "(conv_dim %lld), %lld experts x %lld, vocab %lld\n",
      L(plan.tp), L(plan.dp), L(plan.ep), d.soc, L(rs.q_heads), L(rs.kv_heads), L(rs.lin_key_heads),
      L(rs.lin_value_heads), L(rs.conv_dim), L(rs.experts), L(rs.moe_intermediate), L(rs.vocab));
}

std::string HbmSummary(const MemoryOptions& mo, const MemoryPlan& mp) {
  std::string o = fmt::sprintf(
      "HBM        %.2f GiB of %.2f (mem_fraction_static %.2f): weights %.2f, MTP %.2f, mamba pool "
      "%.2f (%lld slots x %.2f MiB",
      Gib(mp.budget), Gib(mp.hbm), mo.mem_fraction_static, Gib(mp.weights), Gib(mp.mtp_weights),
      Gib(mp.mamba_pool), L(mp.slots),
      static_cast<double>(mp.mamba_per_request + mp.spec_per_request) / (1 << 20));
  o += fmt::sprintf("), workspace %.2f, KV pool %.2f = %lld tokens x %lld B\n", Gib(mp.workspace),
                    Gib(mp.kv_pool), L(mp.kv_tokens), L(mp.kv_per_token));
  return o;
}

std::string StepSummary(const StepStudy& s) {
  const StepShape& st = s.step;
  std::string o =
      s.prefill
          ? fmt::sprintf(
                "prefill    %lld x %lld tokens after a prefix of %lld: %.3f ms of device time per "
                "step (no host cost)\n",
                L(st.batch), L(st.tokens), L(st.prefix), s.time.total_us / 1e3)
          : fmt::sprintf(
                "decode     batch %lld at context %lld, GDN %s: %.3f ms of device time per step "
                "(no host cost)\n",
                L(st.batch), L(st.prefix + 1), st.gdn_impl, s.time.total_us / 1e3);
  std::map<std::string, double> by_where;
  for (const auto& [c, us] : s.time.calls) by_where[c.where] += us * static_cast<double>(c.count);
  for (const auto& [w, us] : by_where)
    o += fmt::sprintf("  %-10s %9.3f ms %5.1f %%\n", w, us / 1e3, 100 * us / s.time.total_us);
  if (s.draft && s.verify)
    o += fmt::sprintf(
        "MTP round  d = %lld: %lld draft steps x %.3f ms + verify and commit %.3f ms = %.3f ms for "
        "1 to %lld tokens per request\n",
        L(s.draft_tokens), L(s.draft_tokens - 1), s.draft->total_us / 1e3, s.verify->total_us / 1e3,
        s.RoundUs() / 1e3, L(s.draft_tokens));
  return o;
}

}  // namespace npusim
