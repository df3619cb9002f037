// Chunked cross-entropy from hidden states: sum_i [ logsumexp(z_i) - z_i[y_i] ] with
// z_i = cap * tanh((h_i . W^T) / cap) (cap = 0: no softcapping), computed a chunk of rows at a time
// so [rows, vocab] logits never exist for the whole batch (Gemma's vocabulary is 262k).
//
// Backward, per chunk, recomputing z from the saved h and the per-row logsumexp:
//   dL/dz_i = g * (softmax(z_i) - onehot(y_i))
//   with softcapping dz/du = 1 - (z/cap)^2 where u = h W^T
//   dh_i = (dL/du_i) W        dW = sum_i (dL/du_i)^T h_i    (only when W requires grad)
// Logits and the softmax are float32 whatever the dtype of h and W.
#pragma once
#include <torch/types.h>

namespace et::kernels {

// h [N, H], weight [V, H], targets [N] int64 in [0, V). Returns the float32 scalar SUM of the
// per-row losses (callers divide by their token count). chunk_rows <= 0 picks a size that keeps
// one chunk's logits under ~64 MB.
torch::Tensor chunked_cross_entropy(const torch::Tensor& h, const torch::Tensor& weight,
                                    const torch::Tensor& targets, double softcap = 0.0,
                                    int64_t chunk_rows = 0);

}  // namespace et::kernels
