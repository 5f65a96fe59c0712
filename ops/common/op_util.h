// Host-side helpers the ops share: seeded input filling, element-type dispatch and tiling rows.
#pragma once

#include <algorithm>
#include <cmath>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "devices/ascendc/kernel_operator.h"
#include "ops/op.h"

namespace npusim::op_util {

// Fills a materialised tensor with N(mean, stddev) samples (rounded to its dtype on store).
inline void FillNormal(Tensor& t, Rng& rng, double stddev = 1.0, double mean = 0.0) {
  if (!t.materialised()) return;
  for (int64_t i = 0; i < t.numel(); ++i) t.Set(i, mean + stddev * rng.Normal());
}
inline void FillUniform(Tensor& t, Rng& rng, double lo, double hi) {
  if (!t.materialised()) return;
  for (int64_t i = 0; i < t.numel(); ++i) t.Set(i, rng.Uniform(lo, hi));
}

// Calls f(T{}) with the device element type of `dt` (float, half or bfloat16_t).
template <class F>
auto DispatchFloat(DType dt, F&& f) {
  switch (dt) {
    case DType::kFloat16:
      return f(ascendc::half{});
    case DType::kBFloat16:
      return f(ascendc::bfloat16_t{});
    default:
      return f(float{});
  }
}

// A launch of Kernel<T> (Init(args...), then Process()) on `core` with T the device type of `dt`.
template <template <class> class Kernel, class... Args>
KernelLaunch LaunchOf(const std::string& name, int64_t blocks, CoreType core, DType dt,
                      Args... args) {
  KernelLaunch l;
  l.name = name;
  l.block_dim = blocks;
  l.core_type = core;
  l.body = DispatchFloat(dt, [&](auto tag) -> std::function<void()> {
    using T = decltype(tag);
    return [=] {
      Kernel<T> k;
      k.Init(args...);
      k.Process();
    };
  });
  return l;
}
template <template <class> class Kernel, class... Args>
KernelLaunch AivLaunch(const std::string& name, int64_t blocks, DType dt, Args... args) {
  return LaunchOf<Kernel>(name, blocks, CoreType::kAiv, dt, args...);
}

// Largest row count in [1, max_rows] whose UB use `fixed + rows * per_row` fits `ub_bytes`;
// 1 when nothing fits, so the kernel's InitBuffer reports the overflow with its breakdown.
inline int64_t RowsThatFit(int64_t per_row, int64_t fixed, int64_t ub_bytes, int64_t max_rows) {
  if (per_row <= 0) return std::max<int64_t>(1, max_rows);
  return std::clamp<int64_t>((ub_bytes - fixed) / per_row, 1, std::max<int64_t>(1, max_rows));
}

// Cluster tensor `b` ([ranks, ...], one slice per chip) as rank q's launch sees it: reading
// another rank's slice goes over the links.
inline GmBuffer AsRank(const GmBuffer& b, int64_t ranks, int q) {
  GmBuffer r = b;
  r.rank_bytes = b.bytes / static_cast<uint64_t>(ranks);
  r.self_rank = q;
  return r;
}

inline std::pair<std::string, std::string> Kv(const std::string& k, int64_t v) {
  return {k, std::to_string(v)};
}
inline std::pair<std::string, std::string> Kv(const std::string& k, const std::string& v) {
  return {k, v};
}

// The rotation frequency of RoPE's dim pair i of `rot`: theta^(-2i / rot), unscaled (the
// rotary_embedding kernel's cos / sin cache; mla_prolog's cos / sin rows).
inline double RopeInvFreq(double theta, int64_t i, int64_t rot) {
  return std::pow(theta, -2.0 * static_cast<double>(i) / static_cast<double>(rot));
}

// Random positions in [0, positions) and the packed RoPE cache of `positions` rows x `rot`: row p
// holds cos(p f_i) for the rot / 2 pairs, then sin(p f_i), f_i = inv_freq(i) (rotary_embedding's
// and split_qkv_rmsnorm_rope's cos_sin_cache input and its position ids).
inline void FillPositionsAndRopeCache(Tensor& pos, Tensor& cs, Rng& rng, int64_t positions,
                                      int64_t rot, const std::function<double(int64_t)>& inv_freq) {
  for (int64_t i = 0; i < pos.numel(); ++i)
    pos.Set(i, static_cast<double>(rng.UniformInt(0, positions - 1)));
  if (!cs.materialised()) return;
  for (int64_t p = 0; p < positions; ++p)
    for (int64_t i = 0; i < rot / 2; ++i) {
      const double ang = static_cast<double>(p) * inv_freq(i);
      cs.Set(p * rot + i, std::cos(ang));
      cs.Set(p * rot + rot / 2 + i, std::sin(ang));
    }
}

// fp64 helpers of the references.
inline double Sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }
inline double Silu(double x) { return x * Sigmoid(x); }
inline double Softplus(double x, double threshold = 20.0) {
  return x > threshold ? x : std::log1p(std::exp(x));
}

}  // namespace npusim::op_util
