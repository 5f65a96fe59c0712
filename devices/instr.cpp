#include "devices/instr.h"

namespace npusim {

namespace {
// In Pipe's order.
constexpr PipeSpec kPipes[kNumPipes] = {
    {Pipe::kS, "S", true, true, false, "scalar unit: address arithmetic, dispatch to the queues"},
    {Pipe::kV, "V", true, false, true, "vector unit on UB"},
    {Pipe::kM, "M", false, true, true, "cube unit: Mmad from L0A x L0B into L0C"},
    {Pipe::kMte1, "MTE1", false, true, true, "L1 to L0A / L0B"},
    {Pipe::kMte2, "MTE2", true, true, true, "GM to UB / L1 / L0A / L0B"},
    {Pipe::kMte3, "MTE3", true, true, true, "UB to GM, UB to UB, and reads of other chips' HBM"},
    {Pipe::kFix, "FIX", false, true, true, "FixPipe: L0C to GM / L1, with dtype conversion"},
};
}  // namespace

const PipeSpec& SpecOf(Pipe p) { return kPipes[static_cast<int>(p)]; }

bool PipeOn(Pipe p, CoreType t) {
  const PipeSpec& s = SpecOf(p);
  return t == CoreType::kAiv ? s.on_aiv : s.on_aic;
}

std::string PipesOf(CoreType t) {
  std::string out;
  for (const PipeSpec& s : kPipes)
    if (PipeOn(s.pipe, t)) out += (out.empty() ? "" : "/") + std::string(s.name);
  return out;
}
const char* MemName(Mem m) {
  static const char* kNames[] = {"GM", "UB", "L1", "L0A", "L0B", "L0C"};
  return kNames[static_cast<int>(m)];
}
const char* MemLowerName(Mem m) {
  static const char* kNames[] = {"gm", "ub", "l1", "l0a", "l0b", "l0c"};
  return kNames[static_cast<int>(m)];
}
const char* CoreTypeName(CoreType t) {
  static const char* kNames[] = {"aiv", "aic", "mix"};
  return kNames[static_cast<int>(t)];
}

const char* VecOpName(VecOp op) {
  static const char* kNames[] = {"Add",
                                 "Sub",
                                 "Mul",
                                 "Div",
                                 "Max",
                                 "Min",
                                 "Adds",
                                 "Muls",
                                 "Maxs",
                                 "Mins",
                                 "Abs",
                                 "Reciprocal",
                                 "Relu",
                                 "Duplicate",
                                 "Exp",
                                 "Ln",
                                 "Sqrt",
                                 "Rsqrt",
                                 "Cast",
                                 "ReduceSum",
                                 "ReduceMax",
                                 "Compare",
                                 "Select",
                                 "Axpy",
                                 "WholeReduceSum",
                                 "WholeReduceMax",
                                 "UnpackInt4",
                                 "MulAddDst",
                                 "Brcb"};
  return kNames[static_cast<int>(op)];
}

}  // namespace npusim
