// The CPU fast path of the chunked cross-entropy's row pass (cross_entropy.h), float32: per row of
// logits, the loss and (want_grad) dL/du in place, in three vectorized passes over the row (max;
// sum of exp; exp again for softmax - onehot, times the softcapping derivative). Torch-free; the
// caller splits rows over threads. The head GEMMs around it run on ops/nf4_matmul's kernel.
#pragma once
#include <cstdint>

namespace et::ops::cpu {

// z [rows, V] with row stride ld: loss[r] = logsumexp(c_r) - c_r[t_r], c = cap tanh(z / cap)
// (cap 0: c = z); with want_grad z becomes dL/dz = (softmax(c) - onehot(t)) (1 - (c / cap)^2).
void cross_entropy_rows_f32(float* z, int64_t rows, int64_t vocab, int64_t ld, const int64_t* targets, float cap,
                            float* loss, bool want_grad);

}  // namespace et::ops::cpu
