// Host side of `chunk_gated_delta_rule` (kernels.md §3.2): the chunk table of a varlen batch
// (chunks of 64 or 128 tokens that never cross a request), and the dimensions every stage shares.
//
// The op runs as the production NPU path does, one launch per stage:
//   1 cumsum (AIV)      G = chunk-local cumsum of g                              -> G      fp32
//   2 kkt (AIC)         K^ K^T per chunk and value head (of its key head)        -> kkt    fp32
//   3 prepare (AIV)     A = beta (K^K^T) exp(G_t - G_s), T = (I + A)^-1 (forward
//                       substitution), Kb = K^ beta exp(G), Vb = V beta          -> T, Kb, Vb bf16
//   4 wy_fast (AIC)     W = T Kb, U = T Vb                                       -> W, U   bf16
//   5 chunk_h (AIC+AIV) per request and value head, chunk by chunk: h_n = S (bf16),
//                       V_new = U - W h_n, S = exp(G_last) S + K^T (exp(G_last - G) V_new)
//   6 chunk_o qk (AIC)  Q^ K^T and Q^ h_n                                        -> fp32
//   7 mask (AIV)        P = (Q^K^T) exp(G_t - G_s) on t >= s                     -> P      bf16
//   8 pv (AIC)          P V_new                                                  -> fp32
//   9 output (AIV)      O = scale (exp(G) Q^h_n + P V_new)                       -> O      bf16
// Every AIC -> AIV hand-off goes through GM: between launches, and inside chunk_h through
// workspaces and CrossCoreSetFlag.
// Four stages have a second form, the production Triton kernel's (sgl-kernel-npu fla/, read for
// structure; calibration.md C1's Triton column), each a mixed launch paying Triton-Ascend's
// launch and per-program costs: kkt=triton (a program per chunk over the value heads, A gated
// there, so stage 3 only solves), wy_fast=triton (a program per chunk over the value heads, K
// and V scaled there, so stage 3 does not), chunk_h=triton (the state in two V halves, a round of
// hand-offs each) and chunk_o=triton (stages 6-9 as one launch of a program per request and value
// head). cumsum and solve_tril have no Triton form here.
#pragma once

#include <cstdint>
#include <vector>

#include "model/dtype.h"

namespace npusim::chunk_gdr {

// Tokens per chunk (the kernels' BT): 64, the production AscendC and Triton default, or 128
// (`chunk=128`: sgl-kernel-npu's Triton stages at BT = 128, calibration rows C1x-*-triton128).
constexpr int64_t kChunk = 64, kMaxChunk = 128;

struct Chunk {
  int64_t req = 0, start = 0, len = 0;
};

struct Dims {
  int64_t T = 0, B = 0, H = 0, HV = 0, K = 0, V = 0;
  int64_t C = kChunk;  // tokens per chunk: kChunk or kMaxChunk
  bool vk = false;     // the kernel holds states as [V, K] (pool layout vk, or the S3 fault on kv)
  DType ssm = DType::kFloat32;
  float scale = 1.0f;
  bool triton_h = false;       // chunk_h in its Triton form (KernelChunkH)
  bool triton_o = false;       // stages 6-9 as the Triton chunk_o kernel (KernelChunkOTriton)
  bool triton_kkt = false;     // stage 2 as the Triton kkt kernel, A gated there (KernelKktTriton)
  bool triton_wy = false;      // stage 4 as the Triton wy_fast kernel (KernelWyFastTriton)
  int64_t program_cycles = 0;  // Triton program prologue (device triton.program_cycles)
  std::vector<Chunk> chunks;
  std::vector<int64_t> first_chunk, chunk_count;  // per request
  std::vector<int64_t> slots;                     // pool slot per request
  std::vector<bool> has_initial;
  int64_t NC() const { return static_cast<int64_t>(chunks.size()); }
};

// Chunks of `d.C` tokens per request, the last one partial; zero-length requests have none.
void BuildChunks(const std::vector<int64_t>& seq_lens, Dims& d);

}  // namespace npusim::chunk_gdr
