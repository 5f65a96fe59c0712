// Functional runs of the reduced hybrid model (configs/models/tiny-hybrid.json, K = 64 != V = 32):
// every forward through the kernels. Chunked vs unchunked prefill and scenario S3's transposed
// state, the mixed-batch conv state of scenario S6, MTP vs no MTP (scenario S5). And the reduced
// attention-only families (tiny-qwen3, tiny-qwen3-moe, tiny-llama, tiny-qwen2, tiny-deepseek: MLA)
// end to end.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>

#include "model/error.h"
#include "workloads/functional_model.h"
#include "workloads/functional_run.h"

namespace npusim {
namespace {

using ::testing::HasSubstr;

ModelConfig Tiny() {
  return LoadModelConfig(std::string(NPUSIM_SOURCE_DIR) + "/configs/models/tiny-hybrid.json");
}
DeviceConfig Device() { return LoadDevice("Ascend910B3"); }

// Pages of 32 tokens and chunks of 96: request 0 (100 tokens) prefills 96, then its last 4
// tokens share a step with the first 64 of request 1 (a batch with and without prefix).
SchedulerConfig Chunked(int64_t chunk) {
  SchedulerConfig c;
  c.chunked_prefill_size = chunk;
  c.max_prefill_tokens = 4096;
  c.page_size = 32;
  return c;
}

std::vector<FunctionalRequest> Requests(int64_t out = 6) {
  return FunctionalRequests(3, 100, out, 256, 1);
}  // 100, 93, 86 tokens

TEST(Functional, ChunkedAndUnchunkedPrefillGiveTheSameTokensAndStates) {
  const ModelConfig m = Tiny();
  FunctionalOptions o;
  const FunctionalResult whole = RunFunctional(m, Device(), o, Chunked(0), Requests());
  const FunctionalResult chunked = RunFunctional(m, Device(), o, Chunked(96), Requests());
  EXPECT_EQ(whole.mixed_prefill_steps, 0);
  EXPECT_GT(chunked.mixed_prefill_steps, 0);
  const FunctionalDiff d = Compare(whole, chunked);
  EXPECT_TRUE(d.tokens_equal) << "first divergence: request " << d.first_divergence_request
                              << " token " << d.first_divergence_token;
  // The chunk boundary changes only fp32 summation order and the bf16 rounding of one hand-off.
  EXPECT_LT(d.max_state_diff, 0.02) << d.max_state_diff;
  EXPECT_GT(d.max_state_diff, 0.0);  // the runs are not trivially the same computation
  EXPECT_LT(d.max_logit_diff, 0.05) << d.max_logit_diff;
  EXPECT_LT(d.max_conv_diff, 0.05);  // later layers' conv inputs carry the rounding differences
  for (const auto& [op, err] : chunked.kernel_errors) EXPECT_LT(err, 0.02) << op;
  EXPECT_EQ(chunked.requests[0].tokens.size(), 6u);
}

// S3: the chunk kernel stored its final state transposed. With K != V (the tiny model) that is a
// shape error; with K = V it runs and the state after prefill drifts from the correct run's.
TEST(Functional, ScenarioS3TransposedStateIsAShapeErrorWhenKDiffersFromVAndDriftWhenEqual) {
  FunctionalOptions o;
  o.fault = "transposed_state";
  try {
    RunFunctional(Tiny(), Device(), o, Chunked(96), Requests());
    FAIL() << "expected the shape error";
  } catch (const SimFailure& e) {
    EXPECT_EQ(e.status(), "shape_error");
    EXPECT_THAT(e.what(), HasSubstr("with K != V the S3 fault is a shape error"));
  }
  ModelConfig square = Tiny();
  square.lin_value_dim = square.lin_key_dim;  // K = V = 64, as in the real models (128)
  const FunctionalResult good =
      RunFunctional(square, Device(), FunctionalOptions{}, Chunked(96), Requests());
  const FunctionalResult bad = RunFunctional(square, Device(), o, Chunked(96), Requests());
  const FunctionalDiff d = Compare(good, bad);
  EXPECT_GT(d.max_state_diff, 0.1) << "transposed states should be far from the right ones";
  EXPECT_GT(d.max_logit_diff, 0.0);
}

// S6: in a batch mixing a request with a prefix (request 0's last 4 tokens) and one without
// (request 1's first 64), the faulty fallback stores request 1's conv state shifted by kw - 1.
TEST(Functional, ScenarioS6ShiftsTheConvStateOfTheFreshRequestInAMixedBatch) {
  FunctionalOptions o;
  const FunctionalResult good = RunFunctional(Tiny(), Device(), o, Chunked(96), Requests());
  o.fault = "conv_state_shift";
  const FunctionalResult bad = RunFunctional(Tiny(), Device(), o, Chunked(96), Requests());
  ASSERT_GT(bad.mixed_prefill_steps, 0);
  // Request 0 never shares a step as the fresh one: its states are untouched.
  EXPECT_EQ(good.requests[0].conv_after_prefill, bad.requests[0].conv_after_prefill);
  const FunctionalDiff d = Compare(good, bad);
  EXPECT_GT(d.max_conv_diff, 0.1);
  EXPECT_GT(d.max_state_diff, 0.0);  // the next chunk read the wrong window
}

// S5: greedy tokens with MTP (NEXTN, d = 4) equal those without when the state (pool and
// intermediate cache) is fp32: a committed verify state is the decode state bit for bit. With a
// bf16 state the verify rounds once per round where decode rounds once per token: the states
// at the same position differ, and the report says whether the tokens do.
TEST(Functional, ScenarioS5MtpKeepsGreedyTokensWithAnFp32State) {
  const ModelConfig m = Tiny();
  const auto reqs = FunctionalRequests(2, 40, 12, m.vocab, 3);
  SchedulerConfig sc = Chunked(0);
  FunctionalOptions plain;
  plain.ssm_dtype = "float32";
  FunctionalOptions mtp = plain;
  mtp.draft_tokens = 4;
  const FunctionalResult a = RunFunctional(m, Device(), plain, sc, reqs),
                         b = RunFunctional(m, Device(), mtp, sc, reqs);
  int64_t rounds = 0, accepted = 0;
  for (const auto& r : b.requests) {
    EXPECT_EQ(r.tokens.size(), 12u);
    for (int64_t n : r.accept_lengths) {
      EXPECT_GE(n, 1);
      EXPECT_LE(n, 4);
      ++rounds;
      accepted += n;
    }
  }
  EXPECT_GT(accepted, rounds)
      << "the draft never agreed with the target: the test would not exercise multi-token commits";
  const FunctionalDiff d = Compare(a, b);
  EXPECT_TRUE(d.tokens_equal) << "request " << d.first_divergence_request << " token "
                              << d.first_divergence_token;
  EXPECT_GT(d.checkpoints_compared, 4);
  EXPECT_EQ(d.max_checkpoint_state_diff, 0.0);

  plain.ssm_dtype = mtp.ssm_dtype = "bfloat16";
  const FunctionalResult c = RunFunctional(m, Device(), plain, sc, reqs),
                         e = RunFunctional(m, Device(), mtp, sc, reqs);
  const FunctionalDiff bf = Compare(c, e);
  EXPECT_GT(bf.max_checkpoint_state_diff, 0.0);  // double vs single rounding per round
  std::printf(
      "S5 bf16: tokens %s (first divergence request %lld token %lld), state error %g over %lld "
      "checkpoints\n",
      bf.tokens_equal ? "equal" : "differ", static_cast<long long>(bf.first_divergence_request),
      static_cast<long long>(bf.first_divergence_token), bf.max_checkpoint_state_diff,
      static_cast<long long>(bf.checkpoints_compared));
}

ModelConfig TinyFamily(const std::string& name) {
  return LoadModelConfig(std::string(NPUSIM_SOURCE_DIR) + "/configs/models/" + name + ".json");
}

int64_t Calls(const FunctionalResult& r, const std::string& op) {
  return r.kernel_calls.count(op) ? r.kernel_calls.at(op) : 0;
}

// Each attention-only family through the kernels: chunked prefill (a batch mixing a request's
// tail over its prefix with another's first chunk) gives the unchunked tokens, every kernel is
// within its fp64 reference, and only the kernels the family's layers have run.
TEST(Functional, AttentionOnlyFamiliesRunEndToEnd) {
  for (const std::string name :
       {"tiny-qwen3", "tiny-qwen3-moe", "tiny-llama", "tiny-qwen2", "tiny-deepseek"}) {
    const ModelConfig m = TinyFamily(name);
    const FunctionalResult whole =
        RunFunctional(m, Device(), FunctionalOptions{}, Chunked(0), Requests());
    const FunctionalResult chunked =
        RunFunctional(m, Device(), FunctionalOptions{}, Chunked(96), Requests());
    EXPECT_GT(chunked.mixed_prefill_steps, 0) << name;
    const FunctionalDiff d = Compare(whole, chunked);
    EXPECT_TRUE(d.tokens_equal) << name << ": request " << d.first_divergence_request << " token "
                                << d.first_divergence_token;
    for (const auto& [op, err] : chunked.kernel_errors) EXPECT_LT(err, 0.02) << name << " " << op;
    EXPECT_EQ(Calls(chunked, "attention_gate"), 0) << name;
    EXPECT_EQ(
        Calls(chunked, "chunk_gated_delta_rule") + Calls(chunked, "recurrent_gated_delta_rule"), 0)
        << name;
    EXPECT_EQ(Calls(chunked, "add") > 0, name == "tiny-qwen2") << name;  // q/k/v bias
    EXPECT_EQ(Calls(chunked, "moe_gating_topk") > 0,
              name == "tiny-qwen3-moe" || name == "tiny-deepseek")
        << name;
    EXPECT_EQ(chunked.requests[0].tokens.size(), 6u) << name;
  }
}

// Requests in slots 1.. with prompts of `lens` tokens (token t of request i: t * a + b * i).
std::vector<FunctionalModel::Entry> Prompts(const std::vector<int64_t>& lens, int64_t a,
                                            int64_t b) {
  std::vector<FunctionalModel::Entry> prompt;
  for (size_t i = 0; i < lens.size(); ++i) {
    FunctionalModel::Entry e;
    e.slot = static_cast<int64_t>(i) + 1;
    for (int64_t t = 0; t < lens[i]; ++t)
      e.tokens.push_back(static_cast<int32_t>((t * a + b * static_cast<int64_t>(i)) % 256));
    prompt.push_back(e);
  }
  return prompt;
}

// n tokens per request after `done` beyond its prompt, starting from the token `first` chose.
std::vector<FunctionalModel::Entry> NextTokens(const std::vector<int64_t>& lens,
                                               const FunctionalModel::Output& first, size_t n,
                                               int64_t done, int64_t stride) {
  std::vector<FunctionalModel::Entry> next;
  for (size_t i = 0; i < lens.size(); ++i) {
    FunctionalModel::Entry e;
    e.slot = static_cast<int64_t>(i) + 1;
    e.prefix = lens[i] + done;
    for (size_t k = 0; k < n; ++k)
      e.tokens.push_back(
          static_cast<int32_t>((first.next[i].back() + stride * static_cast<int64_t>(k)) % 256));
    next.push_back(e);
  }
  return next;
}

// Every request's last logits within 3 % of their range and the same next token; `differ`: the
// two are not bit-identical (different launches computed them).
void ExpectSameLogits(const FunctionalModel::Output& a, const FunctionalModel::Output& b,
                      const char* what, bool differ) {
  for (size_t i = 0; i < a.logits.size(); ++i) {
    double diff = 0, scale = 0;
    for (size_t v = 0; v < a.logits[i].size(); ++v) {
      diff = std::max(diff, static_cast<double>(std::fabs(a.logits[i][v] - b.logits[i][v])));
      scale = std::max(scale, static_cast<double>(std::fabs(b.logits[i][v])));
    }
    EXPECT_LT(diff / scale, 0.03) << what << ", request " << i;
    if (differ) {
      EXPECT_GT(diff, 0.0) << what << ": the two forms are not the same launches";
    }
    EXPECT_EQ(a.next[i].back(), b.next[i].back()) << what << ", request " << i;
  }
}

// MLA (configs/models/tiny-deepseek.json: 4 heads, q_lora 48, kv_lora 64, nope 32 + rope 16,
// v 32). Decode and verify run the absorbed form over the latent cache; an extend of the same
// tokens over the same prefix runs the decompressed (MHA) form through kv_b_proj. The two are
// the same attention computed in a different order, so the logits agree to bf16 rounding, with
// requests of 37, 130 (past a 128-token page) and 5 tokens in one batch.
TEST(Functional, MlaAbsorbedDecodeAndVerifyMatchTheDecompressedForm) {
  const ModelConfig m = TinyFamily("tiny-deepseek");
  FunctionalOptions o;
  FunctionalModel absorbed(m, Device(), o), unfused(m, Device(), o);
  const std::vector<int64_t> lens = {37, 130, 5};
  const std::vector<FunctionalModel::Entry> prompt = Prompts(lens, 7, 3);
  const FunctionalModel::Output first = absorbed.Extend(prompt);
  unfused.Extend(prompt);
  ExpectSameLogits(absorbed.Decode(NextTokens(lens, first, 1, 0, 11)),
                   unfused.Extend(NextTokens(lens, first, 1, 0, 11)), "decode", true);
  ExpectSameLogits(absorbed.Decode(NextTokens(lens, first, 3, 1, 11), true),
                   unfused.Extend(NextTokens(lens, first, 3, 1, 11)), "verify of 3 tokens", true);
  for (const auto& [op, err] : absorbed.kernel_errors()) EXPECT_LT(err, 0.02) << op;
  EXPECT_GT(absorbed.kernel_calls().at("grouped_matmul"),
            unfused.kernel_calls().at("grouped_matmul"));  // W_uk and W_uv per layer
}

// The fused preprocessing (mla_prolog: projections, norms, rope, the latent row written into its
// page slot, q_nope through W_uk) gives the unfused launches' decode and 3-token verify, over
// latent rows that earlier fused steps wrote (the verify's prefix holds the decode's row), for
// requests one of which crosses a page.
TEST(Functional, MlaPrologFusedMatchesTheUnfusedLaunches) {
  const ModelConfig m = TinyFamily("tiny-deepseek");
  FunctionalOptions fo, uo;
  fo.mla_prolog = "fused";
  FunctionalModel fused(m, Device(), fo), unfused(m, Device(), uo);
  const std::vector<int64_t> lens = {37, 127, 5};
  const std::vector<FunctionalModel::Entry> prompt = Prompts(lens, 5, 2);
  const FunctionalModel::Output first = fused.Extend(prompt);
  unfused.Extend(prompt);
  ExpectSameLogits(fused.Decode(NextTokens(lens, first, 1, 0, 13)),
                   unfused.Decode(NextTokens(lens, first, 1, 0, 13)), "decode", false);
  ExpectSameLogits(fused.Decode(NextTokens(lens, first, 3, 1, 13), true),
                   unfused.Decode(NextTokens(lens, first, 3, 1, 13), true), "verify of 3 tokens",
                   false);
  for (const auto& [op, err] : fused.kernel_errors()) EXPECT_LT(err, 0.02) << op;
  // Three MLA layers, two absorbed steps: six prologs; the unfused steps ran rotary_embedding
  // there.
  EXPECT_EQ(fused.kernel_calls().at("mla_prolog"), 6);
  EXPECT_EQ(unfused.kernel_calls().count("mla_prolog"), 0u);
  EXPECT_LT(fused.kernel_calls().at("rotary_embedding"),
            unfused.kernel_calls().at("rotary_embedding"));
}

TEST(Functional, Llama3RopeScalingReachesTheKernels) {
  const ModelConfig scaled = TinyFamily("tiny-llama");
  ModelConfig plain = scaled;
  plain.full.rope_scaling.factor = 0;
  const FunctionalResult a =
      RunFunctional(plain, Device(), FunctionalOptions{}, Chunked(0), Requests());
  const FunctionalResult b =
      RunFunctional(scaled, Device(), FunctionalOptions{}, Chunked(0), Requests());
  EXPECT_GT(Compare(a, b).max_logit_diff, 1e-3);
}

}  // namespace
}  // namespace npusim
