// Host tilings of the op folders whose kernels are tested end to end elsewhere (lookup, cube,
// collective, attention and moe tests): the split and tile sizes each derives, by hand, on the
// Ascend910B3 (40 AIVs, 20 AICs, 192 KiB = 196608 B of UB per AIV).
#include <gtest/gtest.h>

#include "model/error.h"
#include "ops/attention_aux/attention_aux_tiling.h"
#include "ops/collectives/collective_tiling.h"
#include "ops/embedding/embedding_tiling.h"
#include "ops/lm_head_argmax/lm_head_argmax_tiling.h"
#include "ops/moe/moe_tiling.h"
#include "ops/quant_matmul/quant_matmul_tiling.h"
#include "ops/verify_greedy/verify_greedy_tiling.h"

namespace npusim {
namespace {

DeviceConfig B3() {
  DeviceConfig d = LoadDevice("Ascend910B3");
  EXPECT_EQ(d.aiv_count, 40);
  EXPECT_EQ(d.aic_count, 20);
  EXPECT_EQ(d.ub_bytes, 196608);
  return d;
}

TEST(EmbeddingTiling, WholeRowsUpTo16KiBAndTokensOverBlocks) {
  const DeviceConfig d = B3();
  // 300 tokens over 40 blocks: 8 per block (ceil 7.5), so 38 blocks hold them all.
  const embedding::Tiling bf = embedding::ComputeTiling(300, 2048, 37984, 0, 2, 0, 2, d);
  EXPECT_EQ(bf.split.per, 8);
  EXPECT_EQ(bf.split.blocks, 38);
  EXPECT_EQ(bf.col_tile, 2048);  // 4 KiB of bf16: the whole row
  // 7168 fp32 columns are 28 KiB: pieces of 16 KiB = 4096 elements.
  EXPECT_EQ(embedding::ComputeTiling(300, 7168, 37984, 0, 4, 0, 2, d).col_tile, 4096);
  EXPECT_EQ(embedding::ComputeTiling(300, 7168, 37984, 0, 4, 100, 2, d).col_tile, 100);
}

TEST(VerifyGreedyTiling, OneBlockPerRequest) {
  const verify_greedy::Tiling t = verify_greedy::ComputeTiling(24, 4);
  EXPECT_EQ(t.block_dim, 24);
  EXPECT_EQ(t.draft_tokens, 4);
}

TEST(LmHeadArgmaxTiling, ArgmaxChunksFillUbAndLogitsTileTheShard) {
  const DeviceConfig d = B3();
  const lm_head::Tiling t = lm_head::ComputeTiling(5, 2048, 37984, 75968, 2, 0, d);
  // Two fp32 buffers of `cols` (chunk and ReduceMax's work) beside 64 B: (196608 - 64) / 8 =
  // 24568 columns, already a multiple of 8; a 37984-column shard takes two chunks per token.
  EXPECT_EQ(t.argmax.cols, 24568);
  EXPECT_EQ(t.argmax.split.blocks, 5);
  EXPECT_EQ(t.argmax.vocab_start, 75968);
  EXPECT_TRUE(t.logits.trans_b);  // the [vocab, hidden] torch weight
  EXPECT_EQ(t.logits.m, 5);
  EXPECT_EQ(t.logits.n, 37984);
  EXPECT_EQ(t.logits.k, 2048);
  // A narrow shard is one chunk.
  EXPECT_EQ(lm_head::ComputeTiling(5, 2048, 3000, 0, 2, 0, d).argmax.cols, 3000);
}

TEST(QuantMatmulTiling, TilesCoverTheProductAndWorkspacesFitTheLargestTile) {
  const DeviceConfig d = B3();
  quant_matmul::Plan p;
  p.t = quant_matmul::ComputeTiling(100, 300, 256, 64, 128, 0, 2, true, d);
  quant_matmul::AddTiles(p, 0, 100, 0, 0);
  // 100 rows in tiles of 64 (64 + 36) times 300 columns in tiles of 128 (128 + 128 + 44).
  ASSERT_EQ(p.tiles.size(), 6u);
  EXPECT_EQ(p.tiles.back().row, 64);
  EXPECT_EQ(p.tiles.back().m, 36u);
  EXPECT_EQ(p.tiles.back().n, 44u);
  EXPECT_EQ(p.tiles.back().w_off, 256u * 256u);  // trans_b: column 256's row of [n, k]
  EXPECT_EQ(p.tiles.back().sw_off, 256u);
  // Auto base sizes at most 128 x 256: 100 -> 112 rows, 300 -> 256 columns; 2 slots x 32 blocks.
  EXPECT_EQ(quant_matmul::LargestAccWorkspaceElems(100, 300, 0, 0), 2 * 32 * 112 * 256);
  EXPECT_EQ(quant_matmul::WeightSlotElems(2048, 100), 2048u * 128u);  // rows padded to 32 B
  // More AICs than the workspaces have blocks for is bad input, not an overflow.
  DeviceConfig big = d;
  big.aic_count = 40;
  EXPECT_THROW(quant_matmul::ComputeTiling(8192, 8192, 256, 16, 16, 0, 2, true, big), InputError);
  EXPECT_NO_THROW(quant_matmul::ComputeTiling(8192, 8192, 256, 16, 16, 0, 2, true, d));
}

TEST(CollectiveTiling, SegmentsAndTilesByKind) {
  const DeviceConfig d = B3();
  // reduce_scatter of 10000 bf16 over 4 ranks: segments of 2500; per element two bf16 buffers
  // and two fp32 (12 B), so 196608 / 12 = 16384 elements per tile.
  const collective::Tiling rs =
      collective::ComputeTiling(collective::Kind::kReduceScatter, 4, 10000, 2, 0, d);
  EXPECT_EQ(rs.seg, 2500);
  EXPECT_EQ(rs.tile, 16384);
  EXPECT_EQ(rs.split.per, 63);  // ceil(2500 / 40)
  EXPECT_EQ(rs.split.blocks, 40);
  // all_gather relays whole slices through two bf16 buffers: 196608 / 4 = 49152.
  const collective::Tiling ag =
      collective::ComputeTiling(collective::Kind::kAllGather, 4, 10000, 2, 0, d);
  EXPECT_EQ(ag.seg, 10000);
  EXPECT_EQ(ag.tile, 49152);
  EXPECT_EQ(collective::ComputeTiling(collective::Kind::kAllToAll, 4, 10000, 2, 77, d).tile, 77);
}

TEST(AttentionAuxTiling, RowsPerTileBoundByUb) {
  const DeviceConfig d = B3();
  // 4096 tokens: 103 per block. RoPE of 16 + 2 heads x 256: 4608 x 6 B + 64 x 4 B = 27904 B a
  // row beside 256 B of scratch: (196608 - 256) / 27904 = 7 rows.
  const attention_aux::RopeTiling r = attention_aux::ComputeRopeTiling(4096, 16, 2, 256, 64, 0, d);
  EXPECT_EQ(r.split.per, 103);
  EXPECT_EQ(r.rows_per_tile, 7);
  // Few tokens per block cap it: 77 tokens, 2 per block.
  EXPECT_EQ(attention_aux::ComputeRopeTiling(77, 16, 2, 256, 64, 0, d).rows_per_tile, 2);
  // Gate over 4 x 256: 16 B an element elementwise (196608 / 16384 = 12 rows), 6 B headwise
  // (32 rows of 6144 B, capped by nothing below 64).
  EXPECT_EQ(attention_aux::ComputeGateTiling(4096, 4, 256, false, 0, d).rows_per_tile, 12);
  EXPECT_EQ(attention_aux::ComputeGateTiling(4096, 4, 256, true, 0, d).rows_per_tile, 32);
  EXPECT_THROW(attention_aux::ComputeGateTiling(4096, 1, 3, false, 0, d), InputError);
  EXPECT_EQ(attention_aux::ComputeMaskTiling(24, 4096, 512, d).split.blocks, 24);
}

TEST(MoeTiling, GatingAndRoutingRowsPerTile) {
  const DeviceConfig d = B3();
  // Gating over 2048 experts, top-10 (padded to 16 fp32): 2 x 8192 + 2 x 64 = 16512 B a row
  // beside 3 x 8192 + 32 = 24608 B: (196608 - 24608) / 16512 = 10 rows.
  EXPECT_EQ(moe::ComputeGatingTiling(4096, 2048, 10, false, false, true, 1.0, 0, d).rows_per_tile,
            10);
  // At 512 experts the cap of 16 binds.
  EXPECT_EQ(moe::ComputeGatingTiling(4096, 512, 10, true, true, true, 2.5, 0, d).rows_per_tile, 16);
  // Init routing of 4096 x top-10 = 40960 rows, 1024 per block: ids (1024 x 4 B) and counts
  // (512 x 4 B) beside 4096 B bf16 rows: (196608 - 6144) / 4096 = 46 rows.
  const moe::RoutingTiling init = moe::ComputeInitRoutingTiling(4096, 2048, 10, 512, 2, 0, d);
  EXPECT_EQ(init.split.per, 1024);
  EXPECT_EQ(init.rows_per_tile, 46);
  // Finalize at hidden 7168, top-8: (8 + 2) rows x 6 B = 60 B a column, 430080 B a row set, too
  // much for UB: passes of 196608 / 60 = 3276 -> 3264 columns (a multiple of 16); the fixed
  // 9 x 3264 x 6 = 176256 B leave room for one token row of 3264 x 6 = 19584 B.
  const moe::RoutingTiling fin = moe::ComputeFinalizeRoutingTiling(7, 7168, 8, 256, 2, 2, 0, d);
  EXPECT_EQ(fin.cols_per_tile, 3264);
  EXPECT_EQ(fin.rows_per_tile, 1);
  EXPECT_EQ(moe::ComputeFinalizeRoutingTiling(7, 2048, 8, 256, 2, 2, 0, d).cols_per_tile, 0);
}

TEST(MoeTiling, GroupedMatmulShapeChecks) {
  const DeviceConfig d = B3();
  EXPECT_NO_THROW(moe::CheckGroupedShape(2048, 128, 2));
  EXPECT_THROW(moe::CheckGroupedShape(100, 128, 2), InputError);  // 200 B rows
  EXPECT_THROW(moe::CheckGroupedShape(2048, 8, 2), InputError);   // 16 B K steps
  EXPECT_THROW(moe::ComputeGroupedQuantTiling(4096, 768, 2048, 64, 100, true, "w8a8", d),
               InputError);
  EXPECT_EQ(moe::ComputeGroupedQuantTiling(4096, 768, 2048, 64, 128, true, "w8a8", d).base_n, 128);
}

}  // namespace
}  // namespace npusim
