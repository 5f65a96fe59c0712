// Host side of `fused_infer_attention_score` (kernels.md §6.1): requests' query/KV ranges, the
// work units of the flash-attention kernel and the attended key range of each query row.
//
// A unit is a set of up to 128 query rows with one KV head, read with a uniform stride so the
// cube can take them as one operand: for long queries, up to 128 tokens of one query head
// (stride Nq*D); for short ones (decode, MTP verify), the G = Nq/Nkv heads of one token
// (stride D), the GQA packing FIA uses for decode.
#pragma once

#include <cstdint>
#include <limits>
#include <vector>

namespace npusim::fia {

constexpr int64_t kPage = 128;     // KV page = the KV block of the flash-attention loop
constexpr int64_t kMaxRows = 128;  // query rows per unit
constexpr int64_t kUnbounded = std::numeric_limits<int32_t>::max();

struct Request {
  int64_t q_start = 0, q_len = 0, kv_len = 0;
};

struct Unit {
  int64_t req = 0, kv_head = 0;
  int64_t q_row0 = 0;      // first query index within the request
  int64_t rows = 0;
  int64_t head0 = 0;       // first query head
  bool heads_packed = false;  // rows are heads of one token (else tokens of one head)
};

struct Dims {
  int64_t Nq = 0, Nkv = 0, D = 0, max_blocks = 0;
  int sparse_mode = 0;
  int64_t pre_tokens = kUnbounded, next_tokens = kUnbounded;
  bool band_q1_quirk = false;  // CANN 8.5: sparse_mode 4 with a query length of 1 ignores pre/next
  bool explicit_mask = false;  // atten_mask [B, q_len_max, mask_cols] of 0/1 (1 = masked)
  int64_t q_len_max = 0, mask_cols = 0;
  float scale = 1.0f;
  std::vector<Request> reqs;
  std::vector<Unit> units;
};

// Inclusive key range [lo, hi] query `i` of `r` attends under the sparse mode (before any
// explicit mask); lo > hi when it attends nothing.
void KeyRange(const Dims& d, const Request& r, int64_t i, int64_t& lo, int64_t& hi);

void BuildUnits(Dims& d);

}  // namespace npusim::fia
