// Causal attention over packed sequences given by cumulative offsets (no [B, 1, T, T] mask).
//
// Tokens of all sequences lie back to back: q [N, Hq, D], k, v [N, Hkv, D] with Hq a multiple of
// Hkv (query head h reads key/value head h / (Hq / Hkv)). Sequence s holds tokens
// [cu[s], cu[s+1]). Within a sequence, query i attends to keys j with j <= i and, with a window
// w > 0, i - j < w:
//   out_i = sum_j softmax_j(scale * q_i . k_j) v_j                     (softmax in float32)
// Backward (P = softmax, dO the upstream gradient, delta_i = sum_d dO_i O_i):
//   dV_j = sum_i P_ij dO_i,  dP_ij = dO_i . V_j,  dS_ij = P_ij (dP_ij - delta_i),
//   dQ_i = scale sum_j dS_ij K_j,  dK_j = scale sum_i dS_ij Q_i    (summed over the query heads of a KV head).
//
// Fast path: the FlashAttention-2 kernels that a CUDA libtorch (>= 2.1) carries, in their
// variable-length form (cumulative sequence offsets, native grouped-query heads, sliding window),
// called through the dispatcher by schema argument names, so the call does not depend on one
// libtorch version's C++ signature. bfloat16/float16, head_dim a multiple of 8 up to 256.
// Dense rows (every sequence the same length, at least 16 tokens, no window: one conversation per row, no padding)
// take cuDNN's fused attention instead when the libtorch has it (aten::_scaled_dot_product_cudnn_
// attention, libtorch >= 2.3), which is faster on Hopper: 1.5 against 2.2 ms forward + backward for
// 8 x 2048 tokens of 32 heads of 64 (bench/RESULTS.md). Its variable-length form
// (aten::_cudnn_attention_forward/backward with offsets) gave non-finite gradients on a 4097-token
// sequence in this op's test on libtorch 2.11, so packed rows stay on the flash kernel.
// CPU fast path (float32): per (sequence, key/value head) on all threads, the longest sequences
// first; blocks of 32 queries whose scores, softmax and products run on a register tile, the
// log-sum-exp saved for a backward that recomputes the probabilities (varlen_attention_cpu.h);
// nothing of size T x T is kept.
// Reference: per sequence, explicit scores with the causal (and window) mask in float32 and
// autograd, any device and dtype.
#pragma once
#include <torch/types.h>

#include <cstdint>
#include <vector>

namespace et::ops {

// Sequence boundaries of packed rows: cu_seqlens [S + 1] int32 on the compute device, cu on the
// host, the longest sequence.
struct VarlenSeqs {
  torch::Tensor cu_seqlens;
  std::vector<int32_t> cu;
  int64_t max_len = 0;
  int64_t total() const { return cu.empty() ? 0 : cu.back(); }
};

// From [rows, len] segment ids (row-major, host): every maximal run of one id within a row is a
// sequence (padding runs, id -1, are sequences of their own: they attend only among themselves).
VarlenSeqs varlen_from_segments(const int32_t* segments, int64_t rows, int64_t len, torch::Device device);

// True when the flash kernel can run q, k, v (CUDA libtorch with the op, CUDA tensors of
// bfloat16/float16, head_dim % 8 == 0 and <= 256) and no softcapping is asked for.
bool flash_varlen_usable(const torch::Tensor& q, const torch::Tensor& k, double softcap);

// True when the CPU kernel can run q, k (float32 CPU tensors) and no softcapping is asked for.
bool cpu_varlen_usable(const torch::Tensor& q, const torch::Tensor& k, double softcap);

// The op (differentiable in q, k, v). With the kernel path fast: the flash kernel when
// flash_varlen_usable, the CPU kernel when cpu_varlen_usable; else the reference. Returns [N, Hq, D] in q's dtype.
torch::Tensor varlen_attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                               const VarlenSeqs& seqs, double scale, int64_t window = 0);

// The reference: explicit per-sequence attention in float32 (autograd).
torch::Tensor varlen_attention_ref(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                                   const VarlenSeqs& seqs, double scale, int64_t window = 0);

// Which fast kernel dense rows take (packed rows always take flash). Default cudnn where available.
enum class DenseAttention { cudnn, flash };
void set_dense_attention(DenseAttention a);
DenseAttention dense_attention();

// The row length when the sequences are dense rows of one length (cu = 0, L, 2L, ...), else 0.
int64_t dense_row_length(const VarlenSeqs& seqs);

namespace detail {
// cuDNN's attention over `rows` dense rows of the packed q, k, v (CUDA libtorch builds with the op);
// an undefined tensor when cuDNN refuses the shapes.
torch::Tensor dense_attention_cudnn(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                                    int64_t rows, double scale);
bool cudnn_dense_registered();
// The flash call itself (CUDA libtorch builds; elsewhere it throws).
torch::Tensor varlen_attention_flash(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                                     const VarlenSeqs& seqs, double scale, int64_t window);
bool flash_varlen_registered();
// The CPU kernel (float32 CPU tensors), whatever the kernel path.
torch::Tensor varlen_attention_cpu(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                                   const VarlenSeqs& seqs, double scale, int64_t window);
}  // namespace detail

}  // namespace et::ops
