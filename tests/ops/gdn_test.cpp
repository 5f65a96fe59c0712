// recurrent_gated_delta_rule (both implementations, decode and verify) and chunk_gated_delta_rule
// against the fp64 reference, and the two against each other on the same inputs.
#include <gmock/gmock.h>

#include <cmath>
#include <filesystem>

#include "model/npy.h"
#include "ops/chunk_gated_delta_rule/chunk_gdr_torch.h"
#include "ops/common/op_util.h"
#include "tests/ops/op_test_util.h"

namespace npusim::testing {
namespace {

// K != V, neither a power of two, V not a multiple of block_v, GQA 2:1, shuffled slots.
const Kvs kSmall = {{"batch", "3"},  {"heads_k", "2"},      {"heads_v", "4"},  {"k_dim", "48"},
                    {"v_dim", "80"}, {"draft_tokens", "3"}, {"pool_size", "6"}};

Kvs With(Kvs kv, const Kvs& more) {
  kv.insert(kv.end(), more.begin(), more.end());
  return kv;
}

TEST(RecurrentGatedDeltaRule, FusedDecodeUpdatesThePoolInVKLayout) {
  KernelRun r =
      RunOp("recurrent_gated_delta_rule", With(kSmall, {{"impl", "fused"}, {"mode", "decode"}}));
  ExpectAccurate(r, kBf16Tol);
}

TEST(RecurrentGatedDeltaRule, FusedVerifyWritesPerTokenStatesAndLeavesThePool) {
  KernelRun r =
      RunOp("recurrent_gated_delta_rule", With(kSmall, {{"impl", "fused"}, {"mode", "verify"}}));
  ExpectAccurate(r, kBf16Tol);
  EXPECT_EQ(r.numerics.at("ssm_states").max_abs_err, 0.0);  // committed state untouched (§3.6)
}

TEST(RecurrentGatedDeltaRule, TritonChainDecodeAndVerifyWithFp32Pool) {
  for (const char* mode : {"decode", "verify"}) {
    KernelRun r = RunOp("recurrent_gated_delta_rule", With(kSmall, {{"impl", "triton_chain"},
                                                                    {"mode", mode},
                                                                    {"ssm_dtype", "float32"},
                                                                    {"block_v", "32"}}));
    ExpectAccurate(r, kBf16Tol);
  }
}

TEST(RecurrentGatedDeltaRule, MultiOpDecodeAndVerifyMatchTheReferenceWithEitherPool) {
  for (const char* mode : {"decode", "verify"})
    for (const char* pool : {"bfloat16", "float32"}) {
      KernelRun r =
          RunOp("recurrent_gated_delta_rule",
                With(kSmall, {{"impl", "multi_op"}, {"mode", mode}, {"ssm_dtype", pool}}));
      ExpectAccurate(r, kBf16Tol);
      if (std::string(mode) == "verify") {
        EXPECT_EQ(r.numerics.at("ssm_states").max_abs_err, 0.0);
      }
    }
}

// vllm-ascend's decode path as separate launches, in its order; the recurrence itself is the
// fused impl's kernel without the in-kernel norm and sigmoid, so it costs no more than the
// fused op's second launch, and the six launches before it are what the multi-op path adds.
TEST(RecurrentGatedDeltaRule, MultiOpIsVllmAscendsSevenLaunches) {
  const Kvs shape = With(kSmall, {{"mode", "decode"}});
  KernelRun m = RunOp("recurrent_gated_delta_rule", With(shape, {{"impl", "multi_op"}}),
                      "Ascend910B3", ModeChoice::kTimingOnly);
  std::vector<std::string> names;
  for (const auto& l : m.launches) names.push_back(l.name);
  EXPECT_THAT(names,
              ::testing::ElementsAre("rearrange_mixed_qkv.q", "rearrange_mixed_qkv.k",
                                     "rearrange_mixed_qkv.v", "fused_gdn_gating", "l2norm_fwd.q",
                                     "l2norm_fwd.k", "npu_recurrent_gated_delta_rule"));
  KernelRun f = RunOp("recurrent_gated_delta_rule", With(shape, {{"impl", "fused"}}), "Ascend910B3",
                      ModeChoice::kTimingOnly);
  ASSERT_EQ(f.launches.size(), 2u);
  EXPECT_LE(m.launches.back().result.cycles, f.launches.back().result.cycles);
  EXPECT_GT(m.launch.cycles, f.launch.cycles);
}

TEST(RecurrentGatedDeltaRule, FusedRejectsAnFp32Pool) {
  EXPECT_THROW(RunOp("recurrent_gated_delta_rule", {{"impl", "fused"}, {"ssm_dtype", "float32"}}),
               InputError);
}

TEST(RecurrentGatedDeltaRule, TimingOnlyMatchesFunctional) {
  ExpectTimingOnlyMatchesFunctional("recurrent_gated_delta_rule",
                                    With(kSmall, {{"impl", "fused"}, {"mode", "verify"}}));
  ExpectTimingOnlyMatchesFunctional("recurrent_gated_delta_rule",
                                    With(kSmall, {{"impl", "triton_chain"}}));
  ExpectTimingOnlyMatchesFunctional("recurrent_gated_delta_rule",
                                    With(kSmall, {{"impl", "multi_op"}}));
}

}  // namespace
}  // namespace npusim::testing

namespace npusim::testing {
namespace {

// chunk_gated_delta_rule: varlen with a 1-token request, a request of exactly one chunk and
// one of two chunks plus a tail, mixed initial states, GQA 2:1, K != V.
const Kvs kChunkSmall = {{"seq_lens", "70,1,130,64"}, {"initial", "mixed"}, {"heads", "4"},
                         {"key_heads", "2"},          {"k_dim", "64"},      {"v_dim", "96"}};

TEST(ChunkGatedDeltaRule, VarlenMixedInitialStatesMatchTheRecurrence) {
  KernelRun r = RunOp("chunk_gated_delta_rule", kChunkSmall);
  ExpectAccurate(r, kBf16Tol);
  EXPECT_EQ(r.launch_times.size(), 9u);
}

TEST(ChunkGatedDeltaRule, AQueryStartLocThatContradictsSeqLensIsAnInputError) {
  // The chunk table follows seq_lens: a user's query_start_loc must say the same, not be ignored.
  const Op& op = FindOp("chunk_gated_delta_rule");
  ParamValues p(op.params());
  for (const auto& [k, v] : With(kChunkSmall, {{"seq_lens", "70,0,130"}})) p.Set(k, v);
  RunOptions o;
  o.mode = ModeChoice::kFunctional;
  o.use_cache = false;
  TensorMap user;
  user["query_start_loc"] = Tensor("query_start_loc", {4}, DType::kInt32, true);
  for (int64_t i = 0; i < 4; ++i)
    user["query_start_loc"].Set(i, std::vector<double>{0, 70, 70, 200}[static_cast<size_t>(i)]);
  o.inputs = &user;
  EXPECT_EQ(RunKernel(op, p, LoadDevice("Ascend910B3"), o).status,
            "ok");  // the same offsets: accepted
  user["query_start_loc"].Set(1,
                              60);  // 60, 10, 130 tokens: offsets in order, not what seq_lens says
  try {
    RunKernel(op, p, LoadDevice("Ascend910B3"), o);
    ADD_FAILURE() << "accepted";
  } catch (const InputError& e) {
    EXPECT_NE(
        std::string(e.what()).find("'query_start_loc' element 1 is 60, but the parameters give 70"),
        std::string::npos)
        << e.what();
  }
}

TEST(ChunkGatedDeltaRule, VKLayoutBf16PoolAndAZeroLengthRequest) {
  // The zero-length request keeps its pool slot byte for byte (the reference leaves it alone).
  KernelRun r = RunOp("chunk_gated_delta_rule", With(kChunkSmall, {{"seq_lens", "70,0,130"},
                                                                   {"state_layout", "vk"},
                                                                   {"ssm_dtype", "bfloat16"},
                                                                   {"initial", "all"}}));
  ExpectAccurate(r, kBf16Tol);
}

TEST(ChunkGatedDeltaRule, TransposedStateFaultDriftsWhenKEqualsVAndIsAShapeErrorOtherwise) {
  // Scenario S3: every request continues from a stored state; read (and written) transposed.
  const Kvs square = With(kChunkSmall, {{"k_dim", "64"}, {"v_dim", "64"}, {"initial", "all"}});
  KernelRun ok = RunOp("chunk_gated_delta_rule", square);
  KernelRun bad = RunOp("chunk_gated_delta_rule", With(square, {{"fault", "transposed_state"}}));
  ExpectAccurate(ok, kBf16Tol);
  ASSERT_EQ(bad.status, "ok");
  EXPECT_GT(bad.numerics.at("o").norm_err, 20 * kBf16Tol);
  EXPECT_GT(bad.numerics.at("ssm_states").norm_err, 20 * kBf16Tol);
  EXPECT_THROW(RunOp("chunk_gated_delta_rule", With(kChunkSmall, {{"fault", "transposed_state"}})),
               InputError);
}

// kkt is computed per value head, as the production kernels do: calibration.md C1 measures
// 1.19 -> 2.33 ms from 16 to 32 value heads at 16 key heads. Twice the value heads over the same
// 16 key heads writes twice the A tiles (the second read of each K tile mostly hits L2): about
// 1.5x here, where computing per key head kept it level.
TEST(ChunkGatedDeltaRule, KktWorkScalesWithTheValueHeads) {
  auto kkt_us = [](const char* heads) {
    const KernelRun r = RunOp("chunk_gated_delta_rule",
                              {{"requests", "8"},
                               {"tokens", "1024"},
                               {"heads", heads},
                               {"key_heads", "16"},
                               {"k_dim", "128"},
                               {"v_dim", "128"}},
                              "Ascend910B2", ModeChoice::kTimingOnly);
    EXPECT_EQ(r.status, "ok");
    for (const auto& [name, us] : r.launch_times)
      if (name.find(".kkt") != std::string::npos) return us;
    return 0.0;
  };
  EXPECT_GT(kkt_us("32"), 1.3 * kkt_us("16"));
}

TEST(ChunkGatedDeltaRule, MegaIsOneLaunchWithTheSameNumbersAndNoOverheadBetweenStages) {
  // launch=mega runs the nine stages as one kernel: the same instructions and results, one
  // launch (the host pays once), and the stages after the first start without the launch
  // overhead: exactly 8 x launch.overhead_us (2 us on 910B3) less device time.
  const KernelRun staged = RunOp("chunk_gated_delta_rule", kChunkSmall);
  const KernelRun one = RunOp("chunk_gated_delta_rule", With(kChunkSmall, {{"launch", "mega"}}));
  ExpectAccurate(one, kBf16Tol);
  EXPECT_EQ(staged.launch_times.size(), 9u);
  EXPECT_EQ(one.launch_times.size(), 1u);
  EXPECT_EQ(staged.launch.cycles - one.launch.cycles,
            8u * 2000u * 1800u / 1000u);  // 8 overheads of 2 us at 1.8 GHz
  for (const auto& [name, e] : staged.numerics)
    EXPECT_EQ(one.numerics.at(name).max_abs_err, e.max_abs_err) << name;
}

// cumsum=pto runs megagdn-pto's chunk_cumsum form: the same chunk-local sums (every output equal
// to the default kernel's), and a time set by the row chain, not by the heads: each row's vector
// work is 64 columns whatever the head count up to 64, so 8x the heads adds only the wider rows'
// DMA (bounds derived below), while twice the tokens (16 tiles of 128 rows over 24 AI cores: one
// per core; 32 tiles: two on the busiest) take twice the time less the fixed launch overhead.
TEST(ChunkGatedDeltaRule, PtoCumsumIsTheSameSumAsARowChainPaddedTo64Heads) {
  const KernelRun base = RunOp("chunk_gated_delta_rule", kChunkSmall);
  const KernelRun pto = RunOp("chunk_gated_delta_rule", With(kChunkSmall, {{"cumsum", "pto"}}));
  ExpectAccurate(pto, kBf16Tol);
  for (const auto& [name, e] : base.numerics)
    EXPECT_EQ(pto.numerics.at(name).max_abs_err, e.max_abs_err) << name;
  auto cumsum_us = [](const char* heads, const char* tokens) {
    const KernelRun r = RunOp("chunk_gated_delta_rule",
                              {{"requests", "8"},
                               {"tokens", tokens},
                               {"heads", heads},
                               {"key_heads", "8"},
                               {"cumsum", "pto"}},
                              "Ascend910B2", ModeChoice::kTimingOnly);
    EXPECT_EQ(r.status, "ok");
    for (const auto& [name, us] : r.launch_times)
      if (name.find(".cumsum") != std::string::npos) return us;
    return 0.0;
  };
  const double h8 = cumsum_us("8", "256"), h64 = cumsum_us("64", "256"),
               twice = cumsum_us("8", "512");
  // One 128-row tile per core moves 128 x (64 - 8) x 4 = 28672 B more in and out: at least what
  // the core's own paths take (28672 B / 225 GB/s in + / 135 GB/s out = 0.34 us on 910B2), at
  // most that with the 16 cores' loads and write-backs queued on HBM as well (2 x 16 x 28672 B /
  // 1600 GB/s = 0.57 us more): 0.91 us.
  EXPECT_GT(h64 - h8, 0.34);
  EXPECT_LT(h64 - h8, 0.91);
  const double overhead = 2.0;  // launch.overhead_us on 910B2
  EXPECT_NEAR((twice - overhead) / (h8 - overhead), 2.0, 0.05);
}

TEST(ChunkGatedDeltaRule, TimingOnlyMatchesFunctional) {
  ExpectTimingOnlyMatchesFunctional("chunk_gated_delta_rule", kChunkSmall);
}

// chunk_h=triton: the same state update in rounds of half V, each AIV a quarter of it; the
// numbers are the AscendC form's within bf16 (the products are split by columns, every element
// still sums over the same k), in both state layouts and with a bf16 pool.
TEST(ChunkGatedDeltaRule, TritonChunkHMatchesTheRecurrence) {
  const Kvs tri = With(kChunkSmall, {{"v_dim", "128"}, {"chunk_h", "triton"}});
  ExpectAccurate(RunOp("chunk_gated_delta_rule", tri), kBf16Tol);
  ExpectAccurate(RunOp("chunk_gated_delta_rule",
                       With(tri, {{"state_layout", "vk"}, {"ssm_dtype", "bfloat16"}})),
                 kBf16Tol);
  ExpectTimingOnlyMatchesFunctional("chunk_gated_delta_rule", tri);
  EXPECT_THROW(RunOp("chunk_gated_delta_rule", With(kChunkSmall, {{"chunk_h", "triton"}})),
               InputError);  // v_dim 96: a quarter is 24 bf16, not whole 32 B rows
}

// chunk_o=triton: stages 6-9 as one mixed launch per (request, value head), the same products
// and gating as the four AscendC launches: the same numbers within bf16, with partial chunks on
// both AIVs' rows (70 and 130 tokens), a 1-token request (one AIV with no rows) and vk / bf16.
TEST(ChunkGatedDeltaRule, TritonChunkOIsOneLaunchThatMatchesTheRecurrence) {
  const Kvs tri = With(kChunkSmall, {{"chunk_o", "triton"}});
  const KernelRun r = RunOp("chunk_gated_delta_rule", tri);
  ExpectAccurate(r, kBf16Tol);
  EXPECT_EQ(r.launch_times.size(), 6u);
  ExpectAccurate(RunOp("chunk_gated_delta_rule", With(tri, {{"state_layout", "vk"},
                                                            {"ssm_dtype", "bfloat16"},
                                                            {"chunk_h", "triton"},
                                                            {"v_dim", "128"}})),
                 kBf16Tol);
  ExpectTimingOnlyMatchesFunctional("chunk_gated_delta_rule", tri);
}

// kkt=triton gates A in the kkt launch (beta included) and stage 3 reads it as it is;
// wy_fast=triton scales K and V in the wy_fast launch instead of stage 3. Alone and with all
// four Triton stages: the same numbers within bf16, in both layouts.
TEST(ChunkGatedDeltaRule, TritonKktAndWyFastMatchTheRecurrence) {
  ExpectAccurate(RunOp("chunk_gated_delta_rule", With(kChunkSmall, {{"kkt", "triton"}})), kBf16Tol);
  ExpectAccurate(RunOp("chunk_gated_delta_rule", With(kChunkSmall, {{"wy_fast", "triton"}})),
                 kBf16Tol);
  const Kvs all = With(kChunkSmall, {{"v_dim", "128"},
                                     {"kkt", "triton"},
                                     {"wy_fast", "triton"},
                                     {"chunk_h", "triton"},
                                     {"chunk_o", "triton"}});
  const KernelRun r = RunOp("chunk_gated_delta_rule", all);
  ExpectAccurate(r, kBf16Tol);
  EXPECT_EQ(r.launch_times.size(), 6u);
  ExpectAccurate(RunOp("chunk_gated_delta_rule",
                       With(all, {{"state_layout", "vk"}, {"ssm_dtype", "bfloat16"}})),
                 kBf16Tol);
  // A zero-length request: its programs (chunk_h, chunk_o) have no chunks and leave its slot.
  ExpectAccurate(
      RunOp("chunk_gated_delta_rule", With(all, {{"seq_lens", "70,0,130"}, {"initial", "all"}})),
      kBf16Tol);
  ExpectTimingOnlyMatchesFunctional("chunk_gated_delta_rule", all);
  EXPECT_THROW(RunOp("chunk_gated_delta_rule", With(all, {{"launch", "mega"}})), InputError);
}

// chunk=128, sgl-kernel-npu's Triton stages at BT = 128: chunks of 128 tokens that never cross a
// request (a tail of 44 and one of 1, a 300-token request in three chunks, a zero-length one),
// the same numbers within bf16 with the Triton kkt and wy_fast (the solve stage then neither
// gates A nor scales K and V) and the AscendC or Triton chunk_h and chunk_o, in both layouts.
TEST(ChunkGatedDeltaRule, Chunk128MatchesTheRecurrence) {
  const Kvs c128 = With(kChunkSmall, {{"seq_lens", "70,0,129,300,1"},
                                      {"v_dim", "128"},
                                      {"chunk", "128"},
                                      {"kkt", "triton"},
                                      {"wy_fast", "triton"}});
  const KernelRun r = RunOp("chunk_gated_delta_rule", c128);
  ExpectAccurate(r, kBf16Tol);
  EXPECT_EQ(r.launch_times.size(), 9u);
  EXPECT_EQ(TilingValue(r, "chunk"), "128");
  EXPECT_EQ(TilingValue(r, "chunks"), "7");  // 70: 1, 129: 2, 300: 3, 1: 1 (at 64: 2 + 3 + 5 + 1)
  const Kvs all = With(c128, {{"chunk_h", "triton"}, {"chunk_o", "triton"}});
  ExpectAccurate(RunOp("chunk_gated_delta_rule", all), kBf16Tol);
  ExpectAccurate(RunOp("chunk_gated_delta_rule",
                       With(all, {{"state_layout", "vk"}, {"ssm_dtype", "bfloat16"}})),
                 kBf16Tol);
  ExpectTimingOnlyMatchesFunctional("chunk_gated_delta_rule", all);
}

// Only the staged form takes a chunk size, and only 64 or 128; the AscendC solve stage that must
// also gate A and scale K and V is sized for 64 and overflows UB at 128. The input errors come
// before any simulation and the failing run last: after a simulation, an exception or a failure
// inside a SystemC thread leaves AddressSanitizer unsure of this thread's stack, and its next
// frames can be reported as use-after-scope (a false positive of the coroutine switches).
TEST(ChunkGatedDeltaRule, Chunk128IsStagedOnlyAndOverflowsTheAscendCSolve) {
  EXPECT_THROW(RunOp("chunk_gated_delta_rule", With(kChunkSmall, {{"chunk", "96"}})), InputError);
  EXPECT_THROW(
      RunOp("chunk_gated_delta_rule", With(kChunkSmall, {{"chunk", "128"}, {"launch", "mega"}})),
      InputError);
  const KernelRun r = RunOp("chunk_gated_delta_rule", With(kChunkSmall, {{"chunk", "128"}}),
                            "Ascend910B3", ModeChoice::kTimingOnly);
  EXPECT_EQ(r.status, "ub_overflow");
  EXPECT_THAT(r.message, ::testing::HasSubstr("ub overflow, requires"));
}

// The Triton forms' costs over a bare run of the same programs: Triton-Ascend's launch
// (triton.launch_us before the first block) and each program's prologue (triton.program_cycles on
// the AIC and both AIVs at once, so the chain starts that much later): with one program (one
// request, one value head) exactly launch_us x the clock + program_cycles more cycles on 910B3, for
// chunk_h and chunk_o; kkt and wy_fast run a program per chunk, the four chunks of 200 tokens on
// four cores at once, each paying one prologue: the same difference.
TEST(ChunkGatedDeltaRule, TritonStagesPayTritonsLaunchAndOneProloguePerProgram) {
  const Op& op = FindOp("chunk_gated_delta_rule");
  for (const std::string stage : {"chunk_h", "chunk_o", "kkt", "wy_fast"}) {
    ParamValues p(op.params());
    for (const auto& [k, v] : Kvs{{"requests", "1"},
                                  {"tokens", "200"},
                                  {"heads", "1"},
                                  {"key_heads", "1"},
                                  {stage, "triton"}})
      p.Set(k, v);
    RunOptions o;
    o.mode = ModeChoice::kTimingOnly;
    o.use_cache = false;
    DeviceConfig dev = LoadDevice("Ascend910B3");
    auto stage_cycles = [&](const DeviceConfig& d) {
      const KernelRun r = RunKernel(op, p, d, o);
      EXPECT_EQ(r.status, "ok");
      for (const auto& [name, us] : r.launch_times)
        if (name == "chunk_gated_delta_rule." + stage) return us * d.clock_mhz;
      return 0.0;
    };
    const double with = stage_cycles(dev);
    const double launch_us = dev.triton_launch_us;
    const auto program = static_cast<double>(dev.triton_program_cycles);
    dev.triton_launch_us = 0;
    dev.triton_program_cycles = 0;
    EXPECT_NEAR(with - stage_cycles(dev), launch_us * dev.clock_mhz + program, 1.0) << stage;
    EXPECT_GT(program, 0.0);
  }
}

// A Triton chunk_o program walks its request's chunks one after another (the AscendC launches
// deal (chunk, head) units over every core instead): with 8 programs on 24 AI cores, twice the
// tokens per request take twice the time, less the launch costs and the one prologue per program.
TEST(ChunkGatedDeltaRule, TritonChunkOWalksEachRequestsChunksInOrder) {
  const DeviceConfig dev = LoadDevice("Ascend910B2");
  auto chunk_o_us = [](const char* form, const char* tokens) {  // all chunk_o launches
    const KernelRun r = RunOp("chunk_gated_delta_rule",
                              {{"requests", "2"},
                               {"tokens", tokens},
                               {"heads", "4"},
                               {"key_heads", "4"},
                               {"k_dim", "128"},
                               {"v_dim", "128"},
                               {"chunk_o", form}},
                              "Ascend910B2", ModeChoice::kTimingOnly);
    EXPECT_EQ(r.status, "ok");
    double us = 0;
    for (const auto& [name, t] : r.launch_times)
      if (name.find(".chunk_o") != std::string::npos) us += t;
    return us;
  };
  const double fixed = dev.launch_overhead_us + dev.triton_launch_us +
                       dev.CyclesToUs(static_cast<double>(dev.triton_program_cycles));
  EXPECT_NEAR((chunk_o_us("triton", "1024") - fixed) / (chunk_o_us("triton", "512") - fixed), 2.0,
              0.05);
}

// Each chunk iteration of the Triton form is two rounds of the four hand-offs where the AscendC
// form does one, each AIV moving a quarter of V per round instead of half V once: the same bytes
// per AIV and twice the chain's fixed latencies, so with L the latency and B the byte time of
// the AscendC form's iteration the ratio is (2L + B) / (L + B), strictly between 1 and 2 (8
// programs on 8 AI cores, the launch costs taken out).
TEST(ChunkGatedDeltaRule, TritonChunkHRunsTwoRoundsPerChunk) {
  auto chunk_h_us = [](const char* form) {
    const KernelRun r = RunOp("chunk_gated_delta_rule",
                              {{"requests", "2"},
                               {"tokens", "1024"},
                               {"heads", "4"},
                               {"key_heads", "4"},
                               {"k_dim", "128"},
                               {"v_dim", "128"},
                               {"chunk_h", form}},
                              "Ascend910B2", ModeChoice::kTimingOnly);
    EXPECT_EQ(r.status, "ok");
    for (const auto& [name, us] : r.launch_times)
      if (name.find(".chunk_h") != std::string::npos) return us;
    return 0.0;
  };
  const DeviceConfig dev = LoadDevice("Ascend910B2");
  const double fixed = dev.launch_overhead_us, tri_fixed = fixed + dev.triton_launch_us;
  const double ratio = (chunk_h_us("triton") - tri_fixed) / (chunk_h_us("ascendc") - fixed);
  EXPECT_GT(ratio, 1.05);
  EXPECT_LT(ratio, 2.0);
}

// Chunked and recurrent GDN on the same inputs: the recurrent op's seeded verify batch (fused
// AscendC impl, [V, K] bf16 pool) is turned into the chunk op's inputs (q, k L2-normalised and
// rounded to bf16, g and beta from the gating formula, the same pool with state_layout=vk);
// outputs and the state after each request's last token must agree to bf16 precision, for
// requests continuing from a state and for one starting fresh.
// launch=torch: sgl-kernel-npu's PyTorch-op form of 2025-12, the op list read off its Python code.
// Requests of 2, 1, 0 and 3 chunks (the zero-length one still runs its per-request ops), GQA 2:1,
// K != V, a bf16 pool (the state is cast once per request).
TEST(ChunkGatedDeltaRuleTorch, ListsEveryOpOfThePythonCodePerRequestAndChunk) {
  chunk_gdr::Dims d;
  chunk_gdr::BuildChunks({100, 1, 0, 190}, d);
  d.H = 2, d.HV = 4, d.K = 64, d.V = 96, d.ssm = DType::kBFloat16;
  const std::vector<chunk_gdr::TorchOp> ops = chunk_gdr::TorchForm(d);
  int64_t expect = 2;  // q and k repeated to the value heads, once per call
  for (int64_t chunks : {2, 1, 0, 3}) expect += chunk_gdr::TorchOpsPerRequest(chunks, true);
  EXPECT_EQ(static_cast<int64_t>(ops.size()), expect);
  // The products: three per request (K_beta K^T, A V_beta, A K_beta exp(g)), five per chunk.
  int64_t matmuls = 0, clones = 0;
  for (const chunk_gdr::TorchOp& o : ops) {
    matmuls += o.kind == chunk_gdr::TorchOp::Kind::kMatmul;
    clones += o.name == "clone";
    if (o.row == 0 || o.in == 0) continue;  // contiguous, or the empty request's
    EXPECT_EQ(o.in % o.row, 0) << o.name;   // whole rows, inside the tensor they stride over
    EXPECT_LE(o.row, o.stride) << o.name;
    EXPECT_LE(o.stride, o.span) << o.name;
  }
  EXPECT_EQ(matmuls, 3 * 4 + 5 * 6);
  EXPECT_EQ(clones, 2 * 63 * 4);     // the solve's row and block of every row i, per request
  d.H = 4, d.ssm = DType::kFloat32;  // no repeat, no cast
  int64_t plain = 0;
  for (int64_t chunks : {2, 1, 0, 3}) plain += chunk_gdr::TorchOpsPerRequest(chunks, false);
  EXPECT_EQ(static_cast<int64_t>(chunk_gdr::TorchForm(d).size()), plain);
}

// Each op is a torch launch (the host prices those apart from kernel launches), and the chunk
// loop's 18 launches cost the same, to the cycle, for every chunk of a request: the launches of
// an iteration have the same shapes and each starts with L2 cold (Ascend910B3 keeps no L2
// across launches).
TEST(ChunkGatedDeltaRuleTorch, EachOpIsATorchLaunchAndEveryChunkOfTheLoopCostsTheSame) {
  const KernelRun r = RunOp("chunk_gated_delta_rule",
                            {{"tokens", "192"},
                             {"heads", "4"},
                             {"key_heads", "2"},
                             {"k_dim", "64"},
                             {"v_dim", "96"},
                             {"launch", "torch"}},
                            "Ascend910B3", ModeChoice::kTimingOnly);
  ASSERT_EQ(r.status, "ok") << r.message;
  const auto n = static_cast<int64_t>(r.launch_times.size());
  EXPECT_EQ(n, 2 + chunk_gdr::TorchOpsPerRequest(3, false));
  EXPECT_EQ(r.torch_ops, n);
  // 2 repeats, then 422 ops before the chunk loop (normalise, transpose, pad, gates, the solve).
  const size_t loop = 2 + 422;
  EXPECT_EQ(r.launch_times[loop].first, "chunk_gated_delta_rule.torch.matmul");
  for (size_t c = 1; c < 3; ++c)
    for (size_t j = 0; j < 18; ++j)
      EXPECT_EQ(r.launch_times[loop + 18 * c + j], r.launch_times[loop + j]) << c << " " << j;
  EXPECT_EQ(r.launch_times[loop + 54].first, "chunk_gated_delta_rule.torch.contiguous");
}

TEST(ChunkGatedDeltaRuleTorch, IsTimingOnlyAndHasNoStagesToPutInTritonForm) {
  const Kvs torch = {{"tokens", "64"}, {"heads", "2"}, {"key_heads", "2"}, {"launch", "torch"}};
  EXPECT_THROW(RunOp("chunk_gated_delta_rule", torch, "Ascend910B3", ModeChoice::kFunctional),
               InputError);
  const KernelRun r = RunOp("chunk_gated_delta_rule", torch);  // auto: timing-only, said why
  EXPECT_FALSE(r.functional);
  EXPECT_NE(r.mode_reason.find("launch=torch"), std::string::npos) << r.mode_reason;
  EXPECT_THROW(RunOp("chunk_gated_delta_rule", With(torch, {{"kkt", "triton"}})), InputError);
}

TEST(ChunkGatedDeltaRule, AgreesWithTheRecurrentKernelOnTheSameInputs) {
  namespace fs = std::filesystem;
  const int64_t B = 3, S = 8, H = 2, HV = 4, K = 64, V = 96, width = 2 * H * K + HV * V;
  const Op& rec = FindOp("recurrent_gated_delta_rule");
  ParamValues rp(rec.params());
  for (const auto& [k, v] : Kvs{{"impl", "fused"},
                                {"mode", "verify"},
                                {"batch", "3"},
                                {"draft_tokens", "8"},
                                {"heads_k", "2"},
                                {"heads_v", "4"},
                                {"k_dim", "64"},
                                {"v_dim", "96"}})
    rp.Set(k, v);
  TensorMap in;
  for (const TensorSpec& s : rec.tensors(rp)) in[s.name] = Tensor(s.name, s.shape, s.dtype, true);
  Rng rng(11);
  rec.FillInputs(rp, in, rng);
  const fs::path rdir = fs::temp_directory_path() / "npusim_gdn_agree_rec",
                 cdir = fs::temp_directory_path() / "npusim_gdn_agree_chunk";
  fs::create_directories(rdir);
  fs::create_directories(cdir);
  for (const TensorSpec& s : rec.tensors(rp))
    if (IsRead(s.role)) WriteNpy((rdir / (s.name + ".npy")).string(), in[s.name]);

  const Op& chunk = FindOp("chunk_gated_delta_rule");
  ParamValues cp(chunk.params());
  for (const auto& [k, v] : Kvs{{"seq_lens", "8,8,8"},
                                {"initial", "all"},
                                {"heads", "4"},
                                {"key_heads", "2"},
                                {"k_dim", "64"},
                                {"v_dim", "96"},
                                {"ssm_dtype", "bfloat16"},
                                {"state_layout", "vk"}})
    cp.Set(k, v);
  TensorMap c;
  for (const TensorSpec& s : chunk.tensors(cp)) c[s.name] = Tensor(s.name, s.shape, s.dtype, true);
  const Tensor &qkv = in["mix_qkv"], &a = in["a"], &b = in["b"], &alog = in["A_log"],
               &dtb = in["dt_bias"];
  for (int64_t t = 0; t < B * S; ++t) {
    for (int64_t j = 0; j < H; ++j)
      for (int64_t part = 0; part < 2; ++part) {  // q, then k
        double ss = 0;
        for (int64_t x = 0; x < K; ++x)
          ss += std::pow(qkv.At(t * width + (part * H + j) * K + x), 2);
        for (int64_t x = 0; x < K; ++x)
          c[part ? "k" : "q"].Set((t * H + j) * K + x, qkv.At(t * width + (part * H + j) * K + x) /
                                                           std::sqrt(ss + 1e-6));
      }
    for (int64_t h = 0; h < HV; ++h) {
      for (int64_t y = 0; y < V; ++y)
        c["v"].Set((t * HV + h) * V + y, qkv.At(t * width + 2 * H * K + h * V + y));
      c["g"].Set(t * HV + h,
                 -std::exp(alog.At(h)) * op_util::Softplus(a.At(t * HV + h) + dtb.At(h)));
      c["beta"].Set(t * HV + h, op_util::Sigmoid(b.At(t * HV + h)));
    }
  }
  // Request 1 starts fresh: a zero pool slot for the recurrent kernel, has_initial_state = 0
  // (and a non-zero slot the chunked kernel must ignore) for the chunked one.
  const auto fresh = static_cast<int64_t>(in["cache_indices"].At(1));
  c["ssm_states"] = in["ssm_states"];
  for (int64_t e = 0; e < HV * V * K; ++e) in["ssm_states"].Set(fresh * HV * V * K + e, 0.0);
  WriteNpy((rdir / "ssm_states.npy").string(), in["ssm_states"]);
  for (int64_t r = 0; r <= B; ++r) c["query_start_loc"].Set(r, static_cast<double>(r * S));
  for (int64_t r = 0; r < B; ++r) {
    c["cache_indices"].Set(r, in["cache_indices"].At(r));
    c["has_initial_state"].Set(r, r == 1 ? 0 : 1);
  }
  for (const TensorSpec& s : chunk.tensors(cp))
    if (IsRead(s.role)) WriteNpy((cdir / (s.name + ".npy")).string(), c[s.name]);

  RunOptions o;
  o.mode = ModeChoice::kFunctional;
  o.use_cache = false;
  o.inputs_dir = rdir.string();
  KernelRun rr = RunKernel(rec, rp, LoadDevice("Ascend910B3"), o);
  o.inputs_dir = cdir.string();
  KernelRun cr = RunKernel(chunk, cp, LoadDevice("Ascend910B3"), o);
  ASSERT_EQ(rr.status, "ok") << rr.message;
  ASSERT_EQ(cr.status, "ok") << cr.message;
  ExpectAccurate(cr, kBf16Tol);

  const Tensor &ro = rr.outputs.at("o"), &co = cr.outputs.at("o");
  double max_o = 0, diff_o = 0;
  for (int64_t i = 0; i < ro.numel(); ++i) {
    max_o = std::max(max_o, std::fabs(ro.At(i)));
    diff_o = std::max(diff_o, std::fabs(ro.At(i) - co.At(i)));
  }
  EXPECT_LE(diff_o / max_o, 2 * kBf16Tol) << "max |o_chunk - o_recurrent| = " << diff_o;
  const Tensor &inter = rr.outputs.at("intermediate"), &pool = cr.outputs.at("ssm_states");
  double max_s = 0, diff_s = 0;
  for (int64_t r = 0; r < B; ++r) {
    const auto slot = static_cast<int64_t>(in["cache_indices"].At(r));
    for (int64_t e = 0; e < HV * V * K; ++e) {
      const double last = inter.At(((r * S + S - 1) * HV) * V * K + e),
                   chunked = pool.At(slot * HV * V * K + e);
      max_s = std::max(max_s, std::fabs(last));
      diff_s = std::max(diff_s, std::fabs(last - chunked));
    }
  }
  EXPECT_LE(diff_s / max_s, 2 * kBf16Tol) << "max state difference " << diff_s;
}

}  // namespace
}  // namespace npusim::testing
