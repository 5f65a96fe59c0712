// `quant_matmul` device kernel (W8A8 dynamic, kernels.md §7.4), a mixed AIC + 2 AIV kernel:
// the AIC computes each int8 x int8 tile into int32 in L0C and FixPipes it to a per-block GM
// workspace slot (two slots, so the cube runs one tile ahead); the two AIVs of the block each
// take half the tile's rows, dequantise y = acc * s_x[t] * s_w[n] in fp32 and write bf16/fp16.
// Hand-off as on A2/A3: AIC -> AIV through GM with CrossCoreSetFlag (mode 2) both ways.
// The kernel walks a list of output tiles, so the dense op (one product) and the MoE expert
// GEMM in W8A8 (`grouped_matmul quant=w8a8`: one product per expert) are the same kernel.
//
// W4A8 (int4 weights, packed two per byte): the cube has no int4 x int8 product, so the AIVs
// first cast each tile's weights to int8 (Cast int4 -> half -> int8, CATLASS' W4A8 example does
// the same) into a per-block GM slot the AIC then reads, one tile ahead of the cube.
#pragma once

#include <vector>

#include "ops/common/cube_util.h"
#include "ops/common/kernel_util.h"
#include "ops/quant_matmul/quant_matmul_tiling.h"

namespace npusim::quant_matmul {

using namespace ascendc;

constexpr int kFilledFlag = 0;  // AIC -> AIV: slot (i % 2) holds tile i; ids 0, 1
constexpr int kFreedFlag = 2;   // AIV -> AIC: slot (i % 2) consumed; ids 2, 3
constexpr int kUnpackedFlag =
    4;  // W4A8, AIV -> AIC: weight slot (i % 2) holds tile i's int8 weights; ids 4, 5
constexpr int kWeightFreeFlag =
    6;  // W4A8, AIC -> AIV: the cube has read weight slot (i % 2); ids 6, 7

template <class T>  // T: output type
class KernelQuantMatmul {
 public:
  void Init(GmBuffer* x, GmBuffer* w, GmBuffer* x_scale, GmBuffer* w_scale, GmBuffer* y,
            GmBuffer* ws, const Plan& plan, GmBuffer* weight_slots = nullptr) {
    plan_ = &plan;
    const matmul::Tiling& t = plan.t;
    t_ = t;
    if (plan.int4) {
      packed_.SetGlobalBuffer(w);
      wslot_.SetGlobalBuffer(weight_slots);
      wslot_elems_ = WeightSlotElems(t.k, t.base_n);
    }
    x_.SetGlobalBuffer(x);
    w_.SetGlobalBuffer(w);
    xs_.SetGlobalBuffer(x_scale);
    wsc_.SetGlobalBuffer(w_scale);
    y_.SetGlobalBuffer(y);
    ws_.SetGlobalBuffer(ws);
    pitch_ = cube_util::AlignUp(static_cast<uint32_t>(t.base_n),
                                16);  // rows 32 B-aligned as int32 and as bf16
    slot_elems_ = static_cast<uint64_t>(t.base_m) * pitch_;
    if (ASCEND_IS_AIC) {
      cube_.Init(pipe_, static_cast<uint32_t>(t.base_m), static_cast<uint32_t>(t.base_n),
                 static_cast<uint32_t>(t.base_k), static_cast<int>(t.buffer_num));
    } else {
      const uint64_t half_rows = (t.base_m + 1) / 2;
      pipe_.InitBuffer(acc_buf_, half_rows * pitch_ * 4, "acc_int32");
      pipe_.InitBuffer(scale_buf_, half_rows * pitch_ * 4, "w_scale_rows");
      pipe_.InitBuffer(out_buf_, half_rows * pitch_ * sizeof(T), "y_tile");
      if (plan.int4) {
        // Chunks of weight rows in the UB the dequant buffers leave: packed bytes then their
        // int8 values (1.5 B per weight).
        const uint64_t used = half_rows * pitch_ * (8 + sizeof(T));
        const uint64_t free =
            CurrentCore().Capacity(Mem::kUb) > used ? CurrentCore().Capacity(Mem::kUb) - used : 0;
        const uint32_t row = cube_util::AlignUp(WeightRowElems() / 2, 32);
        chunk_rows_ =
            static_cast<uint32_t>(std::clamp<uint64_t>(free / (3ull * row), 1, WeightRowCount()));
        pipe_.InitBuffer(packed_buf_, uint64_t{chunk_rows_} * row, "w_int4_rows");
        pipe_.InitBuffer(unpacked_buf_, uint64_t{chunk_rows_} * row * 2, "w_int8_rows");
      }
    }
  }

  void Process() {
    int64_t i = 0;
    const auto tiles = static_cast<int64_t>(plan_->tiles.size());
    const int64_t first = kernel_util::GroupIdx(), step = kernel_util::GroupNum();
    if (plan_->int4 && ASCEND_IS_AIV && first < tiles)
      UnpackTile(plan_->tiles[static_cast<size_t>(first)], 0);
    for (int64_t tile = first; tile < tiles; tile += step, ++i) {
      const Tile& tl = plan_->tiles[static_cast<size_t>(tile)];
      if (ASCEND_IS_AIC) {
        CubeTile(tl, i);
      } else {
        if (plan_->int4 && tile + step < tiles)
          UnpackTile(plan_->tiles[static_cast<size_t>(tile + step)],
                     i + 1);  // one ahead of the cube
        DequantTile(tl, i);
      }
    }
    // The last slots' releases, so no flag is left pending.
    for (int64_t j = std::max<int64_t>(0, i - kSlots); j < i; ++j) {
      if (ASCEND_IS_AIC)
        CrossCoreWaitFlag(kFreedFlag + static_cast<int>(j % kSlots));
      else if (plan_->int4)
        CrossCoreWaitFlag(kWeightFreeFlag + static_cast<int>(j % kSlots));
    }
  }

 private:
  // Weight elements per GM row of a tile's weights (K when stored [n, k], else the tile's columns).
  uint32_t WeightRowElems() const { return static_cast<uint32_t>(t_.trans_b ? t_.k : t_.base_n); }
  uint32_t WeightRowCount() const {
    return static_cast<uint32_t>(((t_.trans_b ? t_.base_n : t_.k) + 1) / 2);
  }  // per AIV

  void CubeTile(const Tile& tl, int64_t i) {
    const int slot = static_cast<int>(i % kSlots);
    cube_util::Operand<int8_t> a{x_[tl.row * t_.k], static_cast<uint64_t>(t_.k), false};
    cube_util::Operand<int8_t> b{w_[tl.w_off],
                                 static_cast<uint64_t>(t_.trans_b ? t_.k : plan_->ldw), t_.trans_b};
    if (plan_->int4) {  // the tile's weights as int8, unpacked by the AIVs into this block's slot
      CrossCoreWaitFlag(kUnpackedFlag + slot);
      b = {wslot_[(kernel_util::GroupIdx() * kSlots + slot) * wslot_elems_],
           static_cast<uint64_t>(
               t_.trans_b ? t_.k : cube_util::AlignUp(static_cast<uint32_t>(t_.base_n), 32)),
           t_.trans_b};
    }
    cube_.Compute(a, b, tl.m, tl.n, static_cast<uint32_t>(t_.k));
    if (plan_->int4)
      CrossCoreSetFlag<2, PIPE_MTE2>(kWeightFreeFlag + slot);  // after the loads that read the slot
    if (i >= kSlots)
      CrossCoreWaitFlag(kFreedFlag + slot);  // both AIVs have read the slot's previous tile
    cube_.Store(ws_[(kernel_util::GroupIdx() * kSlots + slot) * slot_elems_], pitch_,
                QuantMode_t::NoQuant);
    CrossCoreSetFlag<2, PIPE_FIX>(kFilledFlag + slot);
  }

  // W4A8: this AIV's half of tile `tl`'s weight rows, packed int4 -> int8 into weight slot i % 2.
  void UnpackTile(const Tile& tl, int64_t i) {
    const int slot = static_cast<int>(i % kSlots);
    if (i >= kSlots)
      CrossCoreWaitFlag(kWeightFreeFlag + slot);  // the cube is done with the slot's previous tile
    const uint32_t rows = t_.trans_b ? tl.n : static_cast<uint32_t>(t_.k),
                   cols = t_.trans_b ? static_cast<uint32_t>(t_.k) : tl.n;
    const uint32_t half = (rows + 1) / 2, r0 = GetSubBlockIdx() == 0 ? 0 : half,
                   mine = GetSubBlockIdx() == 0 ? half : rows - half;
    const uint64_t src_ld =
        static_cast<uint64_t>(t_.trans_b ? t_.k : plan_->ldw) / 2;  // packed bytes per GM row
    const uint64_t dst_ld = t_.trans_b ? static_cast<uint64_t>(t_.k)
                                       : cube_util::AlignUp(static_cast<uint32_t>(t_.base_n), 32);
    const uint32_t pitch =
        cube_util::AlignUp(cols / 2, 32);  // packed bytes per UB row; twice that int8 values
    LocalTensor<uint8_t> packed = packed_buf_.Get<uint8_t>();
    LocalTensor<int8_t> values = unpacked_buf_.Get<int8_t>();
    const uint64_t slot_at = (kernel_util::GroupIdx() * kSlots + slot) * wslot_elems_;
    for (uint32_t c0 = 0; c0 < mine; c0 += chunk_rows_) {
      const uint32_t n = std::min(chunk_rows_, mine - c0), r = r0 + c0;
      kernel_util::Sync<HardEvent::V_MTE2>();  // the previous chunk's unpack has read `packed`
      kernel_util::CopyRowsIn(packed, packed_[tl.w_off / 2 + uint64_t{r} * src_ld], n, cols / 2,
                              src_ld, pitch);
      kernel_util::Sync<HardEvent::MTE2_V>();
      kernel_util::Sync<HardEvent::MTE3_V>();  // the previous chunk's values have left UB
      UnpackInt4(values, packed, n * pitch * 2);
      kernel_util::Sync<HardEvent::V_MTE3>();
      kernel_util::CopyRowsOut(wslot_[slot_at + uint64_t{r} * dst_ld], values, n, cols, dst_ld,
                               pitch * 2);
    }
    CrossCoreSetFlag<2, PIPE_MTE3>(kUnpackedFlag + slot);  // after this AIV's rows are written
  }

  void DequantTile(const Tile& tl, int64_t i) {
    const int64_t m0 = tl.row, n0 = tl.n0;
    const uint32_t m = tl.m, n = tl.n;
    const int slot = static_cast<int>(i % kSlots);
    const uint32_t half = (m + 1) / 2, r0 = GetSubBlockIdx() == 0 ? 0 : half,
                   rows = GetSubBlockIdx() == 0 ? half : m - half;
    const uint32_t np =
        cube_util::AlignUp(n, 16);  // one UB pitch for the int32, fp32 and output rows
    CrossCoreWaitFlag(kFilledFlag + slot);
    LocalTensor<int32_t> acc = acc_buf_.Get<int32_t>();
    LocalTensor<float> f = acc.ReinterpretCast<float>(),
                       sc = scale_buf_.Get<float>();  // int32 -> fp32 in place
    LocalTensor<T> out = out_buf_.Get<T>();
    if (rows > 0) {
      kernel_util::Sync<HardEvent::V_MTE2>();  // the previous tile's vector work is done with these
                                               // buffers
      kernel_util::CopyRowsIn(
          acc, ws_[(kernel_util::GroupIdx() * kSlots + slot) * slot_elems_ + uint64_t{r0} * pitch_],
          rows, n, pitch_, np);
      kernel_util::CopyIn(sc, wsc_[tl.sw_off], n);
    }
    CrossCoreSetFlag<2, PIPE_MTE2>(kFreedFlag +
                                   slot);  // the slot is read (or not needed by this AIV)
    if (rows == 0) return;
    kernel_util::Sync<HardEvent::MTE2_V>();
    kernel_util::BroadcastRow(sc, rows, np);
    Cast(f, acc, CAST_NONE, rows * np);
    Mul(f, f, sc, rows * np);
    for (uint32_t r = 0; r < rows; ++r) Muls(f[r * np], f[r * np], xs_.GetValue(m0 + r0 + r), np);
    kernel_util::Sync<HardEvent::MTE3_V>();  // the previous tile's output copy has left UB
    Cast(out, f, CAST_RINT, rows * np);
    kernel_util::Sync<HardEvent::V_MTE3>();
    kernel_util::CopyRowsOut(y_[(m0 + r0) * t_.n + n0], out, rows, n, static_cast<uint64_t>(t_.n),
                             np);
  }

  const Plan* plan_ = nullptr;
  matmul::Tiling t_;
  TPipe pipe_;
  cube_util::CubeTile<int8_t, int32_t> cube_;
  TBuf<TPosition::VECCALC> acc_buf_, scale_buf_, out_buf_, packed_buf_, unpacked_buf_;
  GlobalTensor<int8_t> x_, w_, wslot_;
  GlobalTensor<uint8_t> packed_;
  uint64_t wslot_elems_ = 0;
  uint32_t chunk_rows_ = 1;
  GlobalTensor<float> xs_, wsc_;
  GlobalTensor<T> y_;
  GlobalTensor<int32_t> ws_;
  uint32_t pitch_ = 0;
  uint64_t slot_elems_ = 0;
};

}  // namespace npusim::quant_matmul
