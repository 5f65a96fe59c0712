// Small AIV kernels around attention (kernels.md §6.1-6.3):
//   rotary_embedding — partial NeoX RoPE on q and k: for the first rot dims of each head,
//     out1 = x1 cos - x2 sin, out2 = x2 cos + x1 sin (x1, x2 the two halves), the rest passed
//     through; cos/sin rows gathered by position from the [max_pos, rot] cache (cos | sin).
//   attention_gate — attn * sigmoid(gate), elementwise (Qwen3-Next/3.5) or one gate per head
//     (Step-3.5's g_proj).
//   swa_mask — the SWA decode mask: masked(c) = c < seq_len - window or c >= seq_len.
#pragma once

#include "ops/attention_aux/attention_aux_tiling.h"
#include "ops/common/kernel_util.h"

namespace npusim::attention_aux {

using namespace ascendc;

template <class T>
class KernelRope {
 public:
  void Init(GmBuffer* q, GmBuffer* k, GmBuffer* pos, GmBuffer* cache, GmBuffer* q_out,
            GmBuffer* k_out, const RopeTiling& t) {
    t_ = t;
    q_.SetGlobalBuffer(q);
    k_.SetGlobalBuffer(k);
    pos_.SetGlobalBuffer(pos);
    cache_.SetGlobalBuffer(cache);
    qo_.SetGlobalBuffer(q_out);
    ko_.SetGlobalBuffer(k_out);
    const uint64_t width = static_cast<uint64_t>((t.heads_q + t.heads_k) * t.dim),
                   R = static_cast<uint64_t>(t.rows_per_tile);
    pipe_.InitBuffer(in_, R * width * sizeof(T), "qk_rows");
    pipe_.InitBuffer(f_, R * width * 4, "qk_fp32");
    pipe_.InitBuffer(cs_, R * kernel_util::PaddedCount(static_cast<uint64_t>(t.rot), 4) * 4,
                     "cos_sin");
    pipe_.InitBuffer(tmp_, 2 * kernel_util::PaddedCount(static_cast<uint64_t>(t.rot / 2), 4) * 4,
                     "tmp");
  }
  void Process() {
    const auto D = static_cast<uint32_t>(t_.dim), h = static_cast<uint32_t>(t_.rot / 2);
    const uint32_t nq = static_cast<uint32_t>(t_.heads_q * t_.dim),
                   nk = static_cast<uint32_t>(t_.heads_k * t_.dim);
    const uint32_t width = nq + nk,
                   csp = kernel_util::PaddedCount(static_cast<uint64_t>(t_.rot), 4);
    const uint32_t hp = kernel_util::PaddedCount(h, 4);
    LocalTensor<T> in = in_.Get<T>();
    LocalTensor<float> f = f_.Get<float>(), cs = cs_.Get<float>(), a = tmp_.Get<float>(), b = a[hp];
    const int64_t begin = t_.split.Begin(GetBlockIdx()),
                  end = begin + t_.split.Count(GetBlockIdx());
    for (int64_t t0 = begin; t0 < end; t0 += t_.rows_per_tile) {
      const auto R = static_cast<uint32_t>(std::min<int64_t>(t_.rows_per_tile, end - t0));
      kernel_util::CopyRowsIn(in, q_[t0 * nq], R, nq, nq, width);
      kernel_util::CopyRowsIn(in[nq], k_[t0 * nk], R, nk, nk, width);
      for (uint32_t r = 0; r < R; ++r)
        kernel_util::CopyIn(cs[r * csp], cache_[pos_.GetValue(t0 + r) * t_.rot],
                            static_cast<uint32_t>(t_.rot));
      kernel_util::Sync<HardEvent::MTE2_V>();
      Cast(f, in, CAST_NONE, R * width);
      for (uint32_t r = 0; r < R; ++r)
        for (int64_t hd = 0; hd < t_.heads_q + t_.heads_k; ++hd) {
          LocalTensor<float> x1 = f[r * width + static_cast<uint32_t>(hd) * D],
                             x2 = f[r * width + static_cast<uint32_t>(hd) * D + h];
          LocalTensor<float> c = cs[r * csp], s = cs[r * csp + h];
          Mul(a, x2, s, h);  // x2 sin
          Mul(b, x1, s, h);  // x1 sin
          Mul(x1, x1, c, h);
          Sub(x1, x1, a, h);  // x1 cos - x2 sin
          Mul(x2, x2, c, h);
          Add(x2, x2, b, h);  // x2 cos + x1 sin
        }
      Cast(in, f, CAST_RINT, R * width);
      kernel_util::Sync<HardEvent::V_MTE3>();
      kernel_util::CopyRowsOut(qo_[t0 * nq], in, R, nq, nq, width);
      kernel_util::CopyRowsOut(ko_[t0 * nk], in[nq], R, nk, nk, width);
      PipeBarrier<PIPE_ALL>();
    }
  }

 private:
  RopeTiling t_;
  TPipe pipe_;
  TBuf<TPosition::VECCALC> in_, f_, cs_, tmp_;
  GlobalTensor<T> q_, k_, qo_, ko_;
  GlobalTensor<int32_t> pos_;
  GlobalTensor<float> cache_;
};

template <class T>
class KernelAttentionGate {
 public:
  void Init(GmBuffer* attn, GmBuffer* gate, GmBuffer* out, const GateTiling& t) {
    t_ = t;
    attn_.SetGlobalBuffer(attn);
    gate_.SetGlobalBuffer(gate);
    out_.SetGlobalBuffer(out);
    const uint64_t w = static_cast<uint64_t>(t.heads * t.dim),
                   R = static_cast<uint64_t>(t.rows_per_tile);
    pipe_.InitBuffer(in_, R * w * sizeof(T), "attn_rows");
    pipe_.InitBuffer(f_, R * w * 4, "attn_fp32");
    if (!t.headwise) {
      pipe_.InitBuffer(gin_, R * w * sizeof(T), "gate_rows");
      pipe_.InitBuffer(g_, R * w * 4, "gate_fp32");
      pipe_.InitBuffer(tmp_, R * w * 4, "tmp");
    }
  }
  void Process() {
    const auto w = static_cast<uint32_t>(t_.heads * t_.dim), D = static_cast<uint32_t>(t_.dim);
    LocalTensor<T> in = in_.Get<T>();
    LocalTensor<float> f = f_.Get<float>();
    const int64_t begin = t_.split.Begin(GetBlockIdx()),
                  end = begin + t_.split.Count(GetBlockIdx());
    for (int64_t t0 = begin; t0 < end; t0 += t_.rows_per_tile) {
      const auto R = static_cast<uint32_t>(std::min<int64_t>(t_.rows_per_tile, end - t0));
      kernel_util::CopyIn(in, attn_[t0 * w], R * w);
      if (!t_.headwise) kernel_util::CopyIn(gin_.Get<T>(), gate_[t0 * w], R * w);
      kernel_util::Sync<HardEvent::MTE2_V>();
      Cast(f, in, CAST_NONE, R * w);
      if (t_.headwise) {  // one sigmoid(g) per (token, head), computed on the scalar side
        for (uint32_t r = 0; r < R; ++r)
          for (int64_t hd = 0; hd < t_.heads; ++hd) {
            const float g = static_cast<float>(gate_.GetValue((t0 + r) * t_.heads + hd));
            Muls(f[r * w + static_cast<uint32_t>(hd) * D], f[r * w + static_cast<uint32_t>(hd) * D],
                 1.0f / (1.0f + std::exp(-g)), D);
          }
      } else {
        LocalTensor<float> g = g_.Get<float>();
        Cast(g, gin_.Get<T>(), CAST_NONE, R * w);
        kernel_util::Sigmoid(g, g, tmp_.Get<float>(), R * w);
        Mul(f, f, g, R * w);
      }
      Cast(in, f, CAST_RINT, R * w);
      kernel_util::Sync<HardEvent::V_MTE3>();
      kernel_util::CopyOut(out_[t0 * w], in, R * w);
      PipeBarrier<PIPE_ALL>();
    }
  }

 private:
  GateTiling t_;
  TPipe pipe_;
  TBuf<TPosition::VECCALC> in_, f_, gin_, g_, tmp_;
  GlobalTensor<T> attn_, gate_, out_;
};

template <class T>
class KernelSwaMask {
 public:
  void Init(GmBuffer* seq_lens, GmBuffer* mask, const MaskTiling& t) {
    t_ = t;
    seq_.SetGlobalBuffer(seq_lens);
    mask_.SetGlobalBuffer(mask);
    const uint64_t n = kernel_util::PaddedCount(static_cast<uint64_t>(t.cols), 4);
    pipe_.InitBuffer(idx_, n * 4, "column_index");
    pipe_.InitBuffer(a_, n * 4, "lower");
    pipe_.InitBuffer(b_, n * 4, "upper");
    pipe_.InitBuffer(h_, n * 2, "mask_half");
    pipe_.InitBuffer(u8_, kernel_util::PaddedCount(static_cast<uint64_t>(t.cols), 1), "mask_u8");
  }
  void Process() {
    const auto n = static_cast<uint32_t>(t_.cols);
    LocalTensor<float> idx = idx_.Get<float>(), a = a_.Get<float>(), b = b_.Get<float>();
    for (uint32_t c = 0; c < n; ++c) idx.SetValue(c, static_cast<float>(c));
    kernel_util::WaitScalarForVector();
    const int64_t begin = t_.split.Begin(GetBlockIdx()),
                  end = begin + t_.split.Count(GetBlockIdx());
    for (int64_t r = begin; r < end; ++r) {
      const int64_t seq = seq_.GetValue(r), lo = seq - t_.window;
      // attended(c) = clamp(c - lo + 1, 0, 1) * clamp(seq - c, 0, 1); masked = 1 - attended
      Adds(a, idx, static_cast<float>(1 - lo), n);
      Maxs(a, a, 0.0f, n);
      Mins(a, a, 1.0f, n);
      Muls(b, idx, -1.0f, n);
      Adds(b, b, static_cast<float>(seq), n);
      Maxs(b, b, 0.0f, n);
      Mins(b, b, 1.0f, n);
      Mul(a, a, b, n);
      Muls(a, a, -1.0f, n);
      Adds(a, a, 1.0f, n);
      kernel_util::Sync<HardEvent::MTE3_V>();  // the previous row's mask has left UB
      Cast(h_.Get<half>(), a, CAST_RINT, n);
      Cast(u8_.Get<uint8_t>(), h_.Get<half>(), CAST_RINT, n);
      kernel_util::Sync<HardEvent::V_MTE3>();
      kernel_util::CopyOut(mask_[r * t_.cols], u8_.Get<uint8_t>(), n);
    }
  }

 private:
  MaskTiling t_;
  TPipe pipe_;
  TBuf<TPosition::VECCALC> idx_, a_, b_, h_, u8_;
  GlobalTensor<int32_t> seq_;
  GlobalTensor<uint8_t> mask_;
};

}  // namespace npusim::attention_aux
