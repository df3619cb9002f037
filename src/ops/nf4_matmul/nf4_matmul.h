// Matrix products with a frozen 4-bit NF4 weight on the CPU, the weight decoded inside the GEMM:
//
//   W [rows, cols], flat row-major index i:  W_i = code[q_i] * scale[i / block]
//   (q_i: the 4-bit code of value i, two per byte, the FIRST value in the HIGH nibble; scale: the
//   absmax of the value's block, already dequantized from its double quantization; code: the 16
//   NF4 levels)
//   forward:     Y = X W^T + b      X [M, cols] -> Y [M, rows]
//   input grad:  dX = dY W          dY [M, rows] -> dX [M, cols]   (W is frozen: no dW, no db)
//
// The CPU fast path (nf4_matmul_cpu.h) decodes one KC x NC panel of W at a time into the packed
// layout its register tile reads (never the whole weight), so the decode costs one pass over the
// codes per product, shared by all M rows, and no [rows, cols] float buffer exists. The same kernel
// takes a plain float32 weight (`dense`), so a group mixing both runs one code path. float32 only.
// The reference decodes W with the plain definition in tensor ops and multiplies with at::mm.
#pragma once
#include <torch/types.h>

#include <vector>

namespace et::ops {

// A frozen weight for the products: NF4 (packed uint8 [(rows * cols + 1) / 2], scales float32
// [ceil(rows * cols / block)], code float32 [16]; contiguous) or, when packed is undefined, dense
// float32 [rows, cols] with unit column stride (a column slice of a wider matrix is fine). CPU tensors.
struct MatmulWeight {
  torch::Tensor packed, scales, code, dense;
  int64_t rows = 0, cols = 0, block = 64;
};

// A dense weight over a float32 CPU matrix [rows, cols] with unit column stride.
MatmulWeight dense_weight(const torch::Tensor& w);

// One product of a sum into the same output: x W^T (weight_transposed; K = w.cols, N = w.rows) or
// x W (K = w.rows, N = w.cols), with x [M, K], or x^T given as [K, M] (x_transposed); x has unit
// column stride. The low-rank products of LoRA ride along the frozen weight's this way.
struct MatmulTerm {
  torch::Tensor x;
  bool x_transposed = false;
  MatmulWeight w;
  bool weight_transposed = true;
};

// out [M, N] (=, or += when accumulate) the sum of the terms (+ bias [N] when defined), one tile
// loop over out on all threads. out has unit column stride.
void nf4_matmul_terms_into(const std::vector<MatmulTerm>& terms, const torch::Tensor& bias, torch::Tensor& out,
                           bool accumulate);

// out[:, :] = x W^T (+ bias) for a float32 CPU x [M, cols] and out [M, rows] with unit column
// stride (a column slice of a wider output is fine). bias: undefined or float32 [rows].
void nf4_matmul_into(const torch::Tensor& x, const MatmulWeight& w, const torch::Tensor& bias, torch::Tensor& out);
// out (=, or += when accumulate) dy W for dy [M, rows] (unit column stride: a column slice is
// fine) and out [M, cols].
void nf4_matmul_t_into(const torch::Tensor& dy, const MatmulWeight& w, torch::Tensor& out, bool accumulate);

// Differentiable in x: x [..., cols] -> [..., rows], backward dx = dy W through the same kernel.
torch::Tensor nf4_matmul(const torch::Tensor& x, const MatmulWeight& w, const torch::Tensor& bias);

// The reference: W from the plain definition in tensor ops (any floating dtype of scales/code,
// the result in x's dtype), then x W^T + b in autograd ops.
torch::Tensor nf4_dequantize_plain(const MatmulWeight& w, torch::ScalarType dtype);
torch::Tensor nf4_matmul_ref(const torch::Tensor& x, const MatmulWeight& w, const torch::Tensor& bias);

// True when the products run on this tensor (CPU float32) and weight (CPU, NF4 or float32 dense).
bool nf4_matmul_usable(const torch::Tensor& x, const MatmulWeight& w);

}  // namespace et::ops
