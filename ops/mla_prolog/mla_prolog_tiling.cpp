#include "ops/mla_prolog/mla_prolog_tiling.h"

#include <algorithm>

#include "model/error.h"

namespace npusim::mla_prolog {

int64_t ColumnSplit::Count(int64_t core) const { return std::clamp<int64_t>(total - core * per, 0, per); }

namespace {
// Columns per AIC: an even share rounded up to 16 (a cube fractal's width), so that no AIC's
// block starts inside a fractal.
ColumnSplit Split(int64_t total, int64_t cores) {
  const int64_t share = (total + cores - 1) / cores;
  return {total, (share + 15) / 16 * 16};
}
}  // namespace

Tiling ComputeTiling(const Dims& d, int64_t step_tokens, const DeviceConfig& dev) {
  if (d.Dr % 2 || d.Dr < 2) throw InputError("mla_prolog: rope_dim must be even, got " + std::to_string(d.Dr));
  for (const auto& [name, v] : {std::pair<const char*, int64_t>{"hidden", d.He}, {"q_lora_rank", d.Hcq}, {"nope_dim", d.D}})
    if (v % 16) throw InputError(std::string("mla_prolog: ") + name + " must be a multiple of 16 (a cube K step of whole 32 B rows), got " + std::to_string(v));
  Tiling t;
  t.d = d;
  t.cores = dev.aic_count;
  t.step_tokens = std::min<int64_t>(step_tokens > 0 ? step_tokens : 128, d.T);
  t.cq = Split(d.Hcq, t.cores);
  t.qcqr = Split(d.N * d.Qk(), t.cores);
  t.heads_per_core = (d.N + t.cores - 1) / t.cores;
  return t;
}

}  // namespace npusim::mla_prolog
