#include "workloads/model_config.h"

#include <algorithm>
#include <sstream>
#include <utility>

#include "model/config.h"
#include "model/error.h"
#include "model/parse_memo.h"
#include "model/text.h"

namespace npusim {

const char* LayerKindName(LayerKind k) {
  switch (k) {
    case LayerKind::kLinearAttention:
      return "linear_attention";
    case LayerKind::kFullAttention:
      return "full_attention";
    case LayerKind::kMla:
      return "mla_attention";
    default:
      return "sliding_attention";
  }
}

int64_t ModelConfig::count(LayerKind k) const {
  int64_t n = 0;
  for (LayerKind l : layers) n += l == k;
  return n;
}

namespace {

// Reads keys of one mapping with file:line:col errors.
class Reader {
 public:
  Reader(YAML::Node node, std::string file, std::string what)
      : node_(std::move(node)), file_(std::move(file)), what_(std::move(what)) {
    if (!node_.IsMap())
      throw InputError(Where(file_, node_) + ": " + what_ + " must be a mapping of keys");
  }
  bool Has(const std::string& key) const { return node_[key] && !node_[key].IsNull(); }
  YAML::Node Get(const std::string& key) const { return node_[key]; }
  template <class T>
  T Req(const std::string& key) const {
    if (!Has(key))
      throw InputError(Where(file_, node_) + ": " + what_ + " needs key '" + key + "'" +
                       Nearest(key));
    return As<T>(key);
  }
  template <class T>
  T Opt(const std::string& key, T fallback) const {
    return Has(key) ? As<T>(key) : fallback;
  }
  // A number, or the first element of a per-layer list (Step-3.5's rope_theta).
  double FirstNumber(const std::string& key, double fallback) const {
    if (!Has(key)) return fallback;
    const YAML::Node n = node_[key];
    return n.IsSequence() ? Scalar<double>(n[0], key) : Scalar<double>(n, key);
  }
  // A list of integers, or a comma-separated string of them.
  std::vector<int64_t> IntList(const std::string& key) const {
    std::vector<int64_t> v;
    const YAML::Node n = node_[key];
    if (n.IsSequence()) {
      for (const auto& e : n) v.push_back(Scalar<int64_t>(e, key));
      return v;
    }
    std::stringstream in(Scalar<std::string>(n, key));
    std::string item;
    while (std::getline(in, item, ',')) {
      try {
        v.push_back(std::stoll(item));
      } catch (const std::exception&) {
        throw InputError(Where(file_, n) + ": key '" + key + "': '" + item + "' is not an integer");
      }
    }
    return v;
  }
  const std::string& file() const { return file_; }
  const YAML::Node& node() const { return node_; }

  template <class T>
  T Scalar(const YAML::Node& n, const std::string& key) const {
    try {
      return n.as<T>();
    } catch (const YAML::Exception&) {
      throw InputError(Where(file_, n) + ": key '" + key + "' has a value of the wrong type for " +
                       what_);
    }
  }

 private:
  template <class T>
  T As(const std::string& key) const {
    return Scalar<T>(node_[key], key);
  }
  std::string Nearest(const std::string& key) const {
    std::vector<std::string> present;
    if (node_.IsMap())
      for (const auto& kv : node_)
        if (kv.first.IsScalar()) present.push_back(kv.first.Scalar());
    return NearestHint(key, present);
  }
  YAML::Node node_;
  std::string file_, what_;
};

// mlp_only_layers: the layers that keep a dense MLP. A layer index outside the model is a mistake
// in the config (it was ignored without a word).
void DenseLayers(const Reader& r, int64_t n_layers, ModelConfig& m) {
  if (!r.Has("mlp_only_layers")) return;
  for (int64_t l : r.IntList("mlp_only_layers")) {
    if (l < 0 || l >= n_layers)
      throw InputError(Where(r.file(), r.Get("mlp_only_layers")) +
                       ": mlp_only_layers lists layer " + std::to_string(l) + ", outside 0 .. " +
                       std::to_string(n_layers - 1) + " (num_hidden_layers " +
                       std::to_string(n_layers) + ")");
    m.moe_layer[static_cast<size_t>(l)] = false;
  }
}

template <class T>
void RequirePositive(const Reader& r, const std::string& key, T v) {
  if (v <= 0)
    throw InputError(Where(r.file(), r.Get(key)) + ": key '" + key + "' must be positive");
}

// layer_types: "full_attention" or the family's other kind, one per layer; entries past
// num_hidden_layers (Step-3.5 lists its MTP layers too) are ignored.
void ReadLayerTypes(const Reader& r, int64_t n_layers, LayerKind other, ModelConfig& m) {
  const std::string other_name = LayerKindName(other);
  for (const auto& e : r.Get("layer_types")) {
    const std::string t = r.Scalar<std::string>(e, "layer_types");
    if (t != other_name && t != "full_attention")
      throw InputError(Where(r.file(), e) + ": layer type '" + t + "'" +
                       NearestHint(t, {other_name, "full_attention"}));
    if (static_cast<int64_t>(m.layers.size()) < n_layers)
      m.layers.push_back(t == "full_attention" ? LayerKind::kFullAttention : other);
  }
}

void ReadQwen(const Reader& r, ModelConfig& m, int64_t n_layers) {
  m.gate = AttentionGate::kElementwise;
  m.qk_norm = true;
  m.tied_embeddings = r.Opt<bool>("tie_word_embeddings", false);
  m.full.heads = r.Req<int64_t>("num_attention_heads");
  RequirePositive(r, "num_attention_heads", m.full.heads);  // head_dim's default divides by it
  m.full.kv_heads = r.Req<int64_t>("num_key_value_heads");
  m.full.head_dim = r.Opt<int64_t>("head_dim", m.hidden / m.full.heads);
  const Reader rope(r.Has("rope_parameters") ? r.Get("rope_parameters") : r.node(), r.file(),
                    "rope_parameters");
  m.full.rope_theta = rope.FirstNumber("rope_theta", r.FirstNumber("rope_theta", 1e7));
  m.full.partial_rotary =
      rope.FirstNumber("partial_rotary_factor", r.FirstNumber("partial_rotary_factor", 1.0));
  m.lin_key_heads = r.Req<int64_t>("linear_num_key_heads");
  m.lin_value_heads = r.Req<int64_t>("linear_num_value_heads");
  m.lin_key_dim = r.Req<int64_t>("linear_key_head_dim");
  m.lin_value_dim = r.Req<int64_t>("linear_value_head_dim");
  m.conv_kernel = r.Req<int64_t>("linear_conv_kernel_dim");
  m.mamba_ssm_dtype = r.Opt<std::string>("mamba_ssm_dtype", "float32");
  if (r.Has("layer_types")) {
    ReadLayerTypes(r, n_layers, LayerKind::kLinearAttention, m);
  } else {
    const int64_t every = r.Req<int64_t>("full_attention_interval");
    RequirePositive(r, "full_attention_interval", every);
    for (int64_t l = 0; l < n_layers; ++l)
      m.layers.push_back((l + 1) % every == 0 ? LayerKind::kFullAttention
                                              : LayerKind::kLinearAttention);
  }
  m.experts = r.Opt<int64_t>("num_experts", 0);
  m.dense_intermediate = r.Opt<int64_t>("intermediate_size", 0);
  m.moe_layer.assign(static_cast<size_t>(n_layers), m.experts > 0);
  DenseLayers(r, n_layers, m);
  if (m.experts > 0) {
    m.top_k = r.Req<int64_t>("num_experts_per_tok");
    m.moe_intermediate = r.Req<int64_t>("moe_intermediate_size");
    m.shared_intermediate = r.Opt<int64_t>("shared_expert_intermediate_size", 0);
    m.shared_gated = m.shared_intermediate > 0;
    m.norm_topk = r.Opt<bool>("norm_topk_prob", true);
  }
  m.mtp_layers =
      r.Opt<int64_t>("num_nextn_predict_layers", r.Opt<int64_t>("mtp_num_hidden_layers", 1));
}

void ReadStep(const Reader& r, ModelConfig& m, int64_t n_layers) {
  m.full.heads = r.Req<int64_t>("num_attention_heads");
  m.full.kv_heads = r.Req<int64_t>("num_attention_groups");
  m.full.head_dim = r.Opt<int64_t>("head_dim", 128);
  m.full.rope_theta = r.FirstNumber("rope_theta", 1e4);
  m.full.partial_rotary = r.FirstNumber("partial_rotary_factors", 1.0);
  m.sliding = m.full;
  if (r.Has("attention_other_setting")) {
    const Reader o(r.Get("attention_other_setting"), r.file(), "attention_other_setting");
    m.sliding.heads = o.Opt<int64_t>("num_attention_heads", m.full.heads);
    m.sliding.kv_heads = o.Opt<int64_t>("num_attention_groups", m.full.kv_heads);
  }
  m.sliding_window = r.Req<int64_t>("sliding_window");
  m.gate = AttentionGate::kHeadwise;
  m.qk_norm = true;
  if (r.Has("layer_types")) {
    ReadLayerTypes(r, n_layers, LayerKind::kSlidingAttention, m);
  } else {  // 3 SWA : 1 full, full first (kernels.md §9; verify against the checkpoint's
            // layer_types)
    for (int64_t l = 0; l < n_layers; ++l)
      m.layers.push_back(l % 4 == 0 ? LayerKind::kFullAttention : LayerKind::kSlidingAttention);
  }
  m.experts = r.Req<int64_t>("moe_num_experts");
  m.top_k = r.Req<int64_t>("moe_top_k");
  m.moe_intermediate = r.Req<int64_t>("moe_intermediate_size");
  m.shared_intermediate =
      r.Opt<int64_t>("share_expert_dim", r.Opt<int64_t>("share_expert_dims", 0));
  m.dense_intermediate = r.Req<int64_t>("intermediate_size");
  m.sigmoid_router = true;
  m.norm_topk = r.Opt<bool>("norm_expert_weight", true);
  m.routed_scaling = r.Opt<double>("moe_router_scaling_factor", 1.0);
  m.moe_layer.assign(static_cast<size_t>(n_layers), false);
  const std::vector<int64_t> moe =
      r.Has("moe_layers_enum") ? r.IntList("moe_layers_enum") : std::vector<int64_t>{};
  for (int64_t l : moe)
    if (l >= 0 && l < n_layers) m.moe_layer[static_cast<size_t>(l)] = true;
  if (r.Has("swiglu_limits"))
    for (const auto& e : r.Get("swiglu_limits"))
      m.swiglu_limits.push_back(e.IsNull() ? 0.0 : r.Scalar<double>(e, "swiglu_limits"));
  m.mtp_layers = r.Opt<int64_t>("num_nextn_predict_layers", 3);
}

// `rope_scaling` of an attention-only family: absent, null or "default", Llama-3's, or (where
// the family uses it: DeepSeek) yarn.
RopeScaling ReadRopeScaling(const Reader& r, bool yarn_ok = false) {
  RopeScaling rs;
  if (!r.Has("rope_scaling")) return rs;
  const Reader s(r.Get("rope_scaling"), r.file(), "rope_scaling");
  const std::string type = s.Opt<std::string>("rope_type", s.Opt<std::string>("type", "default"));
  if (type == "default") return rs;
  std::vector<std::string> types = {"default", "llama3"};
  if (yarn_ok) types.push_back("yarn");
  if (std::find(types.begin(), types.end(), type) == types.end()) {
    std::string list;
    for (const auto& t : types) list += (list.empty() ? "" : ", ") + t;
    throw InputError(Where(r.file(), s.Has("rope_type") ? s.Get("rope_type") : s.Get("type")) +
                     ": rope_scaling type '" + type + "' is not modelled (supported: " + list +
                     ")" + NearestHint(type, types));
  }
  rs.type = type;
  if (type == "yarn") {
    rs.factor = s.Req<double>("factor");
    RequirePositive(s, "factor", rs.factor);
    rs.original_max_position = s.Req<int64_t>("original_max_position_embeddings");
    RequirePositive(s, "original_max_position_embeddings", rs.original_max_position);
    rs.beta_fast = s.Opt<double>("beta_fast", 32.0);
    rs.beta_slow = s.Opt<double>("beta_slow", 1.0);
    rs.mscale = s.Opt<double>("mscale", 1.0);
    rs.mscale_all_dim = s.Opt<double>("mscale_all_dim", 0.0);
    return rs;
  }
  rs.factor = s.Req<double>("factor");
  rs.low_freq_factor = s.Opt<double>("low_freq_factor", 1.0);
  rs.high_freq_factor = s.Opt<double>("high_freq_factor", 4.0);
  rs.original_max_position = s.Opt<int64_t>("original_max_position_embeddings", 8192);
  RequirePositive(s, "factor", rs.factor);
  if (rs.high_freq_factor <=
      rs.low_freq_factor)  // either may be a default: point at what was written
    throw InputError(
        Where(r.file(), s.Has("high_freq_factor") ? s.Get("high_freq_factor") : s.node()) +
        ": rope_scaling high_freq_factor (" + FormatNumber(rs.high_freq_factor) +
        ") must exceed low_freq_factor (" + FormatNumber(rs.low_freq_factor) + ")");
  return rs;
}

// Attention-only decoders: every layer full attention with a SwiGLU MLP or (qwen3_moe) routed
// experts without a shared expert. Qwen3 normalises q and k per head; Qwen2 biases q/k/v; none
// gates the attention output or ships an MTP layer.
void ReadAttentionOnly(const Reader& r, ModelConfig& m, int64_t n_layers) {
  const bool qwen3 = m.model_type == "qwen3" || m.model_type == "qwen3_moe";
  m.gate = AttentionGate::kNone;
  m.qk_norm = qwen3;
  m.qkv_bias = m.model_type == "qwen2" || r.Opt<bool>("attention_bias", false);
  m.tied_embeddings = r.Opt<bool>("tie_word_embeddings", false);
  m.full.heads = r.Req<int64_t>("num_attention_heads");
  RequirePositive(r, "num_attention_heads", m.full.heads);
  m.full.kv_heads = r.Opt<int64_t>("num_key_value_heads", m.full.heads);
  m.full.head_dim = r.Opt<int64_t>("head_dim", m.hidden / m.full.heads);
  m.full.rope_theta = r.Opt<double>("rope_theta", 10000.0);
  m.full.rope_scaling = ReadRopeScaling(r);
  m.layers.assign(static_cast<size_t>(n_layers), LayerKind::kFullAttention);
  m.dense_intermediate = r.Req<int64_t>("intermediate_size");
  m.experts = m.model_type == "qwen3_moe" ? r.Req<int64_t>("num_experts") : 0;
  m.moe_layer.assign(static_cast<size_t>(n_layers), false);
  if (m.experts > 0) {
    m.top_k = r.Req<int64_t>("num_experts_per_tok");
    m.moe_intermediate = r.Req<int64_t>("moe_intermediate_size");
    m.norm_topk = r.Opt<bool>("norm_topk_prob", false);  // transformers' Qwen3MoeConfig default
    const int64_t step = r.Opt<int64_t>("decoder_sparse_step", 1);
    RequirePositive(r, "decoder_sparse_step", step);
    for (int64_t l = 0; l < n_layers; ++l)
      m.moe_layer[static_cast<size_t>(l)] = (l + 1) % step == 0;
    DenseLayers(r, n_layers, m);
  }
  m.mtp_layers = r.Opt<int64_t>("num_nextn_predict_layers", 0);
  if (r.Has("architectures"))
    for (const auto& a : r.Get("architectures"))
      m.eagle3 |= r.Scalar<std::string>(a, "architectures").find("Eagle3") != std::string::npos;
  if (m.eagle3) {
    if (n_layers != 1)
      throw InputError(Where(r.file(), r.Get("num_hidden_layers")) +
                       ": an EAGLE3 draft model has one decoder layer");
    m.draft_vocab = r.Opt<int64_t>("draft_vocab_size", m.vocab);
    m.target_hidden = r.Opt<int64_t>("target_hidden_size", m.hidden);
    if (r.Has("draft_vocab_size")) RequirePositive(r, "draft_vocab_size", m.draft_vocab);
    if (r.Has("target_hidden_size")) RequirePositive(r, "target_hidden_size", m.target_hidden);
  }
}

// DeepSeek-V3 / R1 / V3.1 (transformers' DeepseekV3Config keys): every layer MLA; the first
// first_k_dense_replace layers dense, then routed experts every moe_layer_freq layers with
// n_shared_experts shared ones (not gated), sigmoid scores with a correction bias (noaux_tc),
// group-limited top-k, routed_scaling_factor; its MTP layers (num_nextn_predict_layers).
void ReadDeepseek(const Reader& r, ModelConfig& m, int64_t n_layers) {
  m.gate = AttentionGate::kNone;
  m.tied_embeddings = r.Opt<bool>("tie_word_embeddings", false);
  m.full.heads = r.Req<int64_t>("num_attention_heads");
  RequirePositive(r, "num_attention_heads", m.full.heads);
  m.full.kv_heads = m.full.heads;  // every head reads the one latent: no grouping to check
  m.mla.q_lora_rank = r.Opt<int64_t>("q_lora_rank", 0);  // null in V2-Lite: a plain q_proj
  m.mla.kv_lora_rank = r.Req<int64_t>("kv_lora_rank");
  m.mla.qk_nope_head_dim = r.Req<int64_t>("qk_nope_head_dim");
  m.mla.qk_rope_head_dim = r.Req<int64_t>("qk_rope_head_dim");
  m.mla.v_head_dim = r.Req<int64_t>("v_head_dim");
  for (const char* k : {"kv_lora_rank", "qk_nope_head_dim", "qk_rope_head_dim", "v_head_dim"})
    RequirePositive(r, k, r.Req<int64_t>(k));
  if (m.mla.q_lora_rank < 0)
    throw InputError(Where(r.file(), r.Get("q_lora_rank")) +
                     ": key 'q_lora_rank' must not be negative");
  m.full.head_dim = m.mla.qk_nope_head_dim + m.mla.qk_rope_head_dim;
  m.full.rope_theta = r.Opt<double>("rope_theta", 10000.0);
  m.full.partial_rotary =
      static_cast<double>(m.mla.qk_rope_head_dim) / static_cast<double>(m.full.head_dim);
  m.full.rope_scaling = ReadRopeScaling(r, true);
  m.layers.assign(static_cast<size_t>(n_layers), LayerKind::kMla);
  m.dense_intermediate = r.Req<int64_t>("intermediate_size");
  m.experts = r.Opt<int64_t>("n_routed_experts", 0);
  m.moe_layer.assign(static_cast<size_t>(n_layers), false);
  if (m.experts > 0) {
    m.top_k = r.Req<int64_t>("num_experts_per_tok");
    m.moe_intermediate = r.Req<int64_t>("moe_intermediate_size");
    m.shared_intermediate = r.Opt<int64_t>("n_shared_experts", 0) * m.moe_intermediate;
    m.norm_topk = r.Opt<bool>("norm_topk_prob", false);
    m.routed_scaling = r.Opt<double>("routed_scaling_factor", 1.0);
    const std::string scoring = r.Opt<std::string>("scoring_func", "softmax");
    if (scoring != "sigmoid" && scoring != "softmax")
      throw InputError(Where(r.file(), r.Get("scoring_func")) + ": scoring_func '" + scoring + "'" +
                       NearestHint(scoring, {"sigmoid", "softmax"}));
    m.sigmoid_router = scoring == "sigmoid";
    m.score_bias = r.Opt<std::string>("topk_method", "greedy") == "noaux_tc";
    m.expert_groups = r.Opt<int64_t>("n_group", 1);
    m.topk_groups = r.Opt<int64_t>("topk_group", 1);
    RequirePositive(r, "n_group", m.expert_groups);
    RequirePositive(r, "topk_group", m.topk_groups);
    if (m.experts % m.expert_groups || m.topk_groups > m.expert_groups)
      throw InputError(Where(r.file(), r.Get("n_group")) +
                       ": n_group must divide n_routed_experts and be at least topk_group");
    const int64_t first = r.Opt<int64_t>("first_k_dense_replace", 0),
                  freq = r.Opt<int64_t>("moe_layer_freq", 1);
    RequirePositive(r, "moe_layer_freq", freq);
    for (int64_t l = 0; l < n_layers; ++l)
      m.moe_layer[static_cast<size_t>(l)] = l >= first && l % freq == 0;
  }
  m.mtp_layers = r.Opt<int64_t>("num_nextn_predict_layers", 0);
  m.mtp_own_embeddings = true;
}

}  // namespace

const std::vector<std::string>& SupportedModelTypes() {
  static const std::vector<std::string> kTypes = {
      "qwen3_next", "qwen3_5_moe", "qwen3_5", "qwen3_5_text", "qwen3_5_moe_text", "step3p5",
      "qwen3",      "qwen3_moe",   "llama",   "qwen2",        "deepseek_v3"};
  return kTypes;
}

namespace {
ModelConfig ParseRoot(const YAML::Node& root, const std::string& file);
}  // namespace

ModelConfig ParseModelConfig(const std::string& text, const std::string& file) {
  return ParseRoot(LoadYamlString(text, file), file);
}
ModelConfig LoadModelConfig(const std::string& path) {
  return ParsedOnce<ModelConfig>(path, ReadConfigFile(path), [&](const std::string& text) {
    return ParseModelConfig(text, path);
  });
}

namespace {
// Shapes every executor divides by or allocates from: positive, consistent, checked once here
// (a zero KV-head count divided by, a top-k above the expert count, ...). Each error points at
// the first of the keys the value was read from that the file has (families name them apart).
void CheckShapes(const Reader& r, const std::string& file, const ModelConfig& m) {
  auto at = [&](std::initializer_list<const char*> keys) {
    for (const char* k : keys)
      if (r.Has(k)) return Where(file, r.Get(k));
    return file;
  };
  auto positive = [&](int64_t v, const char* what, std::initializer_list<const char*> keys) {
    if (v <= 0)
      throw InputError(at(keys) + ": " + what + " must be positive, got " + std::to_string(v));
  };
  positive(m.vocab, "vocab_size", {"vocab_size"});
  positive(m.full.heads, "the attention heads", {"num_attention_heads"});
  positive(m.full.kv_heads, "the key/value heads (num_key_value_heads / num_attention_groups)",
           {"num_key_value_heads", "num_attention_groups"});
  positive(m.full.head_dim, "head_dim",
           {"head_dim", "num_attention_heads"});  // absent: hidden_size / heads
  if (m.count(LayerKind::kSlidingAttention)) {
    positive(m.sliding.heads, "the sliding layers' attention heads",
             {"attention_other_setting", "num_attention_heads"});
    positive(m.sliding.kv_heads, "the sliding layers' key/value heads",
             {"attention_other_setting", "num_attention_groups"});
    positive(m.sliding_window, "sliding_window", {"sliding_window"});
  }
  if (m.count(LayerKind::kLinearAttention)) {
    positive(m.lin_key_heads, "linear_num_key_heads", {"linear_num_key_heads"});
    positive(m.lin_value_heads, "linear_num_value_heads", {"linear_num_value_heads"});
    positive(m.lin_key_dim, "linear_key_head_dim", {"linear_key_head_dim"});
    positive(m.lin_value_dim, "linear_value_head_dim", {"linear_value_head_dim"});
    positive(m.conv_kernel, "linear_conv_kernel_dim", {"linear_conv_kernel_dim"});
  }
  if (m.experts > 0) {
    positive(m.top_k, "num_experts_per_tok", {"num_experts_per_tok", "moe_top_k"});
    positive(m.moe_intermediate, "moe_intermediate_size", {"moe_intermediate_size"});
    if (m.top_k > m.experts)
      throw InputError(at({"num_experts_per_tok", "moe_top_k"}) + ": num_experts_per_tok (" +
                       std::to_string(m.top_k) + ") exceeds the " + std::to_string(m.experts) +
                       " experts");
  }
  for (size_t l = 0; l < m.layers.size(); ++l)
    if (!m.moe_layer[l])
      positive(m.dense_intermediate, "intermediate_size (a layer has a dense MLP)",
               {"intermediate_size"});
  if (m.mtp_layers < 0)
    throw InputError(at({"num_nextn_predict_layers", "mtp_num_hidden_layers"}) +
                     ": the MTP layer count must not be negative");
  if (m.full.heads % m.full.kv_heads || (m.sliding.heads && m.sliding.heads % m.sliding.kv_heads))
    throw InputError(at({"num_key_value_heads", "num_attention_groups", "num_attention_heads"}) +
                     ": attention heads must be a multiple of the key/value heads");
  if (m.lin_key_heads && m.lin_value_heads % m.lin_key_heads)
    throw InputError(at({"linear_num_value_heads"}) +
                     ": linear_num_value_heads must be a multiple of linear_num_key_heads");
}

ModelConfig ParseRoot(const YAML::Node& root, const std::string& file) {
  if (!root.IsMap())
    throw InputError(file + ": a model config is a mapping of HuggingFace config keys");
  const Reader top(root, file, "model config");
  ModelConfig m;
  m.file = file;
  m.model_type = top.Req<std::string>("model_type");
  const std::vector<std::string>& types = SupportedModelTypes();
  if (std::find(types.begin(), types.end(), m.model_type) == types.end()) {
    // No nearest name: a near spelling of another family would be a wrong model, not a typo fix.
    std::string list;
    for (const auto& t : types) list += (list.empty() ? "" : ", ") + t;
    throw InputError(Where(file, root["model_type"]) + ": model_type '" + m.model_type +
                     "' is not supported; supported: " + list);
  }
  // Qwen3.5 checkpoints nest the language model's settings under text_config.
  const Reader r(top.Has("text_config") ? root["text_config"] : root, file,
                 top.Has("text_config") ? "text_config" : "model config");
  m.hidden = r.Req<int64_t>("hidden_size");
  const int64_t n_layers = r.Req<int64_t>("num_hidden_layers");
  m.vocab = r.Req<int64_t>("vocab_size");
  m.rms_norm_eps = r.Opt<double>("rms_norm_eps", 1e-6);
  RequirePositive(r, "hidden_size", m.hidden);
  RequirePositive(r, "num_hidden_layers", n_layers);
  if (m.model_type == "step3p5")
    ReadStep(r, m, n_layers);
  else if (m.model_type == "deepseek_v3")
    ReadDeepseek(r, m, n_layers);
  else if (m.model_type == "qwen3" || m.model_type == "qwen3_moe" || m.model_type == "llama" ||
           m.model_type == "qwen2")
    ReadAttentionOnly(r, m, n_layers);
  else
    ReadQwen(r, m, n_layers);
  if (static_cast<int64_t>(m.layers.size()) != n_layers)
    throw InputError(Where(file, r.Get("layer_types")) + ": layer_types lists " +
                     std::to_string(m.layers.size()) +
                     " layers, fewer than num_hidden_layers = " + std::to_string(n_layers));
  CheckShapes(r, file, m);
  return m;
}
}  // namespace

namespace {

double AttentionParams(const ModelConfig& m, const AttentionShape& a) {
  const double H = static_cast<double>(m.hidden), q = static_cast<double>(a.heads * a.head_dim),
               kv = static_cast<double>(a.kv_heads * a.head_dim);
  const double in = static_cast<double>(m.attn_input_width());  // EAGLE3: [embedding | hidden]
  const double q_proj = in * static_cast<double>(m.q_proj_width(a.heads, a.head_dim)),
               g_proj = H * static_cast<double>(m.g_proj_width(a.heads));
  const double bias = m.qkv_bias ? q + 2 * kv : 0,
               qk_norm = m.qk_norm ? 2.0 * static_cast<double>(a.head_dim) : 0;
  return q_proj + g_proj + 2 * in * kv + q * H + bias + qk_norm;
}

// q: low-rank (q_a_proj, its norm, q_b_proj) or a plain q_proj; kv_a_proj_with_mqa to the latent
// and the shared rope key, its norm, kv_b_proj to every head's k_nope and v; o_proj.
double MlaParams(const ModelConfig& m) {
  const MlaShape& a = m.mla;
  const double H = static_cast<double>(m.hidden), heads = static_cast<double>(m.full.heads),
               qk = static_cast<double>(m.full.head_dim);
  const double q = a.q_lora_rank > 0 ? H * static_cast<double>(a.q_lora_rank) +
                                           static_cast<double>(a.q_lora_rank) +
                                           static_cast<double>(a.q_lora_rank) * heads * qk
                                     : H * heads * qk;
  const double kv = H * static_cast<double>(a.latent_per_token()) +
                    static_cast<double>(a.kv_lora_rank) +
                    static_cast<double>(a.kv_lora_rank) * heads *
                        static_cast<double>(a.qk_nope_head_dim + a.v_head_dim);
  return q + kv + heads * static_cast<double>(a.v_head_dim) * H;
}

double GdnParams(const ModelConfig& m) {
  const double H = static_cast<double>(m.hidden), hv = static_cast<double>(m.lin_value_heads);
  const double qkvz = static_cast<double>(2 * m.lin_key_heads * m.lin_key_dim +
                                          2 * m.lin_value_heads * m.lin_value_dim);
  return H * qkvz + H * 2 * hv + static_cast<double>(m.conv_dim() * m.conv_kernel) + 2 * hv +
         static_cast<double>(m.lin_value_dim) + hv * static_cast<double>(m.lin_value_dim) * H;
}

}  // namespace

ParamCount CountParams(const ModelConfig& m) {
  const double H = static_cast<double>(m.hidden);
  ParamCount c;
  const double embed = static_cast<double>(m.vocab) * H;
  c.total = c.active =
      (m.tied_embeddings ? 1 : 2) * embed + H;  // embedding, lm_head (unless tied), final norm
  if (m.eagle3)  // lm_head over the draft vocabulary; fc over the target's three hidden states; the
                 // hidden norm
    c.total = c.active = embed + static_cast<double>(m.draft_vocab) * H +
                         3 * static_cast<double>(m.target_hidden) * H + 2 * H;
  const double expert = 3 * H * static_cast<double>(m.moe_intermediate),
               shared = 3 * H * static_cast<double>(m.shared_intermediate);
  const double router = H * static_cast<double>(m.experts) + (m.shared_gated ? H : 0) +
                        (m.score_bias ? static_cast<double>(m.experts) : 0);
  auto layer = [&](LayerKind k, bool moe, double& total, double& active) {
    double p = 2 * H;  // input and post-attention norms
    p += k == LayerKind::kLinearAttention ? GdnParams(m)
         : k == LayerKind::kMla
             ? MlaParams(m)
             : AttentionParams(m, k == LayerKind::kSlidingAttention ? m.sliding : m.full);
    total += p;
    active += p;
    if (moe) {
      total += static_cast<double>(m.experts) * expert + shared + router;
      active += static_cast<double>(m.top_k) * expert + shared + router;
    } else {
      total += 3 * H * static_cast<double>(m.dense_intermediate);
      active += 3 * H * static_cast<double>(m.dense_intermediate);
    }
  };
  for (size_t l = 0; l < m.layers.size(); ++l)
    layer(m.layers[l], m.moe_layer[l], c.total, c.active);
  // MTP layers (not active in a plain forward): fc 2H -> H, two norms, one decoder layer each.
  double mtp_active = 0;
  for (int64_t i = 0; i < m.mtp_layers; ++i) {
    c.mtp += 2 * H * H + 2 * H;
    if (m.mtp_own_embeddings)
      c.mtp += 2 * embed + H;  // its embed_tokens and shared_head (lm_head + norm) copies
    layer(m.count(LayerKind::kMla) ? LayerKind::kMla
          : m.sliding.heads        ? LayerKind::kSlidingAttention
                                   : LayerKind::kFullAttention,
          m.experts > 0, c.mtp, mtp_active);
  }
  return c;
}

std::string SsmPoolDtype(const std::string& requested, const std::string& gdn_decode_impl,
                         const ModelConfig& m) {
  if (!requested.empty()) return requested;
  return gdn_decode_impl == "fused" ? "bfloat16" : m.mamba_ssm_dtype;
}

}  // namespace npusim
