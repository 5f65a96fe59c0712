// embedding and verify_greedy against their references.
#include "tests/ops/op_test_util.h"

namespace npusim::testing {
namespace {

TEST(Embedding, ShardRowsAndZeroRowsForOtherShards) {
  // ids drawn from 120 ids, this shard holds 30..79: some rows copied, some zeroed; odd hidden
  // size split into column pieces with a tail.
  KernelRun r = RunOp("embedding", {{"tokens", "37"},
                                    {"hidden", "100"},
                                    {"vocab", "50"},
                                    {"total_vocab", "120"},
                                    {"vocab_start", "30"},
                                    {"col_tile", "48"}});
  ASSERT_EQ(r.status, "ok") << r.message;
  EXPECT_EQ(r.numerics.at("out").max_abs_err, 0.0);
  EXPECT_GE(r.launch.time_us, r.roofline_us);
}

TEST(VerifyGreedy, AcceptsTheMatchingPrefixAndEmitsTheBonusToken) {
  for (const char* rate : {"0", "0.6", "1"}) {
    KernelRun r =
        RunOp("verify_greedy", {{"batch", "9"}, {"draft_tokens", "4"}, {"accept_rate", rate}});
    ASSERT_EQ(r.status, "ok") << r.message;
    for (const auto& [name, e] : r.numerics)
      EXPECT_EQ(e.max_abs_err, 0.0) << name << " rate " << rate;
    const Tensor& len = r.outputs.at("accept_len");
    for (int64_t b = 0; b < 9; ++b) {
      if (std::string(rate) == "0") {
        EXPECT_EQ(len.At(b), 1.0);  // only the bonus token
      }
      if (std::string(rate) == "1") {
        EXPECT_EQ(len.At(b), 4.0);  // every draft accepted
      }
    }
  }
}

}  // namespace
}  // namespace npusim::testing
