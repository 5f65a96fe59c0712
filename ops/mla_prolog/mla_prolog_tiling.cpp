#include "ops/mla_prolog/mla_prolog_tiling.h"

#include <algorithm>

#include "model/error.h"

namespace npusim::mla_prolog {

int64_t ColumnSplit::Count(int64_t core) const {
  return std::clamp<int64_t>(total - core * per, 0, per);
}

namespace {
// Columns per AIC: an even share rounded up to 16 (a cube fractal's width), so that no AIC's
// block starts inside a fractal.
ColumnSplit Split(int64_t total, int64_t cores) {
  const int64_t share = (total + cores - 1) / cores;
  return {total, (share + 15) / 16 * 16};
}
}  // namespace

Tiling ComputeTiling(const Dims& d, int64_t step_tokens, bool quant, const DeviceConfig& dev) {
  // The rope halves and the rope part after the latent start on 32 B of fp32 in UB.
  if (d.Dr % 16)
    throw InputError(
        "mla_prolog: rope_dim must be a multiple of 16 (its fp32 halves start on 32 B), got " +
        std::to_string(d.Dr));
  if (d.Hckv % 8)
    throw InputError(
        "mla_prolog: kv_lora_rank must be a multiple of 8 (the rope part after it starts on 32 B "
        "of fp32), got " +
        std::to_string(d.Hckv));
  for (const auto& [name, v] :
       {std::pair<const char*, int64_t>{"hidden", d.He}, {"q_lora_rank", d.Hcq}, {"nope_dim", d.D}})
    if (v % 16)
      throw InputError(std::string("mla_prolog: ") + name +
                       " must be a multiple of 16 (a cube K step of whole 32 B rows), got " +
                       std::to_string(v));
  if (quant)  // an int8 operand's rows along K: a K step of whole 32 B
    for (const auto& [name, v] :
         {std::pair<const char*, int64_t>{"hidden", d.He}, {"q_lora_rank", d.Hcq}})
      if (v % 32)
        throw InputError(std::string("mla_prolog: quant w8a8 needs ") + name +
                         " a multiple of 32, got " + std::to_string(v));
  Tiling t;
  t.d = d;
  t.quant = quant;
  t.cores = dev.aic_count;
  t.step_tokens = std::min<int64_t>(step_tokens > 0 ? step_tokens : 128, d.T);
  t.cq = Split(d.Hcq, t.cores);
  t.qcqr = Split(d.N * d.Qk(), t.cores);
  t.heads_per_core = (d.N + t.cores - 1) / t.cores;
  // base_k: the deepest power of two (up to 1024) whose double-buffered main tiles fit what L0A and
  // L0B leave beside MatmulQn's tile (quantised), so the weights stream in few large copies.
  const int64_t m = (t.step_tokens + 15) / 16 * 16, e = quant ? 1 : 2;
  const int64_t l0a = dev.l0a_bytes - (quant ? m * t.qn_base_k * 2 : 0),
                l0b = dev.l0b_bytes - (quant ? t.qn_base_k * t.qn_base_n * 2 : 0);
  t.base_k = 16;
  while (t.base_k < 1024 && 2 * (2 * t.base_k) * std::max(m, t.base_n) * e <= std::min(l0a, l0b))
    t.base_k *= 2;
  // l1_steps: up to 8 K steps per GM copy (64 KiB of int8 weight at base_k 128 x 64 columns) while
  // the double-buffered L1 tiles and MatmulQn's fit L1; a copy pays its latency once.
  const int64_t qn_l1 = quant ? (m + t.qn_base_n) * t.qn_base_k * 2 : 0;
  while (t.l1_steps < 8 &&
         2 * (2 * t.l1_steps) * t.base_k * (m + t.base_n) * e + qn_l1 <= dev.l1_bytes)
    t.l1_steps *= 2;
  return t;
}

}  // namespace npusim::mla_prolog
