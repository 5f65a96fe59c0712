// The decode step's kernel graph and its device time.
#include "workloads/step_graph.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <tuple>

#include "devices/device_config.h"
#include "model/error.h"
#include "workloads/kernel_cache.h"
#include "workloads/moe_routing.h"
#include "workloads/step_cost.h"

namespace npusim {
namespace {

ModelConfig Shipped(const std::string& name) {
  return LoadModelConfig(ConfigDir() + "/models/" + name);
}

int64_t Launches(const std::vector<KernelCall>& calls, const std::string& op) {
  int64_t n = 0;
  for (const KernelCall& c : calls) n += c.op == op ? c.count : 0;
  return n;
}

TEST(StepGraph, Qwen3NextDecodeLaunchesEveryLayersKernels) {
  const std::vector<KernelCall> calls =
      StepKernels(Shipped("qwen3-next-80b-a3b.json"), {4, 1, 1}, StepShape{});
  EXPECT_EQ(Launches(calls, "recurrent_gated_delta_rule"), 36);
  EXPECT_EQ(Launches(calls, "fused_infer_attention_score"), 12);
  EXPECT_EQ(Launches(calls, "moe_gating_topk"), 48);
  EXPECT_EQ(Launches(calls, "grouped_matmul"), 96);            // gate_up and down
  EXPECT_EQ(Launches(calls, "all_reduce"), 1 + 36 + 12 + 48);  // embedding, each mixer, each MoE
  EXPECT_EQ(Launches(calls, "lm_head_argmax"), 1);
}

TEST(StepGraph, W8A8ReachesTheExpertsAndTheSharedExpert) {
  StepShape o;
  o.quant = WeightQuant::kW8A8;
  const std::vector<KernelCall> calls =
      StepKernels(Shipped("qwen3-next-80b-a3b.json"), {4, 1, 1}, o);
  int64_t int8_experts = 0;
  for (const KernelCall& c : calls)
    if (c.op == "grouped_matmul")
      for (const auto& [k, v] : c.params)
        int8_experts += (k == "quant" && v == "w8a8") ? c.count : 0;
  EXPECT_EQ(int8_experts, 96);
  EXPECT_EQ(Launches(calls, "matmul"),
            48);  // only the routers stay bf16 (their weights are bf16 in the memory plan too)
  // Per MoE layer: the expanded rows before each expert GEMM and the shared expert's two inputs,
  // which feed its two int8 linears.
  int64_t moe_quant = 0, moe_int8_linear = 0;
  for (const KernelCall& c : calls) {
    if (c.where != "moe") continue;
    moe_quant += c.op == "dynamic_quant" ? c.count : 0;
    moe_int8_linear += c.op == "quant_matmul" ? c.count : 0;
  }
  EXPECT_EQ(moe_quant, 48 * 4);
  EXPECT_EQ(moe_int8_linear, 48 * 2);
}

TEST(StepGraph, Step35HasSlidingLayersDenseLayersAndNoGdn) {
  const std::vector<KernelCall> calls =
      StepKernels(Shipped("step-3.5-flash.json"), {8, 1, 1}, StepShape{});
  EXPECT_EQ(Launches(calls, "recurrent_gated_delta_rule"), 0);
  EXPECT_EQ(Launches(calls, "fused_infer_attention_score"), 45);
  EXPECT_EQ(Launches(calls, "moe_gating_topk"), 42);  // layers 3..44
  int64_t swa = 0;
  for (const KernelCall& c : calls)
    if (c.op == "fused_infer_attention_score")
      for (const auto& [k, v] : c.params) swa += (k == "mask" && v == "swa") ? c.count : 0;
  EXPECT_EQ(swa, 33);
}

// The attention-only families: Qwen3 normalises q and k per head and has no output gate, Llama
// neither; Qwen3-MoE routes every layer (decoder_sparse_step 1) without a shared expert.
TEST(StepGraph, AttentionOnlyFamiliesLaunchOnlyWhatTheirLayersHave) {
  const ModelConfig qwen3 = Shipped("qwen3-8b.json"), llama = Shipped("llama-3.1-8b.json"),
                    moe = Shipped("qwen3-30b-a3b.json");
  const std::vector<KernelCall> q = StepKernels(qwen3, {2, 1, 1}, StepShape{});
  EXPECT_EQ(Launches(q, "fused_infer_attention_score"), 36);
  EXPECT_EQ(Launches(q, "attention_gate"), 0);
  EXPECT_EQ(Launches(q, "recurrent_gated_delta_rule"), 0);
  EXPECT_EQ(Launches(q, "rms_norm"),
            36 * 3 + 1);  // input, QK-norm, post-attention per layer; the final norm
  // The fused q/k/v GEMM at TP 2: (16 q + 4 kv + 4 kv heads) x 128 columns, no gate half.
  bool qkv = false;
  for (const KernelCall& c : q)
    if (c.op == "matmul" && c.where == "attention")
      for (const auto& [k, v] : c.params) qkv |= k == "n" && v == "3072";
  EXPECT_TRUE(qkv);
  EXPECT_EQ(Launches(StepKernels(llama, {1, 1, 1}, StepShape{}), "rms_norm"),
            32 * 2 + 1);  // no QK-norm
  const std::vector<KernelCall> m = StepKernels(moe, {2, 1, 1}, StepShape{});
  EXPECT_EQ(Launches(m, "moe_gating_topk"), 48);
  std::string shared;
  for (const KernelCall& c : m)
    for (const auto& [k, v] : c.params)
      if (c.op == "moe_finalize_routing" && k == "shared") shared = v;
  EXPECT_EQ(shared, "none");
}

std::string Param(const KernelCall& c, const std::string& key) {
  for (const auto& [k, v] : c.params)
    if (k == key) return v;
  return "";
}

// DeepSeek-V3 at TP 8 (16 of the 128 heads per rank), 61 MLA layers, the first 3 dense. Decode
// is the absorbed form: per layer one FIA over the latent cache (576 wide, V its first 512
// columns, one KV head) and two per-head grouped GEMMs (W_uk, W_uv) besides the MoE's two; norms
// per layer: input, q latent, kv latent, post-attention. Prefill decompresses: FIA as MHA at
// 128 + 64 / 128 and kv_b_proj as one more matmul per layer, no head GEMMs.
TEST(StepGraph, DeepseekDecodeIsTheAbsorbedMlaAndPrefillTheDecompressedForm) {
  const ModelConfig m = Shipped("deepseek-v3.json");
  const std::vector<KernelCall> d = StepKernels(m, {8, 1, 8}, StepShape{});
  EXPECT_EQ(Launches(d, "fused_infer_attention_score"), 61);
  EXPECT_EQ(Launches(d, "grouped_matmul"), 58 * 2 + 61 * 2);
  EXPECT_EQ(Launches(d, "rotary_embedding"), 61);
  EXPECT_EQ(Launches(d, "rms_norm"), 61 * 4 + 1);
  for (const KernelCall& c : d)
    if (c.op == "fused_infer_attention_score") {
      EXPECT_EQ(Param(c, "head_dim"), "576");
      EXPECT_EQ(Param(c, "value_dim"), "512");
      EXPECT_EQ(Param(c, "kv_cache"), "latent");
      EXPECT_EQ(Param(c, "heads"), "16");
      EXPECT_EQ(Param(c, "kv_heads"), "1");
      // yarn (factor 40, mscale_all_dim 1): (0.1 ln 40 + 1)^2 / sqrt(192) = 0.13524
      EXPECT_NEAR(std::stod(Param(c, "scale")), 0.13524, 1e-4);
    }
  StepShape prefill;
  prefill.kind = ForwardKind::kPrefill;
  prefill.batch = 1;
  prefill.tokens = 512;
  prefill.prefix = 0;
  const std::vector<KernelCall> p = StepKernels(m, {8, 1, 8}, prefill);
  EXPECT_EQ(Launches(p, "grouped_matmul"), 58 * 2);
  for (const KernelCall& c : p)
    if (c.op == "fused_infer_attention_score") {
      EXPECT_EQ(Param(c, "head_dim"), "192");
      EXPECT_EQ(Param(c, "value_dim"), "128");
      EXPECT_EQ(Param(c, "kv_heads"), "16");
    }
}

// With mla_prolog fused, each of the 61 MLA layers' decode preprocessing is one launch (after the
// per-token quantisation of x under W8A8) in place of the q / kv projections, the two latent
// norms, rope and W_uk's grouped GEMM; prefill keeps the decompressed form's launches.
TEST(StepGraph, AFusedMlaPrologReplacesTheDecodePreprocessing) {
  const ModelConfig m = Shipped("deepseek-v3.json");
  StepShape fused;
  fused.mla_prolog = "fused";
  fused.quant = WeightQuant::kW8A8;
  StepShape unfused = fused;
  unfused.mla_prolog = "unfused";
  const std::vector<KernelCall> f = StepKernels(m, {8, 1, 8}, fused),
                                u = StepKernels(m, {8, 1, 8}, unfused);
  EXPECT_EQ(Launches(f, "mla_prolog"), 61);
  EXPECT_EQ(Launches(u, "mla_prolog"), 0);
  EXPECT_EQ(Launches(f, "rotary_embedding"), 0);
  EXPECT_EQ(Launches(f, "grouped_matmul"), Launches(u, "grouped_matmul") - 61);  // W_uk's
  EXPECT_EQ(Launches(f, "rms_norm"), Launches(u, "rms_norm") - 61 * 2);  // the latents' norms
  EXPECT_EQ(Launches(f, "quant_matmul"),
            Launches(u, "quant_matmul") - 61 * 3);  // W_dq, W_uq_qr, W_dkv_kr
  EXPECT_EQ(Launches(f, "dynamic_quant"),
            Launches(u, "dynamic_quant") - 61);  // x's stays; norm(c_q)'s is the op's
  for (const KernelCall& c : f)
    if (c.op == "mla_prolog") {
      EXPECT_EQ(Param(c, "heads"), "16");
      EXPECT_EQ(Param(c, "quant"), "w8a8");
      EXPECT_EQ(Param(c, "tokens"), "24");  // StepShape's default batch of 24 decodes
    }
  StepShape prefill = fused;
  prefill.kind = ForwardKind::kPrefill;
  prefill.batch = 1;
  prefill.tokens = 512;
  prefill.prefix = 0;
  EXPECT_EQ(Launches(StepKernels(m, {8, 1, 8}, prefill), "mla_prolog"), 0);
}

// An EAGLE3 draft forward, listed by hand at TP 1 (no collectives): embedding; the layer's two
// input norms (embedding, hidden), the q/k/v GEMM over the 2H-wide concatenation, RoPE,
// attention, o_proj; post-attention norm, gate_up, SwiGLU, down; final norm and the lm_head over
// the 32000-token draft vocabulary. The extend over the target's tokens first folds the three
// captured hidden states with the fc (3 x 4096 -> 4096).
TEST(StepGraph, AnEagle3DraftStepIsOneLlamaLayerOverTwiceTheHidden) {
  const ModelConfig d = Shipped("qwen3-8b-eagle3.json");
  ASSERT_TRUE(d.eagle3);
  StepShape step;
  step.batch = 8, step.tokens = 1, step.prefix = 1000;
  const std::vector<KernelCall> calls = Eagle3DraftKernels(d, {1, 1, 1}, step);
  std::vector<std::string> ops;
  for (const KernelCall& c : calls) ops.push_back(c.op);
  EXPECT_EQ(ops, (std::vector<std::string>{"embedding", "rms_norm", "rms_norm", "matmul",
                                           "rotary_embedding", "fused_infer_attention_score",
                                           "matmul", "rms_norm", "matmul", "swiglu", "matmul",
                                           "rms_norm", "lm_head_argmax"}));
  auto param = [](const KernelCall& c, const std::string& key) {
    for (const auto& [k, v] : c.params)
      if (k == key) return v;
    return std::string();
  };
  EXPECT_EQ(param(calls[3], "k"), "8192");  // [embedding | hidden]
  EXPECT_EQ(param(calls[3], "n"), std::to_string((32 + 2 * 8) * 128));
  EXPECT_EQ(param(calls.back(), "vocab"), "32000");
  for (const KernelCall& c : calls) EXPECT_EQ(c.where, "draft");
  StepShape extend = step;
  extend.tokens = 4;
  const std::vector<KernelCall> ext = Eagle3DraftKernels(d, {1, 1, 1}, extend);
  ASSERT_EQ(ext.size(), calls.size() + 1);
  EXPECT_EQ(ext[1].op, "matmul");
  EXPECT_EQ(param(ext[1], "m"), "32");
  EXPECT_EQ(param(ext[1], "k"), "12288");
}

TEST(StepGraph, TheTritonChainMakesTheStepSlowerThanTheFusedOp) {
  const ModelConfig m = Shipped("qwen3-next-80b-a3b.json");
  const DeviceConfig d = LoadDevice("Ascend910B3");
  StepShape fused, triton;
  triton.gdn_impl = "triton_chain";
  const StepTime f = TimeStep(m, {4, 1, 1}, d, fused), t = TimeStep(m, {4, 1, 1}, d, triton);
  EXPECT_GT(f.total_us, 0);
  EXPECT_GT(t.total_us, f.total_us);  // only the GDN recurrence differs between the two
  double gdn_f = 0, gdn_t = 0;
  for (const auto& [c, us] : f.calls)
    gdn_f += c.op == "recurrent_gated_delta_rule" ? us * c.count : 0;
  for (const auto& [c, us] : t.calls)
    gdn_t += c.op == "recurrent_gated_delta_rule" ? us * c.count : 0;
  EXPECT_NEAR(t.total_us - f.total_us, gdn_t - gdn_f, 1e-6);
}

// gdn_prefill_impl triton hands the chunk kernel the Triton forms it has (kkt, wy_fast, chunk_h,
// chunk_o) on the staged launches; staged keeps every stage AscendC-form, mega one kernel.
TEST(StepGraph, TheTritonPrefillAsksForTheTritonStages) {
  StepShape pre;
  pre.batch = 2;
  pre.tokens = 256;
  pre.prefix = 0;
  auto chunk_params = [&](const std::string& impl) {
    StepShape s = pre;
    s.gdn_prefill = impl;
    for (const KernelCall& c : StepKernels(Shipped("qwen3-next-80b-a3b.json"), {4, 1, 1}, s))
      if (c.op == "chunk_gated_delta_rule") return c.params;
    return Kvs{};
  };
  auto value = [](const Kvs& kv, const std::string& key) {
    for (const auto& [k, v] : kv)
      if (k == key) return v;
    return std::string("(default)");
  };
  const Kvs triton = chunk_params("triton"), staged = chunk_params("staged");
  for (const char* stage : {"kkt", "wy_fast", "chunk_h", "chunk_o"}) {
    EXPECT_EQ(value(triton, stage), "triton") << stage;
    EXPECT_EQ(value(staged, stage), "(default)") << stage;
  }
  EXPECT_EQ(value(triton, "launch"), "staged");
  EXPECT_EQ(value(chunk_params("mega"), "launch"), "mega");
}

TEST(StepGraph, PrefillTakesTheChunkedGdnPathAndCausalAttention) {
  StepShape pre;
  pre.batch = 2;
  pre.tokens = 1024;
  pre.prefix = 512;
  const std::vector<KernelCall> calls =
      StepKernels(Shipped("qwen3-next-80b-a3b.json"), {4, 1, 1}, pre);
  EXPECT_EQ(Launches(calls, "recurrent_gated_delta_rule"), 0);
  EXPECT_EQ(Launches(calls, "chunk_gated_delta_rule"), 36);
  EXPECT_EQ(Launches(calls, "l2norm"), 72);  // q and k
  for (const KernelCall& c : calls)
    if (c.op == "fused_infer_attention_score")
      for (const auto& [k, v] : c.params) {
        if (k == "sparse_mode") {
          EXPECT_EQ(v, "3");
        }
      }
  const StepTime t =
      TimeStep(Shipped("qwen3-next-80b-a3b.json"), {4, 1, 1}, LoadDevice("Ascend910B3"), pre);
  EXPECT_GT(t.total_us, TimeStep(Shipped("qwen3-next-80b-a3b.json"), {4, 1, 1},
                                 LoadDevice("Ascend910B3"), StepShape{})
                            .total_us);
}

TEST(StepGraph, MtpVerifyCommitsTheAcceptedStateAndS1OverflowsOnA3) {
  const ModelConfig m = Shipped("qwen3-next-80b-a3b.json");
  StepShape v;
  v.tokens = 4;
  v.kind = ForwardKind::kVerify;
  const std::vector<KernelCall> calls = StepKernels(m, {16, 1, 1}, v);
  EXPECT_EQ(Launches(calls, "verify_greedy"), 1);
  EXPECT_EQ(Launches(calls, "move_intermediate_cache"), 1);  // all 36 GDN layers in one launch
  EXPECT_EQ(Launches(calls, "conv_state_rollback"), 1);
  for (const KernelCall& c : calls) {
    if (c.op == "lm_head_argmax") {
      EXPECT_EQ(c.params[0].second, "96");  // logits for 24 x 4 positions
    }
  }
  EXPECT_FALSE(DraftStepKernels(m, {16, 1, 1}, v).empty());
  // Scenario S1 at model level: the Triton path keeps the fp32 state of the config; the commit
  // kernel's default tiling overflows the A3 UB at the first verify.
  v.gdn_impl = "triton_chain";
  try {
    TimeStep(m, {16, 1, 1}, LoadDevice("Ascend910_9392"), v);
    FAIL() << "no overflow";
  } catch (const SimFailure& e) {
    EXPECT_EQ(e.status(), "ub_overflow");
    EXPECT_NE(std::string(e.what()).find("move_intermediate_cache"), std::string::npos);
  }
  v.ssm_dtype = "bfloat16";  // the fix
  EXPECT_GT(TimeStep(m, {16, 1, 1}, LoadDevice("Ascend910_9392"), v).total_us, 0);
}

// On by default under the user's cache directory; NPUSIM_KERNEL_CACHE moves it or turns it off.
TEST(KernelCache, OnByDefaultUnderTheUsersCacheDirectory) {
  EXPECT_EQ(KernelCacheRoot(nullptr, nullptr, "/home/u"), "/home/u/.cache/npusim/kernels");
  EXPECT_EQ(KernelCacheRoot(nullptr, "/x/cache", "/home/u"), "/x/cache/npusim/kernels");
  EXPECT_EQ(KernelCacheRoot(nullptr, "", "/home/u"), "/home/u/.cache/npusim/kernels");
  EXPECT_EQ(KernelCacheRoot("/tmp/kc", "/x/cache", "/home/u"), "/tmp/kc");
  EXPECT_EQ(KernelCacheRoot("off", "/x/cache", "/home/u"), "");
  EXPECT_EQ(KernelCacheRoot("", "/x/cache", "/home/u"), "");
  EXPECT_EQ(KernelCacheRoot(nullptr, nullptr, nullptr), "");
}

// The cache's stamp is a hash of the simulator's bytes: one changed byte (even a trailing zero)
// gives another stamp, the same bytes the same one, and an unreadable file none.
TEST(KernelCache, TheStampHashesEveryByteOfTheBinary) {
  const auto dir =
      std::filesystem::temp_directory_path() / ("npusim-hash-test-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::string bytes(3 * (1 << 20) + 5, '\0');  // spans buffer refills and ends mid-word
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<char>(i * 131 % 251);
  const auto write = [&](const char* name, const std::string& b) {
    std::ofstream(dir / name, std::ios::binary) << b;
    return CodeHash((dir / name).string());
  };
  const std::string h = write("a", bytes);
  EXPECT_EQ(h.size(), 16u);
  EXPECT_EQ(write("b", bytes), h);
  std::string flipped = bytes;
  flipped[2 * (1 << 20) + 3] ^= 1;
  EXPECT_NE(write("c", flipped), h);
  EXPECT_NE(write("d", bytes + std::string(1, '\0')), h);
  EXPECT_EQ(CodeHash((dir / "missing").string()), "");
  std::filesystem::remove_all(dir);
}

TEST(KernelCache, ProfilesAreStoredOnceAndReadBackExactly) {
  // The cache directory is read once per process: set it before the first kernel is timed.
  const std::string root =
      (std::filesystem::temp_directory_path() / ("npusim-kc-test-" + std::to_string(::getpid())))
          .string();
  std::filesystem::remove_all(root);
  ::setenv("NPUSIM_KERNEL_CACHE", root.c_str(), 1);
  const DeviceConfig d = LoadDevice("Ascend910B3");
  const std::vector<KernelCall> calls = {
      {"rms_norm", {{"tokens", "7"}, {"hidden", "256"}}, 3, "head"}};
  const StepTime first = TimeCalls(calls, d);
  ASSERT_FALSE(KernelCacheDir().empty());
  std::vector<std::filesystem::path> entries;
  for (const auto& e : std::filesystem::directory_iterator(KernelCacheDir()))
    entries.push_back(e.path());
  ASSERT_EQ(entries.size(), 1u);
  // The entry is a header line (format, kind, the key's length), the key as is and the profile
  // as JSON; a later timing reads it instead of simulating: edit the stored time and the edit
  // comes back.
  std::ifstream in(entries[0], std::ios::binary);
  std::string header, profile;
  std::getline(in, header);
  const std::string format = "v" + std::to_string(kCacheFormat);
  ASSERT_EQ(header.rfind(format + " profile ", 0), 0u) << header;
  std::string key(std::stoul(header.substr(header.rfind(' ') + 1)), '\0');
  in.read(key.data(), static_cast<std::streamsize>(key.size()));
  std::getline(in, profile);
  in.close();
  EXPECT_EQ(key.rfind("rms_norm|", 0), 0u);
  nlohmann::json stored = nlohmann::json::parse(profile);
  EXPECT_EQ(ProfileFromJson(stored)->us, first.profiles[0].us);
  stored["us"] = 1234.5;
  auto write = [&](const std::string& f, const std::string& k, const std::string& p) {
    std::ofstream(entries[0], std::ios::binary) << f << " profile " << k.size() << "\n"
                                                << k << p << "\n";
  };
  write(format, key, stored.dump());
  const StepTime second = TimeCalls(calls, d);
  EXPECT_EQ(second.profiles[0].us, 1234.5);
  EXPECT_EQ(second.total_us, 3 * 1234.5);
  // The lookup a forked timer makes before handing a call to a worker finds the same entry.
  ASSERT_TRUE(CachedCallProfile(calls[0], DeviceFingerprint(d)).has_value());
  EXPECT_EQ(CachedCallProfile(calls[0], DeviceFingerprint(d))->us, 1234.5);
  // The binary's hash is remembered beside the stamps under the file's identity, so the next
  // process skips reading the binary: the memo's second line is the stamp's hash.
  std::vector<std::string> memos;
  for (const auto& e : std::filesystem::directory_iterator(root))
    if (e.path().filename().string().rfind(".exe-", 0) == 0) memos.push_back(e.path().string());
  ASSERT_EQ(memos.size(), 1u);
  std::ifstream memo(memos[0]);
  std::string id, hash;
  std::getline(memo, id);
  std::getline(memo, hash);
  EXPECT_EQ("code-" + hash, std::filesystem::path(KernelCacheDir()).filename().string());
  // An entry whose key is not the call's (a hash collision), of another format, cut short or
  // unreadable is ignored.
  std::string other = key;
  other[0] = 'R';  // same length, another key
  for (const auto& [f, k, p] : std::vector<std::tuple<std::string, std::string, std::string>>{
           {format, other, stored.dump()},
           {"v" + std::to_string(kCacheFormat + 1), key, stored.dump()},
           {format, key, "not json"}}) {
    write(f, k, p);
    EXPECT_EQ(TimeCalls(calls, d).profiles[0].us, first.profiles[0].us) << f << " " << p;
  }
  std::ofstream(entries[0], std::ios::binary)
      << header << "\n"
      << key.substr(0, key.size() / 2);  // cut short inside the key
  EXPECT_EQ(TimeCalls(calls, d).profiles[0].us, first.profiles[0].us);
  std::filesystem::remove_all(root);
}

// Text kept beside the profiles (a chart's SVG) comes back only for its kind and its whole key.
TEST(KernelCache, TextIsReadBackOnlyForItsKindAndKey) {
  const std::string root =
      (std::filesystem::temp_directory_path() / ("npusim-kc-text-" + std::to_string(::getpid())))
          .string();
  std::filesystem::remove_all(root);
  ::setenv("NPUSIM_KERNEL_CACHE", root.c_str(), 1);
  EXPECT_FALSE(CachedText("chart", "script 1").has_value());
  StoreText("chart", "script 1", "<svg>one</svg>\nsecond line");
  ASSERT_TRUE(CachedText("chart", "script 1").has_value());
  EXPECT_EQ(*CachedText("chart", "script 1"), "<svg>one</svg>\nsecond line");
  EXPECT_FALSE(CachedText("chart", "script 2").has_value());
  EXPECT_FALSE(CachedText("table", "script 1").has_value());
  std::filesystem::remove_all(root);
}

// The draft's own quantisation (speculative_draft_model_quantization): unquantised by default
// whatever the target's weights, and with w8a8_dynamic every linear of the draft (fc, q|k|v,
// o_proj, the MLP) as dynamic_quant + quant_matmul; the lm_head stays bf16.
TEST(StepGraph, TheDraftTakesItsOwnQuantisation) {
  const ModelConfig m = Shipped("qwen3.5-27b.json");
  StepShape o;
  o.batch = 8, o.tokens = 1, o.prefix = 1000;
  o.quant = WeightQuant::kW8A8;
  const std::vector<KernelCall> plain = DraftStepKernels(m, {2, 1, 1}, o);
  EXPECT_EQ(Launches(plain, "quant_matmul"), 0);
  o.draft_quant = WeightQuant::kW8A8;
  const std::vector<KernelCall> q = DraftStepKernels(m, {2, 1, 1}, o);
  EXPECT_EQ(Launches(q, "matmul"), 0);
  EXPECT_EQ(Launches(q, "quant_matmul"),
            Launches(plain, "matmul"));  // fc, q|k|v, o_proj, gate_up, down
  EXPECT_EQ(Launches(q, "lm_head_argmax"), 1);
}

}  // namespace
}  // namespace npusim

namespace npusim {
namespace {

std::vector<KernelCall> SmallCalls() {
  std::vector<KernelCall> calls;
  for (const char* n : {"1024", "2048", "4096", "8192", "16384"})
    calls.push_back({"add", {{"n", n}}});
  calls.push_back({"rms_norm", {{"tokens", "8"}, {"hidden", "2048"}}});
  return calls;
}

// Two worker processes time a step's kernels in parallel and answer exactly what one does: a
// kernel's profile does not depend on the process (or the kernels before it in that process).
TEST(KernelTimerPool, TwoWorkersGiveTheProfilesOfOne) {
  const DeviceConfig d = LoadDevice("Ascend910B3");
  WorkerKernelTimer one(d, 1), two(d, 2);
  ASSERT_EQ(two.workers(), 2);
  const std::vector<KernelCall> calls = SmallCalls();
  const std::vector<KernelProfile> a = one.Time(calls), b = two.Time(calls);
  ASSERT_EQ(a.size(), calls.size());
  ASSERT_EQ(b.size(), calls.size());
  for (size_t i = 0; i < calls.size(); ++i) EXPECT_EQ(ProfileJson(a[i]), ProfileJson(b[i])) << i;
  EXPECT_GT(a[4].us, a[0].us);  // the answers keep the calls' order
}

// Workers started as `npusim kernel-worker` get the device over the pipe and answer exactly what
// forked workers (which inherit it) do, also for a device unlike any shipped file; none starts
// before a call needs simulating, and a call answered once is not sent again.
TEST(KernelTimerPool, SpawnedWorkersRebuildTheDeviceAndStartOnlyWhenNeeded) {
  setenv("NPUSIM_KERNEL_CACHE", "off", 1);  // every call simulated: the workers must answer
  DeviceConfig d = LoadDevice("Ascend910B3");
  d.ub_bytes = 131072 + 32;  // odd values survive the trip exactly
  d.hbm_bandwidth_gbps = 1234.5678901234567;
  d.launch_overhead_us = 0.1 + 0.2;
  WorkerKernelTimer forked(d, 1), spawned(d, 2, NPUSIM_BIN);
  EXPECT_EQ(spawned.workers(), 0);
  const std::vector<KernelCall> calls = SmallCalls();
  const std::vector<KernelProfile> a = forked.Time(calls), b = spawned.Time(calls);
  EXPECT_EQ(spawned.workers(), 2);
  ASSERT_EQ(b.size(), calls.size());
  for (size_t i = 0; i < calls.size(); ++i) EXPECT_EQ(ProfileJson(a[i]), ProfileJson(b[i])) << i;
  // A device parameter changes the answers (the worker did not fall back to a shipped device).
  DeviceConfig slow = d;
  slow.hbm_bandwidth_gbps /= 4;
  WorkerKernelTimer spawned_slow(slow, 1, NPUSIM_BIN);
  EXPECT_GT(spawned_slow.Time({calls[4]}).front().us, a[4].us);
  // The device round trip itself, for every parameter; the fingerprint tells apart devices that
  // differ past six digits (it keys chips and cache entries).
  EXPECT_EQ(DeviceFingerprint(DeviceFromParams(DeviceParams(d))), DeviceFingerprint(d));
  DeviceConfig near = d;
  near.hbm_bandwidth_gbps = std::nextafter(d.hbm_bandwidth_gbps, 1e9);
  EXPECT_NE(DeviceFingerprint(near), DeviceFingerprint(d));
}

// A worker program that is not npusim fails the calls with the reason, not a hang.
TEST(KernelTimerPool, AWorkerProgramThatCannotStartIsNamed) {
  setenv("NPUSIM_KERNEL_CACHE", "off", 1);
  WorkerKernelTimer missing(LoadDevice("Ascend910B3"), 1, "/nonexistent/npusim");
  try {
    missing.Time(SmallCalls());
    ADD_FAILURE() << "no error";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/npusim"), std::string::npos) << e.what();
  }
}

// The wire format names its version: a message of another build, or not JSON at all, is refused
// by name instead of being misread.
TEST(KernelTimerPool, AMessageOfAnotherProtocolVersionIsRefused) {
  EXPECT_EQ(ParseWireMessage(R"({"v":1,"result":"x"})", "test").at("result"), "x");
  for (const char* bad : {R"({"v":2,"result":"x"})", R"({"result":"x"})", "ok\t1.5", ""}) {
    try {
      ParseWireMessage(bad, "kernel timer");
      ADD_FAILURE() << bad;
    } catch (const std::runtime_error& e) {
      EXPECT_NE(std::string(e.what()).find("kernel timer: "), std::string::npos) << e.what();
    }
  }
  try {
    ParseWireMessage(R"({"v":2})", "kernel timer");
    ADD_FAILURE() << "a message of version 2 was read";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "kernel timer: protocol version 2, this build speaks 1");
  }
}

// A kernel that fails in one worker fails the whole Time() with its own error; the other
// worker's answers are drained, so the next Time() gets its own answers.
TEST(KernelTimerPool, AFailureInOneWorkerLeavesThePoolInStep) {
  const DeviceConfig d = LoadDevice("Ascend910B3");
  WorkerKernelTimer pool(d, 2);
  std::vector<KernelCall> calls = SmallCalls();
  calls.push_back({"add", {{"n", "-5"}}});
  EXPECT_THROW(pool.Time(calls), InputError);
  const std::vector<KernelProfile> again = pool.Time(SmallCalls());
  WorkerKernelTimer one(d, 1);
  const std::vector<KernelProfile> ref = one.Time(SmallCalls());
  ASSERT_EQ(again.size(), ref.size());
  for (size_t i = 0; i < ref.size(); ++i) EXPECT_EQ(ProfileJson(again[i]), ProfileJson(ref[i]));
}

// Two failing calls: the failure reported is the earlier call's, as when one process times
// them in order, although the pool sends the later one first (an op it has not timed yet counts
// as the slowest) and it fails first.
TEST(KernelTimerPool, TheEarliestFailingCallIsTheOneReported) {
  const DeviceConfig d = LoadDevice("Ascend910B3");
  std::vector<KernelCall> calls = SmallCalls();
  calls.insert(calls.begin() + 2, {"add", {{"n", "-5"}}});
  calls.push_back({"swiglu", {{"tokens", "-7"}}});
  for (int workers : {1, 2, 3}) {
    WorkerKernelTimer pool(d, workers);
    pool.Time(SmallCalls());  // the pool now knows which ops are slow
    try {
      pool.Time(calls);
      ADD_FAILURE() << workers << " workers: no failure";
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find("-5"), std::string::npos) << workers << ": " << e.what();
      EXPECT_EQ(std::string(e.what()).find("-7"), std::string::npos) << workers << ": " << e.what();
    }
  }
}

}  // namespace
}  // namespace npusim

namespace npusim {
namespace {

// The busiest EP rank under a router without preference: never below the balanced share, the
// more above it the fewer rows each rank gets, the same answer every time.
TEST(MoeRouting, TheBusiestRankTakesMoreThanItsShareAndLessWithMoreTokens) {
  EXPECT_EQ(BusiestRankRows(0, 10, 512, 16), 0);
  EXPECT_EQ(BusiestRankRows(24, 10, 512, 1), 240);
  // S2's decode: 16 ranks x 24 tokens, top-10 of 512 experts: 240 rows per rank on average.
  const int64_t small = BusiestRankRows(16 * 24, 10, 512, 16);
  EXPECT_GT(small, 240 * 11 / 10);
  EXPECT_LT(small, 240 * 3 / 2);
  EXPECT_EQ(BusiestRankRows(16 * 24, 10, 512, 16), small);
  // A prefill of 4096 tokens per rank: the excess shrinks like 1/sqrt(rows).
  const int64_t big = BusiestRankRows(16 * 4096, 10, 512, 16);
  EXPECT_GT(big, 40960);
  EXPECT_LT(static_cast<double>(big) / 40960, static_cast<double>(small) / 240);
  // One expert per rank and top-k of all: every rank gets every token.
  EXPECT_EQ(BusiestRankRows(100, 8, 8, 8), 100);
  EXPECT_THROW(BusiestRankRows(10, 2, 10, 4), InputError);  // 10 experts do not split over 4
}

}  // namespace
}  // namespace npusim
