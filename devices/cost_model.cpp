#include "devices/cost_model.h"

#include <algorithm>
#include <cmath>

namespace npusim {

LatencyBandwidthMte::LatencyBandwidthMte(const DeviceConfig& cfg) {
  for (int i = 0; i < static_cast<int>(MtePath::kCount); ++i) {
    latency_[i] = cfg.NsToCycles(cfg.mte[i].latency_ns);
    bw_[i] = cfg.BytesPerCycle(cfg.mte[i].bandwidth_gbps);
  }
}

CostModel::CostModel(const DeviceConfig& cfg)
    : vector_(TimingImpls<VectorModel>::Make(cfg.vector_impl, cfg)),
      cube_(TimingImpls<CubeModel>::Make(cfg.cube_impl, cfg)),
      mte_(TimingImpls<MteModel>::Make(cfg.mte_impl, cfg)) {}

bool CostModel::TouchesGm(MtePath p) {
  switch (p) {
    case MtePath::kGmToUb:
    case MtePath::kUbToGm:
    case MtePath::kGmToL1:
    case MtePath::kL0cToGm:
    case MtePath::kGmToL0A:
    case MtePath::kGmToL0B:
      return true;
    default:
      return false;
  }
}

static uint64_t CeilDiv(double a, double b) {
  return static_cast<uint64_t>(std::ceil(a / b - 1e-9));
}

uint64_t RepeatVector::Cycles(VecClass c, uint64_t bytes, size_t elem_bytes) const {
  const auto& p = cfg_.vec[static_cast<int>(c)];
  uint64_t repeat = static_cast<uint64_t>(cfg_.repeat_bytes);
  uint64_t work = std::max<uint64_t>(1, (bytes + repeat - 1) / repeat) * repeat;
  double rate = elem_bytes >= 4 ? p.rate_b32 : p.rate_b16;
  return static_cast<uint64_t>(p.startup_cycles) + CeilDiv(static_cast<double>(work), rate);
}

double RepeatVector::IdealCycles(VecClass c, uint64_t bytes, size_t elem_bytes) const {
  const auto& p = cfg_.vec[static_cast<int>(c)];
  return static_cast<double>(bytes) / (elem_bytes >= 4 ? p.rate_b32 : p.rate_b16);
}

uint64_t FractalCube::Cycles(uint32_t m, uint32_t k, uint32_t n, DType in) const {
  uint64_t k_frac = (in == DType::kInt8 || in == DType::kUInt8) ? 32 : 16;
  uint64_t fractals = ((m + 15) / 16) * ((k + k_frac - 1) / k_frac) * ((n + 15) / 16);
  uint64_t per = static_cast<uint64_t>(cfg_.cube_fractal_cycles);
  if (in == DType::kFloat32) per *= static_cast<uint64_t>(cfg_.cube_fp32_slowdown);
  return static_cast<uint64_t>(cfg_.cube_startup_cycles) + fractals * per;
}

double FractalCube::IdealCycles(uint32_t m, uint32_t k, uint32_t n, DType in) const {
  const double k_frac = (in == DType::kInt8 || in == DType::kUInt8) ? 32 : 16;
  double per = cfg_.cube_fractal_cycles * (in == DType::kFloat32 ? cfg_.cube_fp32_slowdown : 1.0);
  return static_cast<double>(m) * k * n / (16.0 * 16.0 * k_frac) * per;
}

uint64_t LatencyBandwidthMte::Cycles(MtePath p, uint64_t bytes) const {
  return latency_[static_cast<int>(p)] +
         CeilDiv(static_cast<double>(bytes), bw_[static_cast<int>(p)]);
}

PeerAggregateLinks::PeerAggregateLinks(const DeviceConfig& cfg)
    : peer_bpc_(cfg.BytesPerCycle(cfg.link_peer_gbps)),
      aggregate_bpc_(cfg.BytesPerCycle(cfg.link_aggregate_gbps)),
      pair_bpc_(cfg.BytesPerCycle(cfg.link_pair_gbps)),
      pair_ranks_(static_cast<int>(cfg.link_pair_ranks)) {}

uint64_t PeerAggregateLinks::Transfer(uint64_t start, int self, int peer, uint64_t bytes,
                                      uint64_t path_cycles, uint64_t latency) {
  if (peer_free_.size() <= static_cast<size_t>(peer)) {
    peer_free_.resize(static_cast<size_t>(peer) + 1, 0.0);
    peer_bytes_.resize(static_cast<size_t>(peer) + 1, 0);
  }
  const double s = static_cast<double>(start - origin_), b = static_cast<double>(bytes);
  const bool pair = pair_ranks_ == 2 && peer / 2 == self / 2;
  double& link = peer_free_[static_cast<size_t>(peer)];
  link = std::max(s, link) + b / (pair ? pair_bpc_ : peer_bpc_);
  double done = link;
  if (!pair) {
    aggregate_free_ = std::max(s, aggregate_free_) + b / aggregate_bpc_;
    done = std::max(done, aggregate_free_);
  }
  (pair ? pair_bytes_ : bytes_) += bytes;
  if (!pair) peer_bytes_[static_cast<size_t>(peer)] += bytes;
  const double data_done = std::max(s + static_cast<double>(path_cycles - latency), done);
  return origin_ + static_cast<uint64_t>(std::ceil(data_done - 1e-9)) + latency;
}

}  // namespace npusim
