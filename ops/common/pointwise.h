// A framework's small eager op (a torch copy, cast, fill, elementwise op or reduction that npusim
// has no kernel of its own for) as a generic AIV launch: its traffic and one vector instruction
// per tile, in fp32 words. The output words are cut into tiles dealt round-robin over the AIVs;
// a tile's inputs come in, one vector instruction runs over the larger side, the tile goes out.
// A strided op (a transpose, a slice of rows) moves `row` contiguous words every `stride`, as
// one multi-row DataCopyPad per tile, on its read side or its write side. Timing only: the
// words are moved, not computed (the op that uses it says so).
#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>

#include "devices/chip.h"
#include "ops/common/kernel_util.h"

namespace npusim::pointwise {

using namespace ascendc;

struct Spec {
  GmBuffer *src = nullptr, *dst = nullptr;
  int64_t out = 0, in = 0;  // fp32 words written, read (0: a fill)
  // Strided (in == out): rows of `row` words, row r at (r * stride) mod span on that side (a
  // transpose's rows wrap to the next column at the end of the tensor).
  int64_t row = 0, stride = 0, span = 0;
  bool strided_write = false;  // the rows are on the write side (a slice assignment)
};

constexpr int64_t kTileWords = 8192;  // 32 KB a side
constexpr int64_t kMaxRows = 4095;    // DataCopyPad's block count

// Output words per tile: strided ops move whole rows (each padded to 32 B in UB), the others
// keep both sides of a tile within kTileWords.
inline int64_t TileOut(const Spec& s) {
  if (s.row > 0) {
    const int64_t padded = (s.row + 7) / 8 * 8;
    return std::max<int64_t>(1, std::min(kMaxRows, kTileWords / std::max<int64_t>(padded, 8))) *
           s.row;
  }
  return std::max<int64_t>(1, kTileWords * s.out / std::max<int64_t>({s.in, s.out, 1}));
}
inline int64_t Tiles(const Spec& s) { return (s.out + TileOut(s) - 1) / TileOut(s); }  // 0: empty
// Words of src and dst the launch touches.
inline int64_t SrcWords(const Spec& s) { return s.row > 0 && !s.strided_write ? s.span : s.in; }
inline int64_t DstWords(const Spec& s) { return s.row > 0 && s.strided_write ? s.span : s.out; }

// Calls f(gm_offset, tile_offset, rows) for rows [r0, r0 + rows) of a strided side, one run of
// rows per call that does not wrap past the span (and at most kMaxRows).
template <class F>
void ForRowRuns(const Spec& s, int64_t r0, int64_t rows, F&& f) {
  for (int64_t r = r0; r < r0 + rows;) {
    const int64_t at = r * s.stride % s.span;
    const int64_t fit = std::max<int64_t>(1, (s.span - at - s.row) / s.stride + 1);
    const int64_t n = std::min({r0 + rows - r, fit, kMaxRows});
    f(static_cast<uint64_t>(at), static_cast<uint32_t>((r - r0) * ((s.row + 7) / 8 * 8)),
      static_cast<uint32_t>(n));  // rows padded to 32 B in UB
    r += n;
  }
}

class KernelPointwise {
 public:
  void Init(const Spec& s) {
    s_ = &s;
    pipe_.InitBuffer(in_, static_cast<uint64_t>(kTileWords) * 4, "pointwise_in");
    pipe_.InitBuffer(out_, static_cast<uint64_t>(kTileWords) * 4, "pointwise_out");
  }
  void Process() {
    const Spec& s = *s_;
    GlobalTensor<float> src, dst;
    src.SetGlobalBuffer(s.src);
    dst.SetGlobalBuffer(s.dst);
    LocalTensor<float> x = in_.Get<float>(), y = out_.Get<float>();
    const int64_t tile = TileOut(s), tiles = Tiles(s);
    for (int64_t t = GetBlockIdx(); t < tiles; t += GetBlockNum()) {
      const int64_t out0 = t * tile, out_n = std::min(tile, s.out - out0);
      const int64_t in0 = s.in * out0 / s.out,
                    in_n = s.in > 0 ? (s.in * out_n + s.out - 1) / s.out : 0;
      kernel_util::Sync<HardEvent::V_MTE2>();
      if (in_n > 0) {
        if (s.row > 0 && !s.strided_write)
          ForRowRuns(s, in0 / s.row, in_n / s.row, [&](uint64_t at, uint32_t to, uint32_t n) {
            kernel_util::CopyRowsIn(x[to], src[at], n, static_cast<uint32_t>(s.row),
                                    static_cast<uint64_t>(s.stride));
          });
        else
          kernel_util::CopyIn(x, src[static_cast<uint64_t>(in0)], static_cast<uint32_t>(in_n));
      }
      kernel_util::Sync<HardEvent::MTE2_V>();
      kernel_util::Sync<HardEvent::MTE3_V>();
      Adds(y, in_n > 0 ? x : y, 0.0f, static_cast<int32_t>(std::max(in_n, out_n)));
      kernel_util::Sync<HardEvent::V_MTE3>();
      if (s.row > 0 && s.strided_write)
        ForRowRuns(s, out0 / s.row, out_n / s.row, [&](uint64_t at, uint32_t from, uint32_t n) {
          kernel_util::CopyRowsOut(dst[at], y[from], n, static_cast<uint32_t>(s.row),
                                   static_cast<uint64_t>(s.stride));
        });
      else
        kernel_util::CopyOut(dst[static_cast<uint64_t>(out0)], y, static_cast<uint32_t>(out_n));
    }
  }

 private:
  const Spec* s_ = nullptr;
  TPipe pipe_;
  TBuf<TPosition::VECCALC> in_, out_;
};

inline KernelLaunch Launch(const std::string& name, const Spec& spec, int64_t aiv_count) {
  KernelLaunch l;
  l.name = name;
  l.core_type = CoreType::kAiv;
  l.block_dim = std::max<int64_t>(1, std::min<int64_t>(aiv_count, Tiles(spec)));
  auto shared = std::make_shared<const Spec>(spec);
  l.body = [shared] {
    KernelPointwise k;
    k.Init(*shared);
    k.Process();
  };
  return l;
}

}  // namespace npusim::pointwise
