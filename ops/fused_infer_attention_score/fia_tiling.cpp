#include "ops/fused_infer_attention_score/fia_tiling.h"

#include <algorithm>

namespace npusim::fia {

void KeyRange(const Dims& d, const Request& r, int64_t i, int64_t& lo, int64_t& hi) {
  const int64_t delta = r.kv_len - r.q_len;
  lo = 0;
  hi = r.kv_len - 1;
  switch (d.sparse_mode) {
    case 2: hi = std::min(hi, i); break;          // leftUpCausal
    case 3: hi = std::min(hi, i + delta); break;  // rightDownCausal
    case 4:                                        // band, right-down aligned
      if (d.band_q1_quirk && r.q_len == 1) break;  // scenario S4: the band is ignored
      lo = std::max(lo, i + delta - d.pre_tokens);
      hi = std::min(hi, i + delta + d.next_tokens);
      break;
    default:  // 0: no mask, or a band when pre/next tokens are given
      if (d.pre_tokens < kUnbounded) lo = std::max(lo, i - d.pre_tokens);
      if (d.next_tokens < kUnbounded) hi = std::min(hi, i + d.next_tokens);
      break;
  }
}

void BuildUnits(Dims& d) {
  d.units.clear();
  const int64_t G = d.Nq / d.Nkv;
  for (size_t b = 0; b < d.reqs.size(); ++b) {
    const Request& r = d.reqs[b];
    if (r.q_len >= 16 || G == 1) {
      for (int64_t h = 0; h < d.Nq; ++h)
        for (int64_t q0 = 0; q0 < r.q_len; q0 += kMaxRows)
          d.units.push_back({static_cast<int64_t>(b), h / G, q0, std::min(kMaxRows, r.q_len - q0), h, false});
    } else {
      for (int64_t j = 0; j < d.Nkv; ++j)
        for (int64_t i = 0; i < r.q_len; ++i) d.units.push_back({static_cast<int64_t>(b), j, i, G, j * G, true});
    }
  }
}

}  // namespace npusim::fia
