// Functional effect of one instruction on real bytes, applied when the instruction completes.
// Values are computed in double and rounded once to the destination type with the
// instruction's rounding mode; Mmad accumulates in fp32 (rounding after every step) or exactly
// in int32, as L0C does. L0A/L0B/L0C hold row-major (ND) matrices: the fractal (zZ/nZ)
// layouts of the real buffers are not modelled.
#pragma once

#include "devices/instr.h"

namespace npusim {

void Execute(const Instr& in);

}  // namespace npusim
