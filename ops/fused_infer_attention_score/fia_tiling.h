// Host side of `fused_infer_attention_score` (kernels.md §6.1): requests' query/KV ranges, the
// work units of the flash-attention kernel and the attended key range of each query row.
//
// A unit is a set of up to 128 query rows with one KV head: for long queries, up to 128 tokens
// of one query head (stride Nq*D); for short ones (decode; MTP verify at the head dims CANN's
// GQA template takes, see PacksGqa), the G = Nq/Nkv heads of
// each of the request's tokens (the GQA packing FIA uses for incremental attention: the heads of
// one token are contiguous, stride D, and the tokens follow at Nq*D), so a verify of d tokens
// reads each KV page once for all d x G rows rather than once per token.
//
// MLA (DeepSeek's latent attention, absorbed form): one latent KV head whose cached row is the
// [kv_lora | rope key] latent (D = 576) and whose value is the row's first Dv = 512 columns, so a
// page is read once for both products; the G query heads of a token are the rows, as CANN's
// incre_flash_attention MLA template packs them (incre_flash_attention_preload_mla.h: kvHeadNum 1,
// headDim 512 + headDimRope 64, the group's heads split into row blocks). A unit holds as many rows
// as its vector buffers fit in UB (RowsPerUnit): 128 at D = 128, fewer for a 512-wide output.
//
// Split-KV (flash-decoding): when decode / verify units are too few to occupy the cores (one
// long request has one unit per KV head), each unit's pages are cut into `splits` ranges that
// run as units of their own; each writes its unnormalised output with its row max and sum, and
// a merge launch combines them (exp(m_s - M) weights), so one request's KV read spreads over
// the cores.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

namespace npusim::fia {

constexpr int64_t kPage = 128;  // KV page = the KV block of the flash-attention loop
constexpr int64_t kMaxRows =
    128;  // query rows per unit at most (RowsPerUnit: fewer when a wide output does not fit UB)
constexpr int64_t kUnbounded = std::numeric_limits<int32_t>::max();
constexpr int64_t kMinSplitPages =
    16;  // pages (2048 keys) per split at least: a shorter range does not pay for the
         // merge launch (launch overhead + reading back the partials, ~5 us)
constexpr int64_t kMlFloats =
    64;  // m and l of one AIV half of a split unit: 64 floats each (kMaxRows / 2)

struct Request {
  int64_t q_start = 0, q_len = 0, kv_len = 0;
};

struct Unit {
  int64_t req = 0, kv_head = 0;
  int64_t q_row0 = 0;  // first query index within the request
  int64_t rows = 0;
  int64_t head0 = 0;          // first query head
  bool heads_packed = false;  // rows are heads of one token (else tokens of one head)
  int64_t page_lo = 0,
          page_hi = -1;           // KV pages this unit reads: [page_lo, page_hi), -1 = to the end
  int64_t split = 0, splits = 1;  // split-KV: which range of how many
  int64_t part = 0;               // first partial-result slot of the unit's splits
  int64_t tokens = 1;  // heads_packed: the tokens whose G heads the rows are (rows = tokens x G)
};

// One merge of split-KV partial results: the original unit's rows and its slots.
struct Merge {
  int64_t req = 0, q_row0 = 0, rows = 0, head0 = 0;
  bool heads_packed = true;
  int64_t part = 0, splits = 1;
};

struct Dims {
  int64_t Nq = 0, Nkv = 0, D = 0, max_blocks = 0;
  int64_t Dv = 0;           // value / output head dim (D unless MLA or another split dim)
  bool latent = false;      // V is the first Dv columns of the K cache rows (MLA's latent cache)
  int64_t rows = kMaxRows;  // query rows per unit (RowsPerUnit)
  int sparse_mode = 0;
  int64_t pre_tokens = kUnbounded, next_tokens = kUnbounded;
  bool band_q1_quirk = false;  // CANN 8.5: sparse_mode 4 with a query length of 1 ignores pre/next
  bool explicit_mask = false;  // atten_mask [B, q_len_max, mask_cols] of 0/1 (1 = masked)
  int64_t q_len_max = 0, mask_cols = 0;
  float scale = 1.0f;
  std::vector<Request> reqs;
  std::vector<Unit> units;
  std::vector<Merge> merges;              // split-KV only
  int64_t parts = 0;                      // partial-result slots in use
  int64_t G() const { return Nq / Nkv; }  // query heads per KV head
};

// Whether a request's `q_len` query tokens run as GQA-packed units (the G heads of a token as
// rows; split-KV when units are few) or as one unit per query head (tokens of a head as rows,
// each unit streaming its KV head's pages, no split-KV). It follows how CANN routes the call
// (hicann/ops-transformer, attention/fused_infer_attention_score/op_host):
//  - q_len 1 (decode) goes to incre_flash_attention, which packs the G heads of a KV head and
//    splits the KV (flash-decode) for any head dim up to 256 (IsUsingIFA, IFATiling::SplitBN);
//  - 2..15 tokens (MTP verify, draft extend: SGLang's forward_mtp passes TND with a block table)
//    reach the GQA-packing FIA template only for head dims 64, 128 and 192 (fia_tiling_nonquant.cpp
//    IsHighPerformanceTemplate); other head dims (256: Qwen3-Next, Qwen3.5/3.6) are tiled by
//    prompt_flash_attention, whose work units are (request, query head, S1 block)
//    (PromptFlashAttentionSplitNSNew) — its TND shape check is the one that names the head dims
//    in vllm-ascend PR #9632's error, "prompt_flash_attention_tiling.cpp
//    CheckInputShapeWhenLayoutIsTND";
//  - 16 tokens and more (prefill, extend) are prompt attention, one unit per query head.
//  - MLA's latent cache (a query rope part with it) goes to the MLA template, which packs the heads
//    for decode and the MTP verify lengths alike.
inline bool PacksGqa(int64_t q_len, int64_t G, int64_t D, bool latent = false) {
  if (G <= 1 || q_len >= 16) return false;
  return latent || q_len == 1 || D == 64 || D == 128 || D == 192;
}

// Tokens whose G heads one packed (decode / verify) unit of `rows` rows holds; a group wider
// than a unit (MLA: 128 heads) gives a unit per token and head block.
inline int64_t TokensPerPackedUnit(int64_t G, int64_t rows = kMaxRows) {
  return std::max<int64_t>(1, rows / std::max<int64_t>(1, G));
}

// The AIV's UB buffers of a unit of `rows` rows (each AIV takes half) for an output of Dv columns,
// in the kernel's InitBuffer order; declared here so the tiling can size units to fit.
struct AivBuffers {
  uint64_t scores, p, penalty, index, mask_row, row_max, o_acc, pv;
  uint64_t Total() const { return scores + p + penalty + index + mask_row + row_max + o_acc + pv; }
};
inline AivBuffers AivBuffersFor(int64_t rows, int64_t Dv, uint64_t elem_bytes) {
  const auto half = static_cast<uint64_t>((rows + 1) / 2), C = static_cast<uint64_t>(kPage),
             V = static_cast<uint64_t>(Dv);
  return {half * C * 4, half * C * elem_bytes, 2 * C * 4,   C * 4, C,
          half * 4,     half * V * 4,          half * V * 4};
}
// The most query rows per unit (a multiple of 16, at most kMaxRows) whose AIV buffers fit
// `ub_bytes`; 16 when none does (the kernel's InitBuffer then reports the overflow).
inline int64_t RowsPerUnit(int64_t Dv, uint64_t ub_bytes, uint64_t elem_bytes = 2) {
  for (int64_t r = kMaxRows; r > 16; r -= 16)
    if (AivBuffersFor(r, Dv, elem_bytes).Total() <= ub_bytes) return r;
  return 16;
}

// Query index (within its request) and element offset in q / out of row `row` of a unit (or a
// merge) whose rows start at query q_row0, head head0: packed rows are token-major, G heads each.
inline int64_t RowQuery(const Dims& d, int64_t q_row0, bool packed, int64_t row) {
  return q_row0 + (packed ? row / d.G() : row);
}
// `dim`: the row's width in that tensor (D for q, Dv for out).
inline int64_t RowElement(const Dims& d, int64_t req, int64_t q_row0, int64_t head0, bool packed,
                          int64_t row, int64_t dim) {
  const int64_t head = head0 + (packed ? row % d.G() : 0);
  return ((d.reqs[static_cast<size_t>(req)].q_start + RowQuery(d, q_row0, packed, row)) * d.Nq +
          head) *
         dim;
}

// Inclusive key range [lo, hi] query `i` of `r` attends under the sparse mode (before any
// explicit mask); lo > hi when it attends nothing.
void KeyRange(const Dims& d, const Request& r, int64_t i, int64_t& lo, int64_t& hi);

// The KV pages of [page_lo, page_hi) that some row of `u` attends (before any explicit mask), in
// order: the union of the rows' key ranges, O(rows log rows) rather than rows x pages.
std::vector<int64_t> UnitPages(const Dims& d, const Unit& u);

// Units for every request, then split-KV of decode / verify units when they are fewer than
// `cores` (the AIC count; 0 = never split).
void BuildUnits(Dims& d, int64_t cores = 0);

// Partial-result slots split-KV may need for `units` units of at most `max_pages` pages on up to
// `cores` AICs (an upper bound for sizing the workspace before the device and lengths are known).
int64_t MaxParts(int64_t units, int64_t max_pages, int64_t cores);

}  // namespace npusim::fia
