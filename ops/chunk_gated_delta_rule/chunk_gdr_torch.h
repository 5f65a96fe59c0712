// `chunk_gated_delta_rule` launch=torch: the chunk algorithm as sgl-kernel-npu shipped it from
// f01adae6 to ee702ce7 (2025-12-04..22; `chunk_gated_delta_rule_npu`, which SGLang's NPU GDN
// backend called for every prefill then): PyTorch ops issued from Python, request by request,
// with a Python loop over the 63 rows of the triangular solve and another over the chunks. Each
// op is one eager launch, so the host pays for each (HostProfile::torch_op_us) and the device
// runs each as a small kernel of its own. Plain C++: the list of those ops with their sizes, in
// issue order, read off the Python code (read for structure; no code taken).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ops/chunk_gated_delta_rule/chunk_gdr_tiling.h"

namespace npusim::chunk_gdr {

struct TorchOp {
  enum class Kind { kPointwise, kMatmul };
  Kind kind = Kind::kPointwise;
  std::string name;  // the torch call: "mul", "exp", "clone", "bmm", ...
  // Pointwise (copies, casts, elementwise, fills, reductions): `out` elements written, `in`
  // elements read over all inputs, `bytes` each. A strided access (a transpose, a slice of a
  // row) moves `row` contiguous elements every `stride` elements of a tensor of `span`
  // elements (wrapping at its end); row 0: contiguous.
  int64_t out = 0, in = 0, bytes = 4, row = 0, stride = 0, span = 0;
  bool strided_write = false;  // the strided side is the write (a slice assignment), else the read
  // Matmul: `batch` fp32 products [m, k] x [k, n] (op(B) transposed when trans_b).
  int64_t batch = 0, m = 0, n = 0, k = 0;
  bool trans_b = false;
};

// Every op of one call, all requests, in issue order. The solve loop runs on the whole request's
// chunks at once (rows i of every chunk and head), the chunk loop on one chunk of every head.
std::vector<TorchOp> TorchForm(const Dims& d);

// Ops of one request of `chunks` chunks (426 + 18 x chunks, one more when the pool state is
// not fp32), and of the call around them (2 when the key heads are repeated, else 0), for tests.
int64_t TorchOpsPerRequest(int64_t chunks, bool cast_state);

}  // namespace npusim::chunk_gdr
