// Instruction durations from the device config (DESIGN.md §4): the default implementations of
// the compute and MTE parts (timing_models.h) and the chip-to-chip links. Plain C++, testable
// without SystemC. GM transfers also pass through the MemorySystem (memory_system.h), which caps
// the whole chip's traffic.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <memory>
#include <vector>

#include "devices/device_config.h"
#include "devices/instr.h"
#include "devices/timing_models.h"

namespace npusim {

// Implementation "repeat" of VectorModel: a fixed startup per instruction, then the input in
// whole 256 B repeats at the instruction class's measured rate (per 16-bit or 32-bit elements).
class RepeatVector : public VectorModel {
 public:
  explicit RepeatVector(const DeviceConfig& cfg) : cfg_(cfg) {}
  uint64_t Cycles(VecClass c, uint64_t bytes, size_t elem_bytes) const override;
  double IdealCycles(VecClass c, uint64_t bytes, size_t elem_bytes) const override;

 private:
  const DeviceConfig& cfg_;
};

// Implementation "fractal" of CubeModel: a startup, then one 16 x 16 x 16 fractal (16 x 32 x 16
// for int8) per cube.fractal_cycles, fp32 at 1 / cube.fp32_slowdown of that rate.
class FractalCube : public CubeModel {
 public:
  explicit FractalCube(const DeviceConfig& cfg) : cfg_(cfg) {}
  uint64_t Cycles(uint32_t m, uint32_t k, uint32_t n, DType in) const override;
  double IdealCycles(uint32_t m, uint32_t k, uint32_t n, DType in) const override;

 private:
  const DeviceConfig& cfg_;
};

// Implementation "latency_bandwidth" of MteModel: t = latency + bytes / bandwidth per path, one
// transfer at a time per pipe.
class LatencyBandwidthMte : public MteModel {
 public:
  explicit LatencyBandwidthMte(const DeviceConfig& cfg);
  uint64_t Cycles(MtePath p, uint64_t bytes) const override;
  uint64_t Latency(MtePath p) const override { return latency_[static_cast<int>(p)]; }

 private:
  uint64_t latency_[static_cast<int>(MtePath::kCount)];
  double bw_[static_cast<int>(MtePath::kCount)];
};

// Implementation "latency_bandwidth_pipelined": the same costs, but a pipe streams its transfers
// and only the bytes hold it: the latency of one overlaps the next (the DMA keeps several
// instructions in flight).
class PipelinedLatencyBandwidthMte : public LatencyBandwidthMte {
 public:
  using LatencyBandwidthMte::LatencyBandwidthMte;
  bool OverlapsLatency() const override { return true; }
};

// The parts a device's impl keys name, and the duration of an instruction that stays inside
// one core (vector, cube, local copies); GM transfers go through the MemorySystem.
class CostModel {
 public:
  explicit CostModel(const DeviceConfig& cfg);

  uint64_t VectorCycles(VecClass c, uint64_t bytes, size_t elem_bytes) const {
    return vector_->Cycles(c, bytes, elem_bytes);
  }
  double VectorIdealCycles(VecClass c, uint64_t bytes, size_t elem_bytes) const {
    return vector_->IdealCycles(c, bytes, elem_bytes);
  }
  uint64_t CubeCycles(uint32_t m, uint32_t k, uint32_t n, DType in) const {
    return cube_->Cycles(m, k, n, in);
  }
  double CubeIdealCycles(uint32_t m, uint32_t k, uint32_t n, DType in) const {
    return cube_->IdealCycles(m, k, n, in);
  }
  // A transfer on one core's MTE path, alone (no contention with other cores).
  uint64_t PathCycles(MtePath p, uint64_t bytes) const { return mte_->Cycles(p, bytes); }
  uint64_t PathLatency(MtePath p) const { return mte_->Latency(p); }
  bool MteOverlapsLatency() const { return mte_->OverlapsLatency(); }
  // Cycles of a non-GM instruction (vector, cube, local copies). Inline: once per instruction.
  uint64_t LocalCycles(const Instr& in) const {
    switch (in.op) {
      case Opcode::kVector:
        return VectorCycles(ClassOf(in.vec.op), in.bytes, SizeOf(in.dtype));
      case Opcode::kMmad:
        return CubeCycles(in.cube.m, in.cube.k, in.cube.n, in.dtype);
      case Opcode::kCopy:
      case Opcode::kLoad2D:
      case Opcode::kFixpipe:
        return PathCycles(in.path, in.bytes);
      default:
        return 0;
    }
  }

  static bool TouchesGm(MtePath p);
  static bool WritesGm(MtePath p) { return p == MtePath::kUbToGm || p == MtePath::kL0cToGm; }

 private:
  std::unique_ptr<VectorModel> vector_;
  std::unique_ptr<CubeModel> cube_;
  std::unique_ptr<MteModel> mte_;
};

// Links "peer_aggregate": per peer a link (the SIO pair link for the other die of an A3
// package), all non-pair links together capped by the chip's aggregate bandwidth; each
// reservation is first come first served in simulated time, as the MemorySystem does for HBM.
class PeerAggregateLinks : public LinkNetwork {
 public:
  explicit PeerAggregateLinks(const DeviceConfig& cfg);
  uint64_t Transfer(uint64_t start, int self, int peer, uint64_t bytes, uint64_t path_cycles,
                    uint64_t latency) override;
  uint64_t bytes() const override { return bytes_; }
  uint64_t pair_bytes() const override { return pair_bytes_; }
  uint64_t max_peer_bytes() const override {
    uint64_t m = 0;
    for (uint64_t b : peer_bytes_) m = std::max(m, b);
    return m;
  }
  void Reset(uint64_t origin) override {
    peer_free_.clear();
    peer_bytes_.clear();
    aggregate_free_ = 0;
    bytes_ = pair_bytes_ = 0;
    origin_ = origin;
  }

 private:
  double peer_bpc_, aggregate_bpc_, pair_bpc_;
  int pair_ranks_;
  uint64_t origin_ = 0;
  std::vector<double> peer_free_;
  std::vector<uint64_t> peer_bytes_;
  double aggregate_free_ = 0;
  uint64_t bytes_ = 0, pair_bytes_ = 0;
};

}  // namespace npusim
