// The CPU kernel of nf4_matmul (nf4_matmul.h): a blocked float32 GEMM whose weight operand is
// decoded while it is packed, never as a whole. No libtorch here: raw pointers and sizes; the
// caller splits the work over threads (one call per output range).
//
// Blocking (BLIS-style): the weight is packed one KC x NC panel at a time into strips of NR
// columns, each decoded straight from its codes (NF4: code[q] * scale of the value's 64-block),
// and an MR x NR register tile (AVX2 + FMA where the CPU has them, found at run time; plain loops
// elsewhere) runs over them, MC rows of the activations at a time, reading row-major activations
// in place (packing them cost as much as a sixth of the tile time on the thin products of LoRA;
// transposed ones are packed). Accumulation is in float32, summing k in ascending order within
// each KC block.
#pragma once
#include <cstdint>

namespace et::ops::cpu {

// A [rows, cols] row-major weight: NF4 codes or plain float32.
struct WeightView {
  // NF4: packed holds two 4-bit codes per byte over the flat row-major index (the FIRST value in
  // the HIGH nibble); value i = code[q_i] * scales[i / block].
  const uint8_t* packed = nullptr;
  const float* scales = nullptr;
  const float* code = nullptr;  // 16 entries
  int64_t block = 64;
  // float32: used when packed is null; row r starts at dense + r * ld (ld 0: cols).
  const float* dense = nullptr;
  int64_t ld = 0;
  int64_t rows = 0, cols = 0;
};

// Which product: Y = X W^T (B(k, n) = W[n, k], K = cols) or dX = dY W (B(k, n) = W[k, n], K = rows).
enum class WeightOp { xwt, dyw };

// C[m, n] for m in [m0, m1), n in [n0, n1): sum_k A[m, k] B(k, n), plus bias[n] when bias is
// given; added to C's values when accumulate, else C is overwritten. A is [M, K] with row
// stride lda, C has row stride ldc.
void weight_gemm(const float* A, int64_t lda, const WeightView& w, WeightOp op, int64_t m0, int64_t m1,
                 int64_t n0, int64_t n1, const float* bias, bool accumulate, float* C, int64_t ldc);

// One term of a sum of products into the same C: A(m, k) B(k, n), A read from a (A(m, k) =
// a[m * lda + k], or a[k * lda + m] when a_trans), B from w by op; K is w.cols (xwt) or w.rows (dyw).
struct GemmTerm {
  const float* a = nullptr;
  int64_t lda = 0;
  bool a_trans = false;
  WeightView w;
  WeightOp op = WeightOp::xwt;
};

// C[m, n] for m in [m0, m1), n in [n0, n1): the sum of the terms' products (plus bias[n]), added
// to C's values when accumulate. All terms share the tile loop over C: a low-rank term (LoRA's
// Z B^T next to X W^T, or dZ A next to dY W) costs its own FLOPs and no extra pass over C.
void weight_gemm_terms(const GemmTerm* terms, int n_terms, int64_t m0, int64_t m1, int64_t n0, int64_t n1,
                       const float* bias, bool accumulate, float* C, int64_t ldc);

// w's values W[r, c0:c1] into out (the decode every packing step uses; tests check it against
// the plain definition).
void decode_row(const WeightView& w, int64_t r, int64_t c0, int64_t c1, float* out);

// True when the AVX2 + FMA register tile runs on this CPU.
bool weight_gemm_uses_avx2();

// Tile sizes of the kernel (callers split work in multiples of these).
constexpr int64_t kGemmMR = 6, kGemmNR = 16;

}  // namespace et::ops::cpu
