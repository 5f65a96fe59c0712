#include "ops/chunk_gated_delta_rule/chunk_gdr_torch.h"

#include <algorithm>

namespace npusim::chunk_gdr {

namespace {

// Builds the list; every size in elements.
class TorchList {
 public:
  std::vector<TorchOp> ops;

  void Pointwise(const char* name, int64_t out, int64_t in, int64_t bytes = 4, int64_t row = 0,
                 int64_t stride = 0, int64_t span = 0) {
    TorchOp o;
    o.name = name;
    o.out = out;
    o.in = in;
    o.bytes = bytes;
    o.row = row;
    o.stride = stride ? stride : row;
    o.span = std::max(span, in);
    o.strided_write = row > 0 && std::string(name) == "copy_";  // a slice assignment
    ops.push_back(o);
  }
  void Bmm(int64_t batch, int64_t m, int64_t n, int64_t k, bool trans_b = false) {
    TorchOp o;
    o.kind = TorchOp::Kind::kMatmul;
    o.name = "matmul";
    o.batch = batch;
    o.m = m;
    o.n = n;
    o.k = k;
    o.trans_b = trans_b;
    ops.push_back(o);
  }
};

// F.normalize(x, dim=-1) of `rows` rows of `dim` (bf16): the norm, its clamp, the division.
void Normalize(TorchList& t, int64_t rows, int64_t dim) {
  t.Pointwise("linalg_vector_norm", rows, rows * dim, 2);
  t.Pointwise("clamp_min", rows, rows, 2);
  t.Pointwise("div", rows * dim, rows * dim + rows, 2);
}

// chunk_gated_delta_rule_native on one request: L tokens in N chunks, HV heads (q and k already
// repeated to HV), K, V.
void Native(TorchList& t, int64_t L, int64_t N, int64_t HV, int64_t K, int64_t V, bool cast) {
  const int64_t C = kChunk, Lp = N * C, P = HV * N;  // P: (head, chunk) pairs
  Normalize(t, L * HV, K);                           // use_qk_l2norm_in_kernel
  Normalize(t, L * HV, K);
  // x.transpose(1, 2).contiguous().to(float32) for q, k, v, beta, g: [1, L, HV, d] read a head
  // at a time (rows of d, HV * d apart), then the cast.
  for (int64_t dim : {K, K, V, int64_t{1}, int64_t{1}}) {
    t.Pointwise("contiguous", L * HV * dim, L * HV * dim, dim == 1 ? 4 : 2, dim, HV * dim);
    t.Pointwise("to", L * HV * dim, L * HV * dim);
  }
  for (int64_t dim : {K, K, V, int64_t{1}, int64_t{1}})
    t.Pointwise("constant_pad_nd", Lp * HV * dim, L * HV * dim);
  t.Pointwise("mul", Lp * HV * K, Lp * HV * K);              // query * scale
  t.Pointwise("mul", Lp * HV * V, Lp * HV * V + Lp * HV);    // v_beta
  t.Pointwise("mul", Lp * HV * K, Lp * HV * K + Lp * HV);    // k_beta
  t.Pointwise("ones", C * C, 0, 1);                          // the upper mask
  t.Pointwise("triu", C * C, C * C, 1);                      //
  t.Pointwise("cumsum", Lp * HV, Lp * HV);                   // g within each chunk
  t.Pointwise("sub", P * C * C, 2 * Lp * HV);                // decay mask: G_t - G_s
  t.Pointwise("tril", P * C * C, P * C * C);                 //   .tril()
  t.Pointwise("exp", P * C * C, P * C * C);                  //   .exp()
  t.Pointwise("tril", P * C * C, P * C * C);                 //   .tril()
  t.Bmm(P, C, C, K, true);                                   // k_beta @ key^T
  t.Pointwise("mul", P * C * C, 2 * P * C * C);              // * decay mask
  t.Pointwise("masked_fill", P * C * C, P * C * C + C * C);  //
  t.Pointwise("neg", P * C * C, P * C * C);                  //
  for (int64_t i = 1; i < C; ++i) {  // forward substitution, a row at a time
    t.Pointwise("clone", P * i, P * i, 4, i, C * C, P * C * C);      // row = attn[..., i, :i]
    t.Pointwise("clone", P * i * i, P * i * i, 4, i, C, P * C * C);  // sub = attn[..., :i, :i]
    t.Pointwise("mul", P * i * i, P * i * i + P * i);                // row.unsqueeze(-1) * sub
    t.Pointwise("sum", P * i, P * i * i);                            // .sum(-2)
    t.Pointwise("add", P * i, 2 * P * i);                            // row + ...
    t.Pointwise("copy_", P * i, P * i, 4, i, C * C, P * C * C);      // attn[..., i, :i] = ...
  }
  t.Pointwise("eye", C * C, 0);
  t.Pointwise("add", P * C * C, P * C * C + C * C);  // attn + I
  t.Bmm(P, C, V, C);                                 // value = attn @ v_beta
  t.Pointwise("exp", Lp * HV, Lp * HV);              // k_cumdecay = attn @ (k_beta * exp(g))
  t.Pointwise("mul", Lp * HV * K, Lp * HV * K + Lp * HV);
  t.Bmm(P, C, K, C);
  if (cast) t.Pointwise("to", HV * K * V, HV * K * V);  // initial_state.to(value)
  t.Pointwise("zeros_like", Lp * HV * V, 0);
  t.Pointwise("ones", C * C, 0, 1);  // the strict upper mask
  t.Pointwise("triu", C * C, C * C, 1);
  for (int64_t c = 0; c < N; ++c) {
    t.Bmm(HV, C, C, K, true);                        // q_i @ k_i^T
    t.Pointwise("mul", HV * C * C, 2 * HV * C * C);  // * decay_mask[:, :, i]
    t.Pointwise("masked_fill_", HV * C * C, HV * C * C + C * C);
    t.Bmm(HV, C, V, K);                              // v_prime = k_cumdecay_i @ S
    t.Pointwise("sub", HV * C * V, 2 * HV * C * V);  // v_new
    t.Pointwise("exp", HV * C, HV * C);              // attn_inter = (q_i exp(g_i)) @ S
    t.Pointwise("mul", HV * C * K, HV * C * K + HV * C);
    t.Bmm(HV, C, V, K);
    t.Bmm(HV, C, V, C);  // attn @ v_new
    t.Pointwise("add", HV * C * V, 2 * HV * C * V);
    t.Pointwise("copy_", HV * C * V, HV * C * V, 4, C * V, Lp * V, HV * Lp * V);  // o[:, :, i] =
    t.Pointwise("exp", HV, HV);  // S = S exp(g_last)
    t.Pointwise("mul", HV * K * V, HV * K * V + HV);
    t.Pointwise("sub", HV * C, HV * C + HV);  //   + (k_i exp(g_last - g_i))^T
    t.Pointwise("exp", HV * C, HV * C);
    t.Pointwise("mul", HV * C * K, HV * C * K + HV * C);
    t.Bmm(HV, K, V, C);  //     @ v_new
    t.Pointwise("add", HV * K * V, 2 * HV * K * V);
  }
  // core_attn_out[:, :, :L].transpose(1, 2).contiguous().to(bf16)
  t.Pointwise("contiguous", L * HV * V, L * HV * V, 4, V, Lp * V, HV * Lp * V);
  t.Pointwise("to", L * HV * V, L * HV * V, 2);
}

}  // namespace

std::vector<TorchOp> TorchForm(const Dims& d) {
  TorchList t;
  if (d.HV > d.H) {  // q, k .repeat_interleave(HV / H, dim=2)
    t.Pointwise("repeat_interleave", d.T * d.HV * d.K, d.T * d.H * d.K, 2);
    t.Pointwise("repeat_interleave", d.T * d.HV * d.K, d.T * d.H * d.K, 2);
  }
  const bool cast = d.ssm != DType::kFloat32;
  auto tokens = [&](int64_t b) {
    int64_t len = 0;
    for (int64_t c = 0; c < d.chunk_count[static_cast<size_t>(b)]; ++c)
      len += d.chunks[static_cast<size_t>(d.first_chunk[static_cast<size_t>(b)] + c)].len;
    return len;
  };
  const int64_t state = d.HV * d.K * d.V;
  for (int64_t b = 0; b < d.B; ++b) {
    Native(t, tokens(b), d.chunk_count[static_cast<size_t>(b)], d.HV, d.K, d.V, cast);
    t.Pointwise("copy_", state, state, cast ? 2 : 4);  // last_recurrent_state[b] = final state
  }
  for (int64_t b = 0; b < d.B; ++b)  // final_cor_attn_out[:, start:end] = core_attn_out[b]
    t.Pointwise("copy_", tokens(b) * d.HV * d.V, tokens(b) * d.HV * d.V, 2);
  return t.ops;
}

int64_t TorchOpsPerRequest(int64_t chunks, bool cast_state) {
  return 426 + 18 * chunks + (cast_state ? 1 : 0);
}

}  // namespace npusim::chunk_gdr
