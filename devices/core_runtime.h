// What a kernel running on one core can ask of the hardware. The AscendC-like API
// (devices/ascendc) is written against this interface; the SystemC core model implements it.
// No SystemC here, so kernels and their tests compile without it.
#pragma once

#include <cstdint>
#include <string>

#include "devices/device_config.h"
#include "devices/instr.h"

namespace npusim {

// A tensor in global memory (HBM) as a kernel sees it.
struct GmBuffer {
  std::string name;
  uint8_t* data = nullptr;  // null in timing-only mode (or for tensors never materialised)
  uint64_t bytes = 0;
  uint64_t addr = 0;  // simulated GM address, for messages
  // Cluster tensors ([ranks, ...], one slice per chip's HBM): bytes per rank's slice (0 = an
  // ordinary local tensor) and the rank this launch runs as. Reading another rank's slice goes
  // over the chip-to-chip link.
  uint64_t rank_bytes = 0;
  int self_rank = 0;
};

class CoreRuntime {
 public:
  virtual ~CoreRuntime() = default;
  virtual CoreType type() const = 0;     // kAiv or kAic
  virtual std::string name() const = 0;  // "aiv3"
  virtual int64_t block_idx() const = 0;
  virtual int64_t block_num() const = 0;
  virtual int sub_block_idx() const = 0;  // 0/1: which AIV of a mixed group
  virtual bool functional() const = 0;
  virtual const DeviceConfig& config() const = 0;

  // Dispatches an instruction into its pipe's queue; blocks the scalar when the queue is full.
  virtual void Issue(Instr& in) = 0;
  virtual void ScalarSetFlag(Pipe dst, int id) = 0;   // SetFlag<S_dst>
  virtual void ScalarWaitFlag(Pipe src, int id) = 0;  // WaitFlag<src_S>: blocks the scalar
  virtual void BarrierAll() = 0;                      // PipeBarrier<PIPE_ALL>
  virtual void CrossCoreWait(int flag_id) = 0;        // CrossCoreWaitFlag: blocks the scalar
  virtual void ScalarCycles(uint64_t cycles) = 0;     // scalar work (address arithmetic, GetValue)
  // Scalar GetValue/SetValue on a local tensor: race-checked as pipe S.
  virtual void ScalarAccess(int region, bool write, const char* what) = 0;
  // Scalar GetValue/SetValue on GM at address `addr`: through the data cache (a miss stalls).
  virtual void ScalarGmAccess(uint64_t addr) = 0;

  // Local buffers. Allocate() reserves `num` x `bytes_each` (already aligned) or throws the
  // bishengir-style overflow; Release() frees everything from `offset` up (stack discipline).
  virtual uint8_t* LocalBase(Mem m) = 0;  // null in timing-only mode
  virtual uint64_t Allocate(Mem m, const std::string& name, uint64_t bytes_each, int num) = 0;
  virtual void Release(Mem m, uint64_t offset) = 0;
  virtual int AddRegion(std::string name) = 0;
  virtual uint64_t Capacity(Mem m) const = 0;
  virtual uint64_t Alignment(Mem m) const = 0;
};

// The core whose scalar thread is running (set by the core model at every resume). Inline:
// every AscendC call asks for it, most of them once per instruction.
namespace current_core {
extern CoreRuntime* g_current_core;
[[noreturn]] void NoCurrentCore();
}  // namespace current_core
inline CoreRuntime& CurrentCore() {
  if (!current_core::g_current_core) current_core::NoCurrentCore();
  return *current_core::g_current_core;
}
inline void SetCurrentCore(CoreRuntime* core) { current_core::g_current_core = core; }

}  // namespace npusim
