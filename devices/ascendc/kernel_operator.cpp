#include "devices/ascendc/kernel_operator.h"

#include "model/error.h"

namespace npusim::ascendc {

namespace {

const char* PosName(TPosition p) {
  static const char* kNames[] = {"GM", "VECIN", "VECOUT", "VECCALC", "A1",
                                 "B1", "A2",    "B2",     "CO1",     "CO2"};
  return kNames[static_cast<int>(p)];
}

Mem MemOf(TPosition p) {
  switch (p) {
    case TPosition::VECIN:
    case TPosition::VECOUT:
    case TPosition::VECCALC:
      return Mem::kUb;
    case TPosition::A1:
    case TPosition::B1:
      return Mem::kL1;
    case TPosition::A2:
      return Mem::kL0A;
    case TPosition::B2:
      return Mem::kL0B;
    case TPosition::CO1:
      return Mem::kL0C;
    default:
      return Mem::kGm;
  }
}
// The pipe that writes data into a position, and the pipe that reads it out.
Pipe ProducerOf(TPosition p) {
  switch (p) {
    case TPosition::VECIN:
    case TPosition::A1:
    case TPosition::B1:
      return Pipe::kMte2;
    case TPosition::A2:
    case TPosition::B2:
      return Pipe::kMte1;
    case TPosition::CO1:
      return Pipe::kM;
    default:
      return Pipe::kV;
  }
}
Pipe ConsumerOf(TPosition p) {
  switch (p) {
    case TPosition::VECOUT:
      return Pipe::kMte3;
    case TPosition::A1:
    case TPosition::B1:
      return Pipe::kMte1;
    case TPosition::A2:
    case TPosition::B2:
      return Pipe::kM;
    case TPosition::CO1:
      return Pipe::kFix;
    default:
      return Pipe::kV;
  }
}

std::string Hex(uint64_t v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
  return buf;
}

// The checks below run for every operand of every instruction: the test inline, the message
// out of line.
[[noreturn]] __attribute__((noinline)) void Misaligned(const LocalView& v, uint64_t align,
                                                       const char* api) {
  throw SimFailure("misaligned", CurrentCore().name() + ": " + api + ": " + MemName(v.mem) +
                                     " address " + Hex(v.addr) + " is not " +
                                     std::to_string(align) + " B aligned");
}

inline void CheckAligned(const LocalView& v, const char* api) {
  const uint64_t align = CurrentCore().Alignment(v.mem);
  // Alignments are powers of two on every A2/A3 buffer: a mask, not a 64-bit division.
  const uint64_t rest = (align & (align - 1)) == 0 ? v.addr & (align - 1) : v.addr % align;
  if (rest) Misaligned(v, align, api);
}

[[noreturn]] __attribute__((noinline)) void BeyondExtent(const LocalView& v, uint64_t bytes,
                                                         const char* api) {
  throw SimFailure("out_of_bounds", CurrentCore().name() + ": " + api + " touches " +
                                        std::to_string(bytes) + " B of " + MemName(v.mem) + " at " +
                                        Hex(v.addr) + " but the tensor's buffer has only " +
                                        std::to_string(v.bytes) + " B left");
}

inline void CheckLocalExtent(const LocalView& v, uint64_t bytes, const char* api) {
  if (bytes > v.bytes) BeyondExtent(v, bytes, api);
}

[[noreturn]] __attribute__((noinline)) void WrongMem(const LocalView& v, Mem m, const char* api,
                                                     const char* role) {
  throw SimFailure("invalid_instruction", CurrentCore().name() + ": " + api + ": " + role +
                                              " must be in " + MemName(m) + ", got " +
                                              MemName(v.mem));
}

inline void RequireMem(const LocalView& v, Mem m, const char* api, const char* role) {
  if (v.mem != m) WrongMem(v, m, api, role);
}

uint64_t Round32(uint64_t b) { return (b + 31) / 32 * 32; }

}  // namespace

namespace detail {

void CheckGmRange(const GmBuffer* b, uint64_t offset, uint64_t bytes, const char* what) {
  if (!b)
    throw SimFailure("out_of_bounds",
                     CurrentCore().name() + ": " + what + " on a GlobalTensor without a buffer");
  if (offset + bytes > b->bytes)
    throw SimFailure("out_of_bounds", CurrentCore().name() + ": " + what + " reads/writes GM [" +
                                          Hex(b->addr + offset) + ", " +
                                          Hex(b->addr + offset + bytes) + ") beyond tensor '" +
                                          b->name + "' [" + Hex(b->addr) + ", " +
                                          Hex(b->addr + b->bytes) + ")");
}

uint8_t* GmScalarPtr(const GmBuffer* b, uint64_t offset, uint64_t bytes, bool write) {
  CheckGmRange(b, offset, bytes, write ? "SetValue" : "GetValue");
  if (!b->data)
    throw std::logic_error("scalar access to GM tensor '" + b->name +
                           "', which is not materialised in timing-only mode");
  CurrentCore().ScalarGmAccess(b->addr + offset);
  return b->data + offset;
}

uint8_t* LocalScalarPtr(const LocalView& v, uint64_t offset, uint64_t bytes, bool write) {
  CoreRuntime& core = CurrentCore();
  LocalView at = v;
  at.addr += offset;
  at.bytes = offset > v.bytes ? 0 : v.bytes - offset;
  CheckLocalExtent(at, bytes, write ? "SetValue" : "GetValue");
  core.ScalarAccess(v.region, write, write ? "SetValue" : "GetValue");
  core.ScalarCycles(1);
  // Timing-only mode has no bytes: scalar reads see zeros (control flow must not depend on them).
  static thread_local uint8_t scratch[64];
  return v.base ? v.base + at.addr : scratch;
}

void CopyGmToLocal(const LocalView& dst, const GmBuffer* src, uint64_t src_off, uint32_t blocks,
                   uint32_t block_bytes, uint64_t src_stride, uint64_t dst_stride,
                   uint32_t dst_block_bytes, bool pad, DType dt, double pad_value,
                   const char* api) {
  CoreRuntime& core = CurrentCore();
  Instr in;
  in.op = Opcode::kCopy;
  in.pipe = Pipe::kMte2;
  switch (dst.mem) {
    case Mem::kUb:
      in.path = MtePath::kGmToUb;
      break;
    case Mem::kL1:
      in.path = MtePath::kGmToL1;
      break;
    case Mem::kL0A:
      in.path = MtePath::kGmToL0A;
      break;
    case Mem::kL0B:
      in.path = MtePath::kGmToL0B;
      break;
    default:
      throw SimFailure("invalid_instruction",
                       core.name() + ": " + api + ": no GM -> " + MemName(dst.mem) + " path");
  }
  if (blocks == 0) return;
  if (src->rank_bytes) {  // a cluster tensor: another rank's slice comes over the link
    const uint64_t peer = src_off / src->rank_bytes,
                   last = (src_off + (blocks - 1) * src_stride + block_bytes - 1) / src->rank_bytes;
    if (peer != last)
      throw SimFailure("out_of_bounds", core.name() + ": " + api + " of '" + src->name +
                                            "' spans ranks " + std::to_string(peer) + " and " +
                                            std::to_string(last) +
                                            "; copy from one rank's slice at a time");
    if (static_cast<int>(peer) != src->self_rank) {
      if (dst.mem != Mem::kUb)
        throw SimFailure("invalid_instruction",
                         core.name() + ": " + api + ": another chip's HBM is read into UB only");
      in.path = MtePath::kRemoteToUb;
      in.copy.peer = static_cast<int16_t>(peer);
      in.copy.self_rank = static_cast<int16_t>(src->self_rank);
    }
  }
  CheckAligned(dst, api);
  if (dst.mem != Mem::kL0A && dst.mem != Mem::kL0B && dst_block_bytes % 32)
    throw SimFailure("misaligned",
                     core.name() + ": " + api + " moves " + std::to_string(block_bytes) +
                         " B per block, not a whole number of 32 B DataBlocks; use DataCopyPad");
  CheckLocalExtent(dst, (blocks - 1) * dst_stride + dst_block_bytes, api);
  CheckGmRange(src, src_off, (blocks - 1) * src_stride + block_bytes, api);
  in.dst = dst.Ref();
  in.src0 = {Mem::kGm, src->data ? src->data + src_off : nullptr, src->addr + src_off, -1};
  in.copy.blocks = blocks;
  in.copy.block_bytes = block_bytes;
  in.copy.src_stride = src_stride;
  in.copy.dst_stride = dst_stride;
  in.copy.dst_block_bytes = dst_block_bytes;
  in.copy.pad = pad;
  in.dtype = dt;
  in.copy.pad_value = pad_value;
  in.bytes = static_cast<uint64_t>(blocks) * Round32(block_bytes);
  core.Issue(in);
}

void CopyGmToL1Nd2Nz(const LocalView& dst, const GmBuffer* src, uint64_t src_off, uint32_t rows,
                     uint32_t row_bytes, uint64_t src_stride, uint32_t slab_bytes,
                     uint64_t slab_stride, DType dt) {
  CoreRuntime& core = CurrentCore();
  RequireMem(dst, Mem::kL1, "DataCopy(Nd2Nz)", "destination");
  if (rows == 0 || row_bytes == 0) return;
  if (slab_bytes == 0 || slab_bytes % 32 || slab_stride % 32)
    throw SimFailure("misaligned", core.name() + ": DataCopy(Nd2Nz): a column block of " +
                                       std::to_string(slab_bytes) + " B every " +
                                       std::to_string(slab_stride) + " B is not 32 B aligned");
  const uint32_t slabs = (row_bytes + slab_bytes - 1) / slab_bytes;
  if (uint64_t{rows} * slab_bytes > slab_stride && slabs > 1)
    throw SimFailure("out_of_bounds", core.name() + ": DataCopy(Nd2Nz): " + std::to_string(rows) +
                                          " rows of a " + std::to_string(slab_bytes) +
                                          " B column block overrun the next block " +
                                          std::to_string(slab_stride) + " B on");
  CheckAligned(dst, "DataCopy(Nd2Nz)");
  CheckLocalExtent(dst, (slabs - 1) * slab_stride + uint64_t{rows} * slab_bytes, "DataCopy(Nd2Nz)");
  CheckGmRange(src, src_off, (rows - 1) * src_stride + row_bytes, "DataCopy(Nd2Nz)");
  Instr in;
  in.op = Opcode::kCopy;
  in.pipe = Pipe::kMte2;
  in.path = MtePath::kGmToL1;
  in.dst = dst.Ref();
  in.src0 = {Mem::kGm, src->data ? src->data + src_off : nullptr, src->addr + src_off, -1};
  in.copy.blocks = rows;
  in.copy.block_bytes = row_bytes;
  in.copy.src_stride = src_stride;
  in.copy.slab_bytes = slab_bytes;
  in.copy.slab_stride = slab_stride;
  in.dtype = dt;
  in.bytes = uint64_t{rows} * Round32(row_bytes);
  core.Issue(in);
}

void CopyLocalToGm(const GmBuffer* dst, uint64_t dst_off, const LocalView& src, uint32_t blocks,
                   uint32_t block_bytes, uint64_t src_stride, uint64_t dst_stride,
                   const char* api) {
  CoreRuntime& core = CurrentCore();
  RequireMem(src, Mem::kUb, api, "the source of a copy to GM");
  if (blocks == 0) return;
  CheckAligned(src, api);
  if (std::string(api) == "DataCopy" && block_bytes % 32)
    throw SimFailure("misaligned",
                     core.name() + ": DataCopy moves " + std::to_string(block_bytes) +
                         " B per block, not a whole number of 32 B DataBlocks; use DataCopyPad");
  CheckLocalExtent(src, (blocks - 1) * src_stride + block_bytes, api);
  CheckGmRange(dst, dst_off, (blocks - 1) * dst_stride + block_bytes, api);
  if (dst->rank_bytes &&
      (dst_off / dst->rank_bytes != static_cast<uint64_t>(dst->self_rank) ||
       (dst_off + (blocks - 1) * dst_stride + block_bytes - 1) / dst->rank_bytes !=
           static_cast<uint64_t>(dst->self_rank)))
    throw SimFailure("out_of_bounds", core.name() + ": " + api + " writes '" + dst->name +
                                          "' outside rank " + std::to_string(dst->self_rank) +
                                          "'s slice (a rank writes its own HBM only)");
  Instr in;
  in.op = Opcode::kCopy;
  in.pipe = Pipe::kMte3;
  in.path = MtePath::kUbToGm;
  in.dst = {Mem::kGm, dst->data ? dst->data + dst_off : nullptr, dst->addr + dst_off, -1};
  in.src0 = src.Ref();
  in.copy.blocks = blocks;
  in.copy.block_bytes = block_bytes;
  in.copy.src_stride = src_stride;
  in.copy.dst_stride = dst_stride;
  in.bytes = static_cast<uint64_t>(blocks) * Round32(block_bytes);
  core.Issue(in);
}

void CopyLocalToLocal(const LocalView& dst, const LocalView& src, uint64_t bytes) {
  CoreRuntime& core = CurrentCore();
  RequireMem(dst, Mem::kUb, "DataCopy", "destination");
  RequireMem(src, Mem::kUb, "DataCopy", "source");
  CheckAligned(dst, "DataCopy");
  CheckAligned(src, "DataCopy");
  if (bytes % 32)
    throw SimFailure("misaligned", core.name() + ": UB->UB DataCopy of " + std::to_string(bytes) +
                                       " B is not a multiple of 32 B");
  CheckLocalExtent(dst, bytes, "DataCopy");
  CheckLocalExtent(src, bytes, "DataCopy");
  Instr in;
  in.op = Opcode::kCopy;
  in.pipe = Pipe::kV;
  in.path = MtePath::kUbToUb;
  in.dst = dst.Ref();
  in.src0 = src.Ref();
  in.copy.blocks = 1;
  in.copy.block_bytes = static_cast<uint32_t>(bytes);
  in.copy.src_stride = in.copy.dst_stride = bytes;
  in.bytes = bytes;
  core.Issue(in);
}

void Vector(VecOp op, DType dt, const LocalView& dst, const LocalView* a, const LocalView* b,
            uint32_t count, double scalar, DType dt_out, RoundMode rm, CmpMode cmp,
            const LocalView* c) {
  CoreRuntime& core = CurrentCore();
  const char* api = VecOpName(op);
  uint64_t in_bytes = static_cast<uint64_t>(count) * SizeOf(dt);
  uint64_t dst_bytes = in_bytes;
  if (op == VecOp::kUnpackInt4) {
    if (count % 2)
      throw SimFailure("invalid_instruction", CurrentCore().name() + ": UnpackInt4 of " +
                                                  std::to_string(count) +
                                                  " elements: int4 values come in byte pairs");
    in_bytes = count / 2;
    dst_bytes = count;
  }
  if (op == VecOp::kCast) dst_bytes = static_cast<uint64_t>(count) * SizeOf(dt_out);
  if (op == VecOp::kCompare) dst_bytes = (count + 7) / 8;
  if (op == VecOp::kReduceSum || op == VecOp::kReduceMax)
    dst_bytes = SizeOf(dt) * (op == VecOp::kReduceMax && scalar != 0 ? 2 : 1);
  if (op == VecOp::kBrcb) dst_bytes = 32ull * count;  // a 32 B block per source element
  if (op == VecOp::kGroupSum || op == VecOp::kGroupMax) {
    if (scalar < 1 || count % static_cast<uint32_t>(scalar))
      throw SimFailure("invalid_instruction", CurrentCore().name() + ": " + api + " of " +
                                                  std::to_string(count) +
                                                  " elements is not a whole number of groups of " +
                                                  std::to_string(static_cast<int64_t>(scalar)));
    dst_bytes = count / static_cast<uint32_t>(scalar) * SizeOf(dt);
  }
  RequireMem(dst, Mem::kUb, api, "destination");
  CheckAligned(dst, api);
  CheckLocalExtent(dst, dst_bytes, api);
  const LocalView* srcs[3] = {a, b, c};
  for (int i = 0; i < 3; ++i) {
    if (!srcs[i]) continue;
    RequireMem(*srcs[i], Mem::kUb, api, "source");
    CheckAligned(*srcs[i], api);
    uint64_t need = (op == VecOp::kSelect && i == 0) ? (count + 7) / 8 : in_bytes;
    if (!((op == VecOp::kReduceSum || op == VecOp::kReduceMax) && i == 1))
      CheckLocalExtent(*srcs[i], need, api);
  }
  Instr in;
  in.op = Opcode::kVector;
  in.pipe = Pipe::kV;
  in.vec.op = op;
  in.dtype = dt;
  in.dtype_out = (op == VecOp::kCast || op == VecOp::kUnpackInt4) ? dt_out : dt;
  in.vec.round = rm;
  in.vec.cmp = cmp;
  in.dst = dst.Ref();
  if (a) in.src0 = a->Ref();
  if (b) in.src1 = b->Ref();
  if (c) in.src2 = c->Ref();
  in.vec.count = count;
  in.vec.scalar = scalar;
  // UnpackInt4 costs the two casts it stands for: int4 -> half reads the packed bytes and
  // writes count halves, half -> int8 reads them again (the cast rate is per input byte).
  // Brcb's work is the blocks it writes.
  in.bytes = op == VecOp::kUnpackInt4 ? in_bytes + 2ull * count
             : op == VecOp::kBrcb     ? dst_bytes
                                      : in_bytes;
  in.vec.src_bytes = in_bytes;
  in.vec.dst_bytes = dst_bytes;
  core.Issue(in);
}

void VectorRows(VecOp op, DType dt, DType dt_out, RoundMode rm, const LocalView& dst,
                const LocalView& a, const LocalView* b, const RowBlock& rb) {
  CoreRuntime& core = CurrentCore();
  const char* api = VecOpName(op);
  auto fail = [&](const std::string& why) {
    throw SimFailure("invalid_instruction", core.name() + ": " + api + " (repeat form): " + why);
  };
  if (rb.rows == 0 || rb.cols == 0) return;
  const uint64_t in_sz = SizeOf(dt), out_sz = op == VecOp::kCast ? SizeOf(dt_out) : in_sz;
  if (rb.rows > 255) fail(std::to_string(rb.rows) + " repeats (at most 255)");
  if (rb.cols * std::max(in_sz, out_sz) > 256)
    fail("a row of " + std::to_string(rb.cols) + " elements is more than one 256 B repeat");
  auto span = [&](uint32_t pitch, uint64_t sz, const char* which) {
    if (pitch * sz % 32)
      fail(std::string(which) + " rows " + std::to_string(pitch) +
           " elements apart do not start on 32 B blocks");
    return (static_cast<uint64_t>(rb.rows - 1) * pitch + rb.cols) * sz;
  };
  // An operand in UB, aligned, its rows within its allocation: the bytes from its first to its
  // last.
  auto operand = [&](const LocalView& v, uint32_t pitch, uint64_t sz, const char* which) {
    RequireMem(v, Mem::kUb, api, which);
    CheckAligned(v, api);
    const uint64_t bytes = span(pitch, sz, which);
    CheckLocalExtent(v, bytes, api);
    return bytes;
  };
  const uint64_t dst_span = operand(dst, rb.dst_pitch, out_sz, "destination");
  uint64_t src_span = 0;
  if (rb.src0_block) {  // one 32 B block a row, read for every block of the row
    if (rb.cols * in_sz % 32) fail("a row of a block-reused source must be whole 32 B blocks");
    RequireMem(a, Mem::kUb, api, "source");
    CheckAligned(a, api);
    if (rb.src0_pitch * in_sz % 32) fail("source rows do not start on 32 B blocks");
    src_span = static_cast<uint64_t>(rb.rows - 1) * rb.src0_pitch * in_sz + 32;
    CheckLocalExtent(a, src_span, api);
  } else {
    src_span = operand(a, rb.src0_pitch, in_sz, "source");
  }
  if (b)
    src_span = std::max(src_span,
                        operand(*b, rb.src1_pitch, in_sz,
                                "source"));  // the read-after-write check covers the wider source
  Instr in;
  in.op = Opcode::kVector;
  in.pipe = Pipe::kV;
  in.vec.op = op;
  in.dtype = dt;
  in.dtype_out = op == VecOp::kCast ? dt_out : dt;
  in.vec.round = rm;
  in.dst = dst.Ref();
  in.src0 = a.Ref();
  if (b) in.src1 = b->Ref();
  in.vec.count = rb.rows * rb.cols;
  in.vec.rows = rb.rows;
  in.vec.dst_pitch = rb.dst_pitch;
  in.vec.src0_pitch = rb.src0_pitch;
  in.vec.src1_pitch = rb.src1_pitch;
  in.vec.src0_block = rb.src0_block;
  in.bytes = static_cast<uint64_t>(rb.rows) * 256;  // whole repeats, masked lanes included
  in.vec.src_bytes = src_span;
  in.vec.dst_bytes = dst_span;
  core.Issue(in);
}

namespace {
void CheckLoad2DOperands(const LocalView& dst, const LocalView& src) {
  RequireMem(src, Mem::kL1, "LoadData", "source");
  if (dst.mem != Mem::kL0A && dst.mem != Mem::kL0B)
    throw SimFailure("invalid_instruction", CurrentCore().name() +
                                                ": LoadData: destination must be L0A or L0B, got " +
                                                MemName(dst.mem));
}
// One MTE1 instruction moving `blocks` blocks of `block_bytes`, `src_pitch` / `dst_pitch` bytes
// apart, L1 -> L0A/L0B (each 512 B block a transposed 16 x 16 fractal when `transpose`).
void IssueLoad2D(const LocalView& dst, const LocalView& src, uint32_t blocks, uint64_t block_bytes,
                 uint64_t src_pitch, uint64_t dst_pitch, bool transpose) {
  CheckLocalExtent(src, (blocks - 1) * src_pitch + block_bytes, "LoadData");
  CheckLocalExtent(dst, (blocks - 1) * dst_pitch + block_bytes, "LoadData");
  Instr in;
  in.op = Opcode::kLoad2D;
  in.pipe = Pipe::kMte1;
  in.path = dst.mem == Mem::kL0A ? MtePath::kL1ToL0A : MtePath::kL1ToL0B;
  in.dst = dst.Ref();
  in.src0 = src.Ref();
  in.copy.blocks = blocks;
  in.copy.block_bytes = block_bytes;
  in.copy.src_stride = src_pitch;
  in.copy.dst_stride = dst_pitch;
  in.copy.transpose = transpose;
  in.bytes = blocks * block_bytes;
  CurrentCore().Issue(in);
}
}  // namespace

void LoadData2D(const LocalView& dst, const LocalView& src, uint32_t repeat, uint32_t src_stride,
                uint32_t dst_gap, bool transpose) {
  CheckLoad2DOperands(dst, src);
  CheckAligned(dst, "LoadData");
  CheckAligned(src, "LoadData");
  if (repeat == 0) return;
  IssueLoad2D(dst, src, repeat, 512, static_cast<uint64_t>(src_stride) * 512,
              (1 + static_cast<uint64_t>(dst_gap)) * 512, transpose);
}

// An L1 sub-matrix into L0A/L0B at its place (PTO's TEXTRACT of a tile at (row, col), here on
// row-major tiles): `rows` rows of `row_bytes`, one MTE1 instruction.
void LoadData2DRows(const LocalView& dst, const LocalView& src, uint32_t rows, uint32_t row_bytes,
                    uint32_t src_pitch, uint32_t dst_pitch) {
  CheckLoad2DOperands(dst, src);
  if (rows == 0) return;
  IssueLoad2D(dst, src, rows, row_bytes, src_pitch, dst_pitch, false);
}

void LoadData2DTranspose(const LocalView& dst, const LocalView& src, DType dt, uint32_t rows,
                         uint32_t cols) {
  CoreRuntime& core = CurrentCore();
  RequireMem(src, Mem::kL1, "LoadDataWithTranspose", "source");
  if (dst.mem != Mem::kL0A && dst.mem != Mem::kL0B)
    throw SimFailure("invalid_instruction",
                     core.name() + ": LoadDataWithTranspose: destination must be L0A or L0B, got " +
                         MemName(dst.mem));
  CheckAligned(dst, "LoadDataWithTranspose");
  CheckAligned(src, "LoadDataWithTranspose");
  const uint64_t bytes = static_cast<uint64_t>(rows) * cols * SizeOf(dt);
  if (bytes == 0) return;
  CheckLocalExtent(src, bytes, "LoadDataWithTranspose");
  CheckLocalExtent(dst, bytes, "LoadDataWithTranspose");
  Instr in;
  in.op = Opcode::kLoad2D;
  in.pipe = Pipe::kMte1;
  in.path = dst.mem == Mem::kL0A ? MtePath::kL1ToL0A : MtePath::kL1ToL0B;
  in.dtype = dt;
  in.dst = dst.Ref();
  in.src0 = src.Ref();
  in.copy.transpose_rows = rows;
  in.copy.transpose_cols = cols;
  in.bytes = bytes;
  core.Issue(in);
}

void Mmad(const LocalView& c, const LocalView& a, const LocalView& b, DType in_t, DType out_t,
          uint32_t m, uint32_t k, uint32_t n, bool init) {
  CoreRuntime& core = CurrentCore();
  RequireMem(c, Mem::kL0C, "Mmad", "C");
  RequireMem(a, Mem::kL0A, "Mmad", "A");
  RequireMem(b, Mem::kL0B, "Mmad", "B");
  bool ok = ((in_t == DType::kFloat16 || in_t == DType::kBFloat16 || in_t == DType::kFloat32) &&
             out_t == DType::kFloat32) ||
            (in_t == DType::kInt8 && out_t == DType::kInt32);
  if (!ok)
    throw SimFailure("invalid_instruction",
                     core.name() + ": Mmad " + std::string(Name(in_t)) + " -> " +
                         std::string(Name(out_t)) +
                         " is not supported (fp16/bf16/fp32 -> fp32, int8 -> int32)");
  CheckLocalExtent(a, static_cast<uint64_t>(m) * k * SizeOf(in_t), "Mmad");
  CheckLocalExtent(b, static_cast<uint64_t>(k) * n * SizeOf(in_t), "Mmad");
  CheckLocalExtent(c, static_cast<uint64_t>(m) * n * 4, "Mmad");
  Instr in;
  in.op = Opcode::kMmad;
  in.pipe = Pipe::kM;
  in.dtype = in_t;
  in.dtype_out = out_t;
  in.dst = c.Ref();
  in.src0 = a.Ref();
  in.src1 = b.Ref();
  in.cube.m = m;
  in.cube.k = k;
  in.cube.n = n;
  in.cube.accumulate = !init;
  in.bytes = (static_cast<uint64_t>(m) * k + static_cast<uint64_t>(k) * n) * SizeOf(in_t);
  core.Issue(in);
}

namespace {
// The FIX-pipe instruction moving m x n accumulator elements (rows `src_stride` apart) to rows
// `dst_stride` apart, converted to `out`; the caller sets the destination and the path.
Instr FixpipeInstr(DType out, const LocalView& src, DType acc, uint32_t m, uint32_t n,
                   uint32_t src_stride, uint32_t dst_stride) {
  CheckLocalExtent(src, (static_cast<uint64_t>(m - 1) * src_stride + n) * 4, "Fixpipe");
  Instr in;
  in.op = Opcode::kFixpipe;
  in.pipe = Pipe::kFix;
  in.dtype = acc;
  in.dtype_out = out;
  in.src0 = src.Ref();
  in.cube.m = m;
  in.cube.n = n;
  in.cube.src_stride = src_stride;
  in.cube.dst_stride = dst_stride;
  in.bytes = static_cast<uint64_t>(m) * n * SizeOf(out);
  return in;
}
}  // namespace

void Fixpipe(const GmBuffer* dst, uint64_t dst_off, DType out, const LocalView& src, DType acc,
             uint32_t m, uint32_t n, uint32_t src_stride, uint32_t dst_stride, FixQuant quant,
             double scale) {
  RequireMem(src, Mem::kL0C, "Fixpipe", "source");
  if (m == 0 || n == 0) return;
  Instr in = FixpipeInstr(out, src, acc, m, n, src_stride, dst_stride);
  CheckGmRange(dst, dst_off, (static_cast<uint64_t>(m - 1) * dst_stride + n) * SizeOf(out),
               "Fixpipe");
  in.path = MtePath::kL0cToGm;
  in.cube.quant = quant;
  in.cube.deq_scale = scale;
  in.dst = {Mem::kGm, dst->data ? dst->data + dst_off : nullptr, dst->addr + dst_off, -1};
  CurrentCore().Issue(in);
}

// FixPipe to L1 (the accumulator written back as a cube operand, fp32 -> the L1 tile's dtype): the
// same FIX-pipe instruction as to GM, over the L0C -> L1 path, never touching GM.
void FixpipeToL1(const LocalView& dst, DType out, const LocalView& src, DType acc, uint32_t m,
                 uint32_t n, uint32_t src_stride, uint32_t dst_stride) {
  RequireMem(src, Mem::kL0C, "Fixpipe", "source");
  RequireMem(dst, Mem::kL1, "Fixpipe", "destination");
  if (m == 0 || n == 0) return;
  Instr in = FixpipeInstr(out, src, acc, m, n, src_stride, dst_stride);
  CheckLocalExtent(dst, (static_cast<uint64_t>(m - 1) * dst_stride + n) * SizeOf(out), "Fixpipe");
  in.path = MtePath::kL0cToL1;
  in.dst = dst.Ref();
  CurrentCore().Issue(in);
}

void SetFlag(Pipe src, Pipe dst, int id) {
  CoreRuntime& core = CurrentCore();
  if (src == Pipe::kS) return core.ScalarSetFlag(dst, id);
  Instr in;
  in.op = Opcode::kSetFlag;
  in.pipe = src;
  in.sync.src = src;
  in.sync.dst = dst;
  in.sync.id = static_cast<uint8_t>(id);
  core.Issue(in);
}

void WaitFlag(Pipe src, Pipe dst, int id) {
  CoreRuntime& core = CurrentCore();
  if (dst == Pipe::kS) return core.ScalarWaitFlag(src, id);
  Instr in;
  in.op = Opcode::kWaitFlag;
  in.pipe = dst;
  in.sync.src = src;
  in.sync.dst = dst;
  in.sync.id = static_cast<uint8_t>(id);
  core.Issue(in);
}

void Barrier(Pipe p) {
  CoreRuntime& core = CurrentCore();
  if (static_cast<int>(p) == 0xFF) return core.BarrierAll();
  if (p == Pipe::kS)
    throw SimFailure("invalid_instruction", core.name() + ": PipeBarrier is not allowed on PIPE_S");
  Instr in;
  in.op = Opcode::kBarrier;
  in.pipe = p;
  core.Issue(in);
}

void CrossCoreSet(int mode, Pipe p, int id) {
  CoreRuntime& core = CurrentCore();
  if (id < 0 || id > 15)
    throw SimFailure("sync_error", core.name() + ": CrossCoreSetFlag id " + std::to_string(id) +
                                       " out of range [0, 15]");
  Instr in;
  in.op = Opcode::kCrossCoreSet;
  in.pipe = p;
  in.sync.cross_mode = static_cast<uint8_t>(mode);
  in.sync.id = static_cast<uint8_t>(id);
  core.Issue(in);
}

}  // namespace detail

// ---- queues ----
TQueBase::TQueBase(TPosition src, TPosition dst)
    : src_pos_(src),
      dst_pos_(dst),
      mem_(MemOf(src)),
      producer_(ProducerOf(src)),
      consumer_(ConsumerOf(dst)) {}

int TQueBase::SlotOf(const LocalView& v, const char* api) const {
  for (size_t i = 0; i < slots_.size(); ++i)
    if (slots_[i].view.mem == v.mem && slots_[i].view.addr == v.addr) return static_cast<int>(i);
  throw SimFailure("sync_error", CurrentCore().name() + ": " + api +
                                     " on a tensor that is not a buffer of queue " + name_);
}

LocalView TQueBase::AllocRaw() {
  if (slots_.empty())
    throw SimFailure(
        "sync_error",
        CurrentCore().name() +
            ": AllocTensor on a queue that was never given buffers (TPipe::InitBuffer)");
  Slot& s = slots_[next_alloc_];
  if (s.allocated)
    throw SimFailure("sync_error", CurrentCore().name() + ": AllocTensor on " + name_ +
                                       " while all its " + std::to_string(slots_.size()) +
                                       " buffers are in use (missing FreeTensor?)");
  if (s.free_pending) detail::WaitFlag(consumer_, producer_, s.event_id);
  s.free_pending = false;
  s.allocated = true;
  next_alloc_ = (next_alloc_ + 1) % slots_.size();
  return s.view;
}

void TQueBase::EnQueRaw(const LocalView& v) {
  int i = SlotOf(v, "EnQue");
  if (producer_ != consumer_) detail::SetFlag(producer_, consumer_, slots_[i].event_id);
  queued_.push_back(i);
}

LocalView TQueBase::DeQueRaw() {
  if (queued_.empty())
    throw SimFailure("deadlock", CurrentCore().name() + ": DeQue on " + name_ +
                                     " with nothing enqueued: pipe " + PipeName(consumer_) +
                                     " would wait forever");
  int i = queued_.front();
  queued_.pop_front();
  if (producer_ != consumer_) detail::WaitFlag(producer_, consumer_, slots_[i].event_id);
  return slots_[i].view;
}

void TQueBase::FreeRaw(const LocalView& v) {
  int i = SlotOf(v, "FreeTensor");
  Slot& s = slots_[i];
  if (!s.allocated)
    throw SimFailure("sync_error", CurrentCore().name() + ": FreeTensor of a buffer of " + name_ +
                                       " that is not allocated");
  if (producer_ != consumer_) {
    detail::SetFlag(consumer_, producer_, s.event_id);
    s.free_pending = true;
  }
  s.allocated = false;
}

TPipe::TPipe() : core_(&CurrentCore()) {}

TPipe::~TPipe() {
  for (auto it = first_alloc_.rbegin(); it != first_alloc_.rend(); ++it)
    core_->Release(it->first, it->second);
}

int TPipe::NextEvent(Pipe src, Pipe dst) {
  int& n = next_event_[static_cast<int>(src)][static_cast<int>(dst)];
  int& back = next_event_[static_cast<int>(dst)][static_cast<int>(src)];
  int id = std::max(n, back);
  if (id >= kKernelEventId)
    throw SimFailure("sync_error", core_->name() + ": more than " + std::to_string(kKernelEventId) +
                                       " queue buffers between pipes " + PipeName(src) + " and " +
                                       PipeName(dst) +
                                       ": A2/A3 have 8 event IDs per pipe pair and ID 7 is kept "
                                       "for the kernel's own SetFlag/WaitFlag");
  n = back = id + 1;
  return id;
}

void TPipe::InitBuffer(TQueBase& que, int num, uint64_t len, const std::string& name) {
  if (num < 1)
    throw InputError("TPipe::InitBuffer: buffer count must be >= 1, got " + std::to_string(num));
  std::string pos = que.src_pos_ == que.dst_pos_
                        ? PosName(que.src_pos_)
                        : std::string(PosName(que.src_pos_)) + "->" + PosName(que.dst_pos_);
  que.name_ = (name.empty() ? "queue #" + std::to_string(queues_) : name) + " (TQue " + pos + ")";
  ++queues_;
  uint64_t align = std::max<uint64_t>(32, core_->Alignment(que.mem_));
  uint64_t each = (len + align - 1) / align * align;
  uint64_t offset = core_->Allocate(que.mem_, que.name_, each, num);
  first_alloc_.emplace_back(que.mem_, offset);
  uint8_t* base = core_->LocalBase(que.mem_);
  que.slots_.clear();
  que.queued_.clear();
  que.next_alloc_ = 0;
  for (int i = 0; i < num; ++i) {
    TQueBase::Slot s;
    s.view = {que.mem_, base, offset + i * each, each,
              core_->AddRegion(que.name_ + " buffer " + std::to_string(i))};
    s.event_id = que.producer_ != que.consumer_ ? NextEvent(que.producer_, que.consumer_) : 0;
    que.slots_.push_back(s);
  }
}

void TPipe::InitBuffer(TBufBase& buf, uint64_t len, const std::string& name) {
  Mem mem = MemOf(buf.pos_);
  std::string label = (name.empty() ? "tbuf #" + std::to_string(queues_) : name) + " (TBuf " +
                      PosName(buf.pos_) + ")";
  ++queues_;
  uint64_t align = std::max<uint64_t>(32, core_->Alignment(mem));
  uint64_t each = (len + align - 1) / align * align;
  uint64_t offset = core_->Allocate(mem, label, each, 1);
  first_alloc_.emplace_back(mem, offset);
  buf.view_ = {mem, core_->LocalBase(mem), offset, each, core_->AddRegion(label)};
}

}  // namespace npusim::ascendc
