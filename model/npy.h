// NumPy .npy read/write (format 1.0-3.0, little-endian, C order). Types: f4, f8, f2, i1, u1,
// i2, i4, i8; bfloat16 travels as raw '<u2' bits (NumPy has no bf16), so reading a '<u2' file
// needs the expected dtype to tell bf16 from uint16.
#pragma once

#include <string>

#include "model/tensor.h"

namespace npusim {

// Reads `path`; `expected` disambiguates '<u2' (bf16 bits). Throws InputError on malformed files.
Tensor ReadNpy(const std::string& path, const std::string& name, DType expected);
void WriteNpy(const std::string& path, const Tensor& t);

}  // namespace npusim
