// Cross-entropy from hidden states, taken with the LM head in chunks of rows so that [rows, vocab]
// logits never exist for the whole batch (Gemma's vocabulary is 262k):
//   L = sum_i [ logsumexp(z_i) - z_i[y_i] ],   z_i = cap tanh(u_i / cap) (cap = 0: z = u),  u_i = h_i W^T
// Gradient (g = dL_total/dL):
//   dL/dz_i = g (softmax(z_i) - onehot(y_i)),  with softcapping dz/du = 1 - (z/cap)^2
//   dh_i = (dL/du_i) W,   dW = sum_i (dL/du_i)^T h_i   (only when W requires grad)
// Logsumexp, softmax and the loss are float32 whatever the dtype of h and W.
//
// Three implementations:
// - fast, frozen W (LoRA training): the gradient is computed in the forward, chunk by chunk, while
//   the chunk's logits are at hand (one head GEMM for the logits and one for dh instead of
//   recomputing the logits in backward: two head GEMMs instead of three), and the backward only
//   scales the saved dh by g. On CUDA one kernel per chunk takes each row's logsumexp, loss and
//   softmax - onehot in place over the bf16 logits (two passes over the row).
// - fast, trainable W (full fine-tuning): the chunked forward saves the per-row logsumexp and the
//   backward recomputes each chunk's logits for dh and dW (no [V, H] gradient accumulator in
//   the forward).
// - reference: the whole logits and torch's cross_entropy, differentiated by autograd.
#pragma once
#include <torch/types.h>

namespace et::ops {

// h [N, H], weight [V, H], targets [N] int64 in [0, V). Returns the float32 scalar SUM of the
// per-row losses (callers divide by their token count). chunk_rows <= 0 picks a size (a multiple of
// 128 rows on CUDA so the head GEMMs fill their tiles: cross_entropy_chunk_rows).
// check_targets: verify every target is in [0, V) (a device sync; callers that checked on the
// host pass false).
torch::Tensor chunked_cross_entropy(const torch::Tensor& h, const torch::Tensor& weight, const torch::Tensor& targets,
                                    double softcap = 0.0, int64_t chunk_rows = 0, bool check_targets = true);

// The rows per chunk chunked_cross_entropy takes for n rows and a vocab-row head when chunk_rows <= 0.
// small: a quarter of the logits per chunk on CUDA (what a GPU sharing the board's memory, as a
// Jetson's, takes on its own; a run under a memory budget passes the rows it gives).
int64_t cross_entropy_chunk_rows(int64_t vocab, int64_t n, bool cuda, bool small = false);

torch::Tensor cross_entropy_ref(const torch::Tensor& h, const torch::Tensor& weight, const torch::Tensor& targets,
                                double softcap = 0.0);

namespace detail {
// One chunk's rows of logits z [c, V] (contiguous, overwritten with dL/du when want_grad):
// writes each row's loss into loss [c] (float32). CUDA kernel on CUDA tensors, torch ops elsewhere.
void cross_entropy_rows(torch::Tensor& z, const torch::Tensor& targets, double softcap, torch::Tensor& loss,
                        bool want_grad);
void cross_entropy_rows_cuda(torch::Tensor& z, const torch::Tensor& targets, double softcap, torch::Tensor& loss,
                             bool want_grad);
}  // namespace detail

}  // namespace et::ops
