// causal_conv1d_fn / causal_conv1d_update against the fp64 reference, and scenario S6.
#include "tests/ops/op_test_util.h"

namespace npusim::testing {
namespace {

TEST(CausalConv1dFn, VarlenMixedBatchWithShortRequests) {
  // Lengths below kw-1 (1, 2: the new state keeps part of the old one), a multi-tile request
  // (130 > rows_per_tile), an empty request, odd channel count split into tiles with a tail.
  KernelRun r = RunOp("causal_conv1d_fn", {{"seq_lens", "5,1,130,0,64,2"},
                                           {"dim", "300"},
                                           {"conv_tile", "128"},
                                           {"rows_per_tile", "16"},
                                           {"initial", "mixed"},
                                           {"extra_rows", "3"}});
  ExpectAccurate(r, kBf16Tol);
  EXPECT_EQ(r.numerics.at("conv_states").max_abs_err, 0.0);  // raw inputs, moved exactly
}

// Issue #15: a tile of fewer rows than the kw-1 history rows ran out of its temporary buffer
// (exit 3, out_of_bounds) though the value is in the parameter's range; the window shift now
// has room for kw-1 rows whatever the tile.
TEST(CausalConv1dFn, TilesShorterThanTheHistoryStillConvolve) {
  for (const char* rows : {"1", "2"}) {
    KernelRun r = RunOp("causal_conv1d_fn", {{"seq_lens", "5,1,9"},
                                             {"dim", "40"},
                                             {"kw", "4"},
                                             {"rows_per_tile", rows},
                                             {"initial", "mixed"}});
    EXPECT_EQ(r.status, "ok") << rows;
    ExpectAccurate(r, kBf16Tol);
    EXPECT_EQ(r.numerics.at("conv_states").max_abs_err, 0.0) << rows;
  }
}

TEST(CausalConv1dFn, Fp32AllAndNoInitialState) {
  for (const char* init : {"all", "none"}) {
    KernelRun r = RunOp("causal_conv1d_fn", {{"seq_lens", "7,3,33"},
                                             {"dim", "40"},
                                             {"kw", "3"},
                                             {"dtype", "float32"},
                                             {"initial", init}});
    ExpectAccurate(r, kFp32Tol);
    EXPECT_EQ(r.numerics.at("conv_states").max_abs_err, 0.0) << init;
  }
}

TEST(CausalConv1dFn, FaultInjectionReproducesScenarioS6) {
  // Mixed batch: request 0 continues (has_initial_state), request 1 (L = 5) starts fresh.
  const Kvs kv = {{"seq_lens", "8,5"}, {"dim", "16"}, {"initial", "mixed"}, {"dtype", "float32"}};
  KernelRun good = RunOp("causal_conv1d_fn", kv);
  Kvs faulty_kv = kv;
  faulty_kv.push_back({"fault", "mixed_batch_state_shift"});
  KernelRun bad = RunOp("causal_conv1d_fn", faulty_kv);
  ASSERT_EQ(good.status, "ok");
  ASSERT_EQ(bad.status, "ok");
  EXPECT_EQ(good.numerics.at("conv_states").max_abs_err, 0.0);
  EXPECT_GT(bad.numerics.at("conv_states").max_abs_err, 0.1);  // the stored state is wrong...
  EXPECT_EQ(bad.numerics.at("y").max_abs_err,
            good.numerics.at("y").max_abs_err);  // ...while this chunk's output is fine
  // Expected [x2, x3, x4] of request 1, the defect stores [0, x0, x1] (kernels.md §2.3).
  const Tensor& st = bad.outputs.at("conv_states");
  const int64_t slot_elems = 3 * 16;
  int64_t zero_rows = 0;
  for (int64_t slot = 1; slot < 3; ++slot) {
    bool all_zero = true;
    for (int64_t c = 0; c < 16; ++c) all_zero = all_zero && st.At(slot * slot_elems + c) == 0.0;
    zero_rows += all_zero;
  }
  EXPECT_EQ(zero_rows, 1);  // exactly one slot (request 1's) has the zero row in front
  // Batches that are not mixed are unaffected by the fault.
  KernelRun uniform = RunOp("causal_conv1d_fn", {{"seq_lens", "8,5"},
                                                 {"dim", "16"},
                                                 {"initial", "none"},
                                                 {"fault", "mixed_batch_state_shift"}});
  EXPECT_EQ(uniform.numerics.at("conv_states").max_abs_err, 0.0);
}

TEST(CausalConv1dUpdate, DecodeAndVerifyWindows) {
  // d = 1: plain decode; d = 4: verify over the (kw-1)+(d-1) window, advanced by all d tokens.
  for (const char* d : {"1", "4"}) {
    KernelRun r =
        RunOp("causal_conv1d_update",
              {{"requests", "5"}, {"draft_tokens", d}, {"dim", "200"}, {"pool_size", "9"}});
    ExpectAccurate(r, kBf16Tol);
    EXPECT_EQ(r.numerics.at("conv_states").max_abs_err, 0.0) << d;
  }
}

// Found by a serving run (MTP verify, one request, Qwen3.5 TP 2): with one item per block the
// weight load's MTE3->MTE2 sync and the request's followed each other with no MTE3 work in
// between, and the second SetFlag overtook the first WaitFlag (sync_error).
TEST(CausalConv1dUpdate, OneRequestPerBlockHasNoBackToBackSetFlag) {
  for (const char* d : {"1", "4"}) {
    KernelRun r =
        RunOp("causal_conv1d_update", {{"requests", "1"}, {"draft_tokens", d}, {"dim", "4096"}});
    ExpectAccurate(r, kBf16Tol);
    EXPECT_EQ(r.numerics.at("conv_states").max_abs_err, 0.0) << d;
  }
}

TEST(CausalConv1d, TimingOnlyMatchesFunctional) {
  ExpectTimingOnlyMatchesFunctional("causal_conv1d_fn", {{"seq_lens", "9,70,4"}, {"dim", "256"}});
  ExpectTimingOnlyMatchesFunctional("causal_conv1d_update",
                                    {{"requests", "6"}, {"draft_tokens", "3"}, {"dim", "128"}});
}

}  // namespace
}  // namespace npusim::testing
