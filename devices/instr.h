// One pipe instruction as the scalar unit dispatches it. Plain data: the SystemC pipes time it
// (cost_model.h), the checks inspect it (race_checker.h), functional mode executes it
// (semantics.h). The same stream runs in both modes; only `ptr`s are null in timing-only mode.
#pragma once

#include <cstdint>
#include <string>

#include "devices/device_config.h"
#include "model/dtype.h"

namespace npusim {

enum class Pipe : uint8_t { kS, kV, kM, kMte1, kMte2, kMte3, kFix, kCount };
constexpr int kNumPipes = static_cast<int>(Pipe::kCount);

enum class CoreType : uint8_t { kAiv, kAic, kMix };
const char* CoreTypeName(CoreType t);

// One pipe of an A2/A3 core as everything else reads it: its name, which core types have it,
// whether it has an instruction queue (the scalar unit dispatches and has none) and what it does.
// A new pipe is a new Pipe value and a new row of this table.
struct PipeSpec {
  Pipe pipe;
  const char* name;  // as AscendC's PIPE_<name> and msprof spell it
  bool on_aiv, on_aic;
  bool queued;
  const char* role;
};
const PipeSpec& SpecOf(Pipe p);
inline const char* PipeName(Pipe p) { return SpecOf(p).name; }
bool PipeOn(Pipe p, CoreType t);  // t is kAiv or kAic
// "S/V/MTE2/MTE3": the pipes a core type has, in table order.
std::string PipesOf(CoreType t);

enum class Mem : uint8_t { kGm, kUb, kL1, kL0A, kL0B, kL0C, kCount };
constexpr int kNumMems = static_cast<int>(Mem::kCount);
const char* MemName(Mem m);       // "GM", "UB", ...
const char* MemLowerName(Mem m);  // "gm", "ub", "l1", "l0a", "l0b", "l0c" (bishengir wording)

// Where an operand's bytes live.
struct BufferRef {
  Mem mem = Mem::kGm;
  uint8_t* ptr = nullptr;  // host bytes, null in timing-only mode
  uint64_t addr = 0;       // byte address inside its buffer (local) or GM address
  int32_t region = -1;     // race-tracking region of a local buffer slot; -1 for GM
};

enum class Opcode : uint8_t {
  kSetFlag,
  kWaitFlag,
  kBarrier,
  kCrossCoreSet,
  kCopy,
  kVector,
  kLoad2D,
  kMmad,
  kFixpipe
};

enum class VecOp : uint8_t {
  kAdd,
  kSub,
  kMul,
  kDiv,
  kMax,
  kMin,  // binary
  kAdds,
  kMuls,
  kMaxs,
  kMins,
  kAbs,
  kReciprocal,
  kRelu,
  kDuplicate,  // unary / scalar operand
  kExp,
  kLn,
  kSqrt,
  kRsqrt,  // transcendental
  kCast,
  kReduceSum,
  kReduceMax,
  kCompare,
  kSelect,
  kAxpy,      // dst += src * scalar
  kGroupSum,  // dst[g] = sum of src[g*group .. (g+1)*group), group in `scalar` (WholeReduceSum)
  kGroupMax,  // dst[g] = max of the same groups (WholeReduceMax)
  // int8 dst[2i], dst[2i+1] = the low and high signed nibbles of byte src[i]: AscendC's
  // Cast(int4b_t -> half) then Cast(half -> int8) on packed int4 weights (W4A8), timed as those
  // two casts; `count` is the int8 elements written.
  kUnpackInt4,
  kMulAddDst,  // dst += src0 * src1 (AscendC MulAddDst)
  kBrcb,       // each of `count` source elements copied across its own 32 B block of dst (Brcb)
};
// Inline: the pipes ask it for every vector instruction.
inline VecClass ClassOf(VecOp op) {
  switch (op) {
    case VecOp::kAdd:
    case VecOp::kSub:
    case VecOp::kMul:
    case VecOp::kMax:
    case VecOp::kMin:
    case VecOp::kCompare:
    case VecOp::kSelect:
    case VecOp::kAxpy:
    case VecOp::kMulAddDst:
      return VecClass::kBinary;
    case VecOp::kDiv:
      return VecClass::kDiv;
    case VecOp::kExp:
    case VecOp::kLn:
    case VecOp::kSqrt:
    case VecOp::kRsqrt:
      return VecClass::kTranscendental;
    case VecOp::kReduceSum:
    case VecOp::kReduceMax:
    case VecOp::kGroupSum:
    case VecOp::kGroupMax:
      return VecClass::kReduce;
    case VecOp::kCast:
    case VecOp::kUnpackInt4:
      return VecClass::kCast;
    default:
      return VecClass::kUnary;
  }
}
const char* VecOpName(VecOp op);

enum class CmpMode : uint8_t { kLt, kGt, kEq, kLe, kGe, kNe };
enum class FixQuant : uint8_t { kNone, kF32ToF16, kF32ToBf16, kDeqF16, kDeqBf16 };

// SetFlag / WaitFlag (a pipe-to-pipe event) and CrossCoreSetFlag.
struct SyncFields {
  Pipe src = Pipe::kS, dst = Pipe::kS;
  uint8_t id = 0;
  uint8_t cross_mode = 0;  // CrossCoreSetFlag: 0 all cores of a type, 1 the AIV pair, 2 AIC<->AIV
};

// Copies and LoadData: `blocks` blocks of `block_bytes`, block starts `src_stride` /
// `dst_stride` bytes apart.
struct CopyFields {
  uint32_t blocks = 0, block_bytes = 0;
  uint64_t src_stride = 0, dst_stride = 0;
  uint32_t dst_block_bytes = 0;  // DataCopyPad: destination block rounded up to 32 B
  bool pad = false;              // DataCopyPad: fill each block's tail up to 32 B with pad_value
  double pad_value = 0;
  bool transpose = false;  // LoadData 2D: transpose each fractal on the way
  // GM -> L1 Nd2Nz stand-in: each source row is cut into column slabs of `slab_bytes` (the last
  // may be narrower and leaves the rest of its row unwritten); slab j starts at j * slab_stride
  // and holds its rows `slab_bytes` apart. 0: a plain copy, rows dst_stride apart.
  uint32_t slab_bytes = 0;
  uint64_t slab_stride = 0;
  // LoadDataWithTranspose: an ND [transpose_rows, transpose_cols] matrix written as its
  // transpose (0 rows: a fractal LoadData as above).
  uint32_t transpose_rows = 0, transpose_cols = 0;
  int16_t peer = -1, self_rank = 0;  // remote_to_ub: the chip read from, the chip reading
};

// Vector instructions: `count` elements of op; with rows > 0, the row-block form: `rows`
// repeats of count / rows elements, each operand's rows `*_pitch` elements apart (0: the same
// row every repeat, a broadcast operand).
struct VectorFields {
  VecOp op = VecOp::kAdd;
  RoundMode round = RoundMode::kRint;  // kCast
  CmpMode cmp = CmpMode::kLt;          // kCompare
  bool src0_block = false;             // repeat form: src0's row is one 32 B block, reused
  uint32_t count = 0;
  uint32_t rows = 0, dst_pitch = 0, src0_pitch = 0, src1_pitch = 0;
  double scalar = 0;  // the scalar operand (Adds, Duplicate, Axpy; the group of kGroupSum/Max)
  // Bytes it reads at each source and writes at dst (the V pipe's read-after-write check).
  uint64_t src_bytes = 0, dst_bytes = 0;
};

// Cube instructions: Mmad m x k x n (accumulating into L0C or overwriting it); Fixpipe m x n,
// its rows `src_stride` / `dst_stride` elements apart in L0C / at the destination.
struct CubeFields {
  uint32_t m = 0, k = 0, n = 0;
  bool accumulate = false;
  FixQuant quant = FixQuant::kNone;
  double deq_scale = 0;  // Fixpipe kDeqF16 / kDeqBf16: the dequantisation scale
  uint32_t src_stride = 0, dst_stride = 0;
};

// The fields every instruction has, then one group per kind; a kind reads only its own group.
struct Instr {
  Opcode op = Opcode::kVector;
  Pipe pipe = Pipe::kV;
  DType dtype = DType::kFloat32;  // source element type
  DType dtype_out = DType::kFloat32;
  MtePath path = MtePath::kGmToUb;
  uint64_t issue_cycle = 0;
  uint32_t scalar_seq = 0;  // the scalar's access count when it issued this (race checks)
  BufferRef dst, src0, src1, src2;
  uint64_t bytes = 0;  // bytes the instruction moves or reads (timing)
  SyncFields sync;     // kSetFlag, kWaitFlag, kCrossCoreSet
  CopyFields copy;     // kCopy, kLoad2D
  VectorFields vec;    // kVector
  CubeFields cube;     // kMmad, kFixpipe
};

}  // namespace npusim
