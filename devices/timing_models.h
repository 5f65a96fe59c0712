// The timing core's replaceable parts, after Ramulator 2.0's split of interface and
// implementation: the vector unit, the cube unit, the MTE paths, the memory system shared by
// the cores and the chip-to-chip links each have an interface here; every implementation is
// registered under a name (one line each in timing_models.cpp) and the device YAML picks one with
// the `impl:` key of its section (vector.impl, cube.impl, mte.impl, memory.impl, links.impl). Plain
// C++, no SystemC.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "devices/device_config.h"
#include "model/dtype.h"

namespace npusim {

class VectorModel {
 public:
  virtual ~VectorModel() = default;
  // Cycles of one vector instruction over `bytes` input bytes of `elem_bytes`-wide elements.
  virtual uint64_t Cycles(VecClass c, uint64_t bytes, size_t elem_bytes) const = 0;
  // The same work at the unit's ideal throughput, no startup or rounding (the roofline's bound).
  virtual double IdealCycles(VecClass c, uint64_t bytes, size_t elem_bytes) const = 0;
};

class CubeModel {
 public:
  virtual ~CubeModel() = default;
  // Cycles of an m x k x n Mmad with inputs of dtype `in`.
  virtual uint64_t Cycles(uint32_t m, uint32_t k, uint32_t n, DType in) const = 0;
  // The same work at peak rate with no fractal padding or startup (the roofline's cube bound).
  virtual double IdealCycles(uint32_t m, uint32_t k, uint32_t n, DType in) const = 0;
};

// One core's data-movement paths, each alone (no contention with other cores).
class MteModel {
 public:
  virtual ~MteModel() = default;
  virtual uint64_t Cycles(MtePath p, uint64_t bytes) const = 0;  // latency included
  virtual uint64_t Latency(MtePath p) const = 0;
  // Whether the next transfer on the same pipe may start while this one's latency runs: the pipe
  // is then busy for the transfer alone and the data lands `Latency` later (what syncs, barriers
  // and the block's drain wait for). False: each transfer holds its pipe to the end.
  virtual bool OverlapsLatency() const { return false; }
};

// The GM side of a transfer: `blocks` blocks of `block_bytes`, `stride` bytes apart.
struct GmSpan {
  uint64_t addr = 0;
  uint32_t blocks = 1;
  uint64_t block_bytes = 0, stride = 0;
};

// Memory every core shares (L2, HBM): decides when a GM transfer's data has moved.
class MemorySystem {
 public:
  virtual ~MemorySystem() = default;
  // A new launch at cycle `origin`: idle bandwidth and zero counters. `keep_l2`: the data the
  // previous launch left in L2 stays (a later launch of the same op); else L2 starts cold.
  virtual void BeginLaunch(uint64_t origin, bool keep_l2) = 0;
  // A transfer of `span` (`bytes` in all) starting at `start` whose core-side path alone would
  // take `path_cycles` then `latency`: returns its end cycle.
  virtual uint64_t Transfer(uint64_t start, const GmSpan& span, uint64_t bytes,
                            uint64_t path_cycles, uint64_t latency, bool write) = 0;
  virtual uint64_t read_bytes() const = 0;    // from HBM since BeginLaunch
  virtual uint64_t write_bytes() const = 0;   // to HBM since BeginLaunch
  virtual uint64_t l2_hit_bytes() const = 0;  // GM reads served by L2 since BeginLaunch
};

// The chip-to-chip links one rank reads its peers over (collectives): decides when a remote
// read's data has arrived. Reservations are in cycles since the launch origin (as MemorySystem
// keeps them).
class LinkNetwork {
 public:
  virtual ~LinkNetwork() = default;
  virtual void Reset(uint64_t origin) = 0;  // a new launch at cycle `origin`: idle links
  // A read of `bytes` from `peer` by rank `self`, whose core-side path alone takes `path_cycles`
  // then `latency`: returns its end cycle.
  virtual uint64_t Transfer(uint64_t start, int self, int peer, uint64_t bytes,
                            uint64_t path_cycles, uint64_t latency) = 0;
  virtual uint64_t bytes() const = 0;           // over peer links since Reset
  virtual uint64_t pair_bytes() const = 0;      // over the package's pair (SIO) link
  virtual uint64_t max_peer_bytes() const = 0;  // over the busiest non-pair peer link
};

// The implementations registered for each part, and the one a device names.
template <class Part>
struct TimingImpls {
  using Factory = std::unique_ptr<Part> (*)(const DeviceConfig&);
  struct Entry {
    const char* name;
    Factory make;
    const char* meaning;
  };
  static const std::vector<Entry>& All();  // defined per part in timing_models.cpp
  static std::vector<std::string> Names();
  // The implementation called `name`; an unknown name is an InputError naming the nearest.
  static std::unique_ptr<Part> Make(const std::string& name, const DeviceConfig& cfg);
};
template <>
const std::vector<TimingImpls<VectorModel>::Entry>& TimingImpls<VectorModel>::All();
template <>
const std::vector<TimingImpls<CubeModel>::Entry>& TimingImpls<CubeModel>::All();
template <>
const std::vector<TimingImpls<MteModel>::Entry>& TimingImpls<MteModel>::All();
template <>
const std::vector<TimingImpls<MemorySystem>::Entry>& TimingImpls<MemorySystem>::All();

}  // namespace npusim
