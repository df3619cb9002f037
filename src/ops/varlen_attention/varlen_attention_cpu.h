// The CPU kernel of varlen_attention (varlen_attention.h), float32, no libtorch: one call handles
// one sequence [b, e) and one key/value head g with all its query heads (h = g * rep + r), so
// calls for different (sequence, g) write disjoint rows and can run on different threads.
//
// Layouts (contiguous): q, o, dq [N, Hq, D]; k, v, dk, dv [N, Hkv, D]; lse [N, Hq] (the row's
// log-sum-exp of the scaled scores, saved by the forward for the backward).
// Forward per query row i: s_j = scale q_i . k_j over the allowed keys (j <= i, and i - j < window
// when window > 0), m = max s, p_j = exp(s_j - m), o_i = sum p_j v_j / sum p_j, lse_i = m + log sum p_j.
// Backward per row (recomputing p_j = exp(s_j - lse_i), delta_i = do_i . o_i):
//   dv_j += p_j do_i,  ds_j = p_j (do_i . v_j - delta_i),  dq_i = scale sum ds_j k_j,  dk_j += scale ds_j q_i.
// Queries go in blocks of 32 rows: the block's scores against every key it may see are one small
// matrix product (against K transposed), the softmax runs row by row, and P V (backward: dP = dO V^T,
// dQ = dS K, dK += dS^T Q, dV += P^T dO) are small products again, on a register tile. exp is a
// polynomial after a two-part range reduction (relative error below 5e-7) that vectorizes.
#pragma once
#include <cstdint>

namespace et::ops::cpu {

struct VarlenDims {
  int64_t heads_q = 0, heads_kv = 0, head_dim = 0;
  float scale = 1.f;
  int64_t window = 0;
};

// Floats of scratch the calls need for a sequence of n tokens.
int64_t varlen_forward_work(const VarlenDims& d, int64_t n);
int64_t varlen_backward_work(const VarlenDims& d, int64_t n);

void varlen_forward_group(const VarlenDims& d, const float* q, const float* k, const float* v, int64_t b, int64_t e,
                          int64_t g, float* o, float* lse, float* work);

// Writes dq for the group's query heads and dk, dv for head g over rows [b, e).
void varlen_backward_group(const VarlenDims& d, const float* q, const float* k, const float* v, const float* o,
                           const float* dout, const float* lse, int64_t b, int64_t e, int64_t g, float* dq, float* dk,
                           float* dv, float* work);

// exp(x) for x <= 88 as the kernels compute it (tests).
float varlen_exp(float x);

}  // namespace et::ops::cpu
