#include "devices/instr.h"

namespace npusim {

const char* PipeName(Pipe p) {
  static const char* kNames[] = {"S", "V", "M", "MTE1", "MTE2", "MTE3", "FIX"};
  return kNames[static_cast<int>(p)];
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

VecClass ClassOf(VecOp op) {
  switch (op) {
    case VecOp::kAdd:
    case VecOp::kSub:
    case VecOp::kMul:
    case VecOp::kMax:
    case VecOp::kMin:
    case VecOp::kCompare:
    case VecOp::kSelect:
    case VecOp::kAxpy:
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
                                 "UnpackInt4"};
  return kNames[static_cast<int>(op)];
}

}  // namespace npusim
