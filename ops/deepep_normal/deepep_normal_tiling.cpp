#include "ops/deepep_normal/deepep_normal_tiling.h"

#include <algorithm>
#include <string>

#include "model/error.h"

namespace npusim::deepep_normal {

int64_t Routing::First(int64_t s, int64_t e) const {
  // Rows s * Rows() + i cycle through the experts: the first i with (base + i) mod E == e.
  const int64_t base = (s * Rows()) % experts;
  const int64_t first = ((e - base) % experts + experts) % experts;
  return std::min(first, Rows());
}

int64_t Routing::Count(int64_t s, int64_t e) const {
  const int64_t first = First(s, e);
  return first >= Rows() ? 0 : (Rows() - 1 - first) / experts + 1;
}

Tiling ComputeTiling(const Routing& route, int64_t hidden, bool quant, const DeviceConfig& d) {
  if (route.experts % route.ranks)
    throw InputError("parameter 'experts' (" + std::to_string(route.experts) +
                     ") must be a multiple of 'ranks' (" + std::to_string(route.ranks) + ")");
  Tiling t;
  t.route = route;
  t.hidden = hidden;
  t.quant = quant;
  t.slot_elems = quant ? hidden + 32 : hidden;
  const int64_t R = route.ranks, E = route.experts, Le = route.LocalExperts();
  t.send_offset.assign(static_cast<size_t>(R * E), 0);
  for (int64_t s = 0; s < R; ++s)
    for (int64_t e = 0, at = 0; e < E; ++e) {
      t.send_offset[static_cast<size_t>(s * E + e)] = at;
      at += route.Count(s, e);
    }
  t.recv_offset.assign(static_cast<size_t>(R * Le * R), 0);
  t.recv_count.assign(static_cast<size_t>(R), 0);
  for (int64_t dst = 0; dst < R; ++dst) {
    int64_t at = 0;
    for (int64_t le = 0; le < Le; ++le)
      for (int64_t s = 0; s < R; ++s) {
        t.recv_offset[static_cast<size_t>((dst * Le + le) * R + s)] = at;
        at += route.Count(s, dst * Le + le);
      }
    t.recv_count[static_cast<size_t>(dst)] = at;
    t.recv_max = std::max(t.recv_max, at);
  }
  t.rows_split = kernel_util::BlockSplit(route.Rows(), d.aiv_count);
  t.pairs_split = kernel_util::BlockSplit(E, d.aiv_count);  // Le * R pairs per rank
  t.tokens_split = kernel_util::BlockSplit(route.tokens, d.aiv_count);
  return t;
}

}  // namespace npusim::deepep_normal
