// Host tiling of `mla_prolog`, DeepSeek's fused MLA preprocessing for the absorbed decode form
// (CANN's MlaProlog, attention/mla_prolog in hicann/ops-transformer, whose design note this
// follows; SGLang runs its counterpart under SGLANG_NPU_USE_MLAPO=1). One mixed launch over every
// AIC and its two AIVs, for each step of up to `step_tokens` tokens:
//
//   AIC  MatmulCq     c_q  = x W_dq                 columns of q_lora_rank split over the AICs
//        MatmulCkvKr  ckr  = x W_dkv_kr             64-column blocks, one per AIC round robin
//        (waits for every AIV's RmsNormCq)
//        MatmulQcQr   q    = norm(c_q) W_uq_qr      columns of heads x (nope + rope) split over the
//        AICs (all-AIC barrier: MatmulQn reads columns other AICs wrote) MatmulQn     query[:, h,
//        :kv_lora] = q_nope[:, h] W_uk[h]   heads split over the AICs
//   AIV  RmsNormCq            rows of c_q split over every AIV (after an all-AIV barrier)
//        RmsNormRopeScatter   per token: norm the latent, rope the key part, write the row to
//                             its cache slot
//        RopeQr               per token and head: rope the query's rope part into query
//
// Intermediates go through GM workspaces in bf16, as the real op's do. Quantised (w8a8, CANN's
// full-quant scenario): x arrives as int8 with per-token scales, W_dq, W_dkv_kr and W_uq_qr are
// int8 with per-column scales; the three int8 products go to int32 workspaces that the AIVs
// dequantise where they read them (RmsNormCq, the latent's norm), RmsNormCq quantises norm(c_q)
// per token for MatmulQcQr, and the AIVs dequantise q into a bf16 q_nope workspace for MatmulQn
// (W_uk stays bf16), so there the AICs wait for the AIVs instead of meeting at their barrier. The
// cache is npusim's latent cache (one row of kv_lora + rope per token: what
// fused_infer_attention_score's kv_cache=latent reads) and the query one row of kv_lora + rope per
// head (its query): CANN keeps the two parts in two tensors each; the bytes are the same.
#pragma once

#include <cstdint>
#include <string>

#include "devices/device_config.h"

namespace npusim::mla_prolog {

struct Dims {
  int64_t T = 0;      // tokens (batch x tokens per request)
  int64_t He = 0;     // hidden size
  int64_t Hcq = 0;    // q_lora_rank
  int64_t N = 0;      // query heads
  int64_t D = 0;      // qk_nope_head_dim
  int64_t Dr = 0;     // qk_rope_head_dim
  int64_t Hckv = 0;   // kv_lora_rank
  int64_t slots = 0;  // cache rows (pages x page size)
  float eps = 1e-6f;
  int64_t Qk() const { return D + Dr; }
  int64_t Latent() const { return Hckv + Dr; }
};

// Column ranges of a matmul split over the AICs; [Begin, Begin + Count) of `total`.
struct ColumnSplit {
  int64_t total = 0, per = 0;
  int64_t Begin(int64_t core) const { return core * per; }
  int64_t Count(int64_t core) const;
};

struct Tiling {
  Dims d;
  int64_t cores = 0;         // AICs of the launch (each with its two AIVs)
  int64_t step_tokens = 0;   // tokens per pipeline step: the M of every matmul (<= 128, L0's rows)
  ColumnSplit cq, qcqr;      // MatmulCq, MatmulQcQr
  int64_t ckvkr_block = 64;  // MatmulCkvKr's column block
  int64_t heads_per_core = 0;  // MatmulQn
  // The cube tiles: base_n columns, K in steps of base_k through L1/L0 (the main tile: every
  // matmul, or the three int8 ones when quantised, double-buffered); quantised, MatmulQn's bf16
  // tile of qn_base_n x qn_base_k beside it, single-buffered.
  int64_t base_n = 64, base_k = 128, qn_base_n = 128, qn_base_k = 128;
  int64_t l1_steps = 1;          // K steps of the main tile per GM -> L1 copy
  bool quant = false;            // w8a8
  int64_t heads_per_chunk = 16;  // quantised: heads of one token's q dequantised at a time
  int64_t Steps() const { return (d.T + step_tokens - 1) / step_tokens; }
  int64_t CkvKrBlocks() const { return (d.Latent() + ckvkr_block - 1) / ckvkr_block; }
};

// step_tokens 0 = 128 (the most rows one L0A tile holds at the base K).
Tiling ComputeTiling(const Dims& d, int64_t step_tokens, bool quant, const DeviceConfig& dev);

}  // namespace npusim::mla_prolog
