#include "ops/fused_infer_attention_score/fia_tiling.h"

#include <algorithm>

namespace npusim::fia {

void KeyRange(const Dims& d, const Request& r, int64_t i, int64_t& lo, int64_t& hi) {
  const int64_t delta = r.kv_len - r.q_len;
  lo = 0;
  hi = r.kv_len - 1;
  switch (d.sparse_mode) {
    case 2:
      hi = std::min(hi, i);
      break;  // leftUpCausal
    case 3:
      hi = std::min(hi, i + delta);
      break;                                       // rightDownCausal
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

std::vector<int64_t> UnitPages(const Dims& d, const Unit& u) {
  const Request& r = d.reqs[static_cast<size_t>(u.req)];
  std::vector<std::pair<int64_t, int64_t>> ranges;
  for (int64_t q = 0; q < (u.heads_packed ? u.tokens : u.rows);
       ++q) {  // the G rows of a packed token share its query
    int64_t lo, hi;
    KeyRange(d, r, u.q_row0 + q, lo, hi);
    lo = std::max<int64_t>(lo, 0);
    if (lo <= hi) ranges.push_back({lo, hi});
  }
  std::sort(ranges.begin(), ranges.end());
  std::vector<std::pair<int64_t, int64_t>> merged;  // disjoint, ascending
  for (const auto& rg : ranges) {
    if (!merged.empty() && rg.first <= merged.back().second + 1)
      merged.back().second = std::max(merged.back().second, rg.second);
    else
      merged.push_back(rg);
  }
  const int64_t pages = (r.kv_len + kPage - 1) / kPage, first = u.page_lo,
                end = u.page_hi < 0 ? pages : std::min(u.page_hi, pages);
  std::vector<int64_t> out;
  for (const auto& [lo, hi] : merged)
    for (int64_t p = std::max(first, lo / kPage); p <= std::min(end - 1, hi / kPage); ++p)
      if (out.empty() || p > out.back()) out.push_back(p);
  return out;
}

namespace {

int64_t SplitsFor(int64_t units, int64_t pages, int64_t cores) {
  if (units <= 0 || units >= cores) return 1;
  return std::max<int64_t>(1, std::min((cores + units - 1) / units, pages / kMinSplitPages));
}

void SplitKv(Dims& d, int64_t cores) {
  d.merges.clear();
  d.parts = 0;
  if (d.units.empty() || static_cast<int64_t>(d.units.size()) >= cores) return;
  for (const Unit& u : d.units)
    if (!u.heads_packed) return;  // prefill units: many per request already
  std::vector<Unit> out;
  for (const Unit& u : d.units) {
    const int64_t pages = (d.reqs[static_cast<size_t>(u.req)].kv_len + kPage - 1) / kPage;
    const int64_t n = SplitsFor(static_cast<int64_t>(d.units.size()), pages, cores);
    if (n <= 1) {
      out.push_back(u);
      continue;
    }
    d.merges.push_back({u.req, u.q_row0, u.rows, u.head0, u.heads_packed, d.parts, n});
    for (int64_t s = 0; s < n; ++s) {
      Unit v = u;
      v.page_lo = pages * s / n;
      v.page_hi = pages * (s + 1) / n;
      v.split = s;
      v.splits = n;
      v.part = d.parts;
      out.push_back(v);
    }
    d.parts += n;
  }
  d.units = out;
}

}  // namespace

int64_t MaxParts(int64_t units, int64_t max_pages, int64_t cores) {
  const int64_t n = SplitsFor(units, max_pages, cores);
  return n > 1 ? units * n : 0;
}

void BuildUnits(Dims& d, int64_t cores) {
  d.units.clear();
  const int64_t G = d.Nq / d.Nkv;
  for (size_t b = 0; b < d.reqs.size(); ++b) {
    const Request& r = d.reqs[b];
    if (!PacksGqa(r.q_len, G, d.D, d.latent)) {
      for (int64_t h = 0; h < d.Nq; ++h)
        for (int64_t q0 = 0; q0 < r.q_len; q0 += d.rows)
          d.units.push_back(
              {static_cast<int64_t>(b), h / G, q0, std::min(d.rows, r.q_len - q0), h, false});
    } else if (G > d.rows) {  // a group wider than a unit (MLA's 16-128 heads): a unit per token
                              // and block of heads
      for (int64_t j = 0; j < d.Nkv; ++j)
        for (int64_t i = 0; i < r.q_len; ++i)
          for (int64_t h0 = 0; h0 < G; h0 += d.rows)
            d.units.push_back(
                {static_cast<int64_t>(b), j, i, std::min(d.rows, G - h0), j * G + h0, true});
    } else {
      const int64_t per = TokensPerPackedUnit(G, d.rows);
      for (int64_t j = 0; j < d.Nkv; ++j)
        for (int64_t i = 0; i < r.q_len; i += per) {
          Unit u{static_cast<int64_t>(b), j, i, std::min(per, r.q_len - i) * G, j * G, true};
          u.tokens = std::min(per, r.q_len - i);
          d.units.push_back(u);
        }
    }
  }
  SplitKv(d, cores);
}

}  // namespace npusim::fia
