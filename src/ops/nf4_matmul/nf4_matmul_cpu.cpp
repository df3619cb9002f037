// The blocked GEMM with the weight decoded while packed (nf4_matmul_cpu.h). Torch-free.
#include "ops/nf4_matmul/nf4_matmul_cpu.h"

#include <algorithm>
#include <cstring>
#include <vector>

#if defined(__x86_64__)
#include <immintrin.h>
#define ET_GEMM_X86 1
#else
#define ET_GEMM_X86 0
#endif

namespace et::ops::cpu {

namespace {

constexpr int64_t MR = kGemmMR, NR = kGemmNR;
constexpr int64_t KC = 256;   // a B strip (KC x NR floats, 16 KiB) stays in L1
constexpr int64_t MC = 120;   // the A rows (MC x KC floats, 120 KiB) a B strip meets stay in L2
constexpr int64_t NC = 2048;  // a B panel (KC x NC floats) stays in L3

// NF4 values [i0, i1) of the flat index into out.
void decode_nf4(const WeightView& w, int64_t i0, int64_t i1, float* out) {
  int64_t i = i0;
  while (i < i1) {
    const int64_t b = i / w.block;
    const int64_t end = std::min(i1, (b + 1) * w.block);
    const float s = w.scales[b];
    float t[16];
    for (int q = 0; q < 16; ++q) t[q] = w.code[q] * s;  // the same product as dequantization
    if ((i & 1) && i < end) {
      *out++ = t[w.packed[i >> 1] & 0xf];
      ++i;
    }
    for (; i + 1 < end; i += 2) {
      const uint8_t byte = w.packed[i >> 1];
      out[0] = t[byte >> 4];
      out[1] = t[byte & 0xf];
      out += 2;
    }
    if (i < end) {
      *out++ = t[w.packed[i >> 1] >> 4];
      ++i;
    }
  }
}

// B(k, n) for k in [k0, k0 + kc), n in [n0, n0 + nc) into strips of NR columns:
// dst[(j / NR) * kc * NR + k * NR + j % NR], zero-padded to whole strips.
void pack_b(const WeightView& w, WeightOp op, int64_t k0, int64_t kc, int64_t n0, int64_t nc, float* dst,
            float* tmp) {
  const int64_t strips = (nc + NR - 1) / NR;
  if (op == WeightOp::xwt) {  // B(k, n) = W[n, k]: row n of W, columns k0..
    for (int64_t j = 0; j < strips * NR; ++j) {
      float* d = dst + (j / NR) * kc * NR + j % NR;
      if (j < nc) {
        decode_row(w, n0 + j, k0, k0 + kc, tmp);
        for (int64_t k = 0; k < kc; ++k) d[k * NR] = tmp[k];
      } else {
        for (int64_t k = 0; k < kc; ++k) d[k * NR] = 0.f;
      }
    }
  } else {  // B(k, n) = W[k, n]: row k of W, columns n0..
    for (int64_t k = 0; k < kc; ++k) {
      decode_row(w, k0 + k, n0, n0 + nc, tmp);
      for (int64_t s = 0; s < strips; ++s) {
        float* d = dst + s * kc * NR + k * NR;
        const int64_t j0 = s * NR, n = std::min(NR, nc - j0);
        std::memcpy(d, tmp + j0, static_cast<size_t>(n) * sizeof(float));
        for (int64_t j = n; j < NR; ++j) d[j] = 0.f;
      }
    }
  }
}

// The MR rows of A a tile reads: A(r, k) = a[r][k * acs]. A row-major A is read in place (a[r] =
// row r from column k0, acs = 1); rows past the last valid one repeat it (their sums are computed
// and dropped), so no read leaves A. A transposed A (a[k * lda + m]) would take a new cache line
// and page for every k: it is packed first, MR rows per panel (a[r] = panel + r, acs = MR).
struct APanel {
  const float* a[MR];
  int64_t acs;
};

APanel a_in_place(const GemmTerm& t, int64_t m, int64_t rows, int64_t k0) {
  APanel p;
  for (int64_t r = 0; r < MR; ++r) p.a[r] = t.a + (m + std::min(r, rows - 1)) * t.lda + k0;
  p.acs = 1;
  return p;
}

APanel a_packed(const float* panel) {
  APanel p;
  for (int64_t r = 0; r < MR; ++r) p.a[r] = panel + r;
  p.acs = MR;
  return p;
}

// A(m0 + i, k0 + k) = A[(k0 + k) * lda + m0 + i] for i < mc, k < kc into panels of MR rows:
// dst[(i / MR) * kc * MR + k * MR + i % MR], zero past mc.
void pack_a_trans(const float* A, int64_t lda, int64_t m0, int64_t mc, int64_t k0, int64_t kc, float* dst) {
  for (int64_t p = 0; p < mc; p += MR) {
    float* d = dst + (p / MR) * kc * MR;
    const int64_t rows = std::min(MR, mc - p);
    const float* a = A + k0 * lda + m0 + p;
    for (int64_t k = 0; k < kc; ++k) {
      const float* ak = a + k * lda;
      for (int64_t r = 0; r < MR; ++r) d[k * MR + r] = r < rows ? ak[r] : 0.f;
    }
  }
}

// acc[MR][NR] (row-major) into the valid part of the C tile.
void store_tile(const float* acc, float* c, int64_t ldc, bool load_c, const float* bias, int64_t rows, int64_t cols) {
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t j = 0; j < cols; ++j) {
      float v = acc[r * NR + j];
      if (bias) v += bias[j];
      c[r * ldc + j] = load_c ? c[r * ldc + j] + v : v;
    }
}

// The MR x NR register tile in plain loops (any CPU).
void tile_generic(int64_t kc, const APanel& ap, const float* b, float* c, int64_t ldc, bool load_c, const float* bias,
                  int64_t rows, int64_t cols) {
  float acc[MR * NR] = {};
  for (int64_t k = 0; k < kc; ++k)
    for (int64_t r = 0; r < MR; ++r) {
      const float av = ap.a[r][k * ap.acs];
      for (int64_t j = 0; j < NR; ++j) acc[r * NR + j] += av * b[k * NR + j];
    }
  store_tile(acc, c, ldc, load_c, bias, rows, cols);
}

#if ET_GEMM_X86
__attribute__((target("avx2,fma"))) void tile_avx2(int64_t kc, const APanel& ap, const float* b, float* c,
                                                   int64_t ldc, bool load_c, const float* bias, int64_t rows,
                                                   int64_t cols) {
  __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
  __m256 c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
  const float *a0 = ap.a[0], *a1 = ap.a[1], *a2 = ap.a[2], *a3 = ap.a[3], *a4 = ap.a[4], *a5 = ap.a[5];
  const int64_t acs = ap.acs;
  for (int64_t k = 0, ka = 0; k < kc; ++k, ka += acs) {
    const __m256 b0 = _mm256_loadu_ps(b), b1 = _mm256_loadu_ps(b + 8);
    __m256 av = _mm256_broadcast_ss(a0 + ka);
    c00 = _mm256_fmadd_ps(av, b0, c00);
    c01 = _mm256_fmadd_ps(av, b1, c01);
    av = _mm256_broadcast_ss(a1 + ka);
    c10 = _mm256_fmadd_ps(av, b0, c10);
    c11 = _mm256_fmadd_ps(av, b1, c11);
    av = _mm256_broadcast_ss(a2 + ka);
    c20 = _mm256_fmadd_ps(av, b0, c20);
    c21 = _mm256_fmadd_ps(av, b1, c21);
    av = _mm256_broadcast_ss(a3 + ka);
    c30 = _mm256_fmadd_ps(av, b0, c30);
    c31 = _mm256_fmadd_ps(av, b1, c31);
    av = _mm256_broadcast_ss(a4 + ka);
    c40 = _mm256_fmadd_ps(av, b0, c40);
    c41 = _mm256_fmadd_ps(av, b1, c41);
    av = _mm256_broadcast_ss(a5 + ka);
    c50 = _mm256_fmadd_ps(av, b0, c50);
    c51 = _mm256_fmadd_ps(av, b1, c51);
    b += NR;
  }
  const __m256 acc[MR][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31}, {c40, c41}, {c50, c51}};
  if (rows == MR && cols == NR) {
    const __m256 bias0 = bias ? _mm256_loadu_ps(bias) : _mm256_setzero_ps();
    const __m256 bias1 = bias ? _mm256_loadu_ps(bias + 8) : _mm256_setzero_ps();
    for (int64_t r = 0; r < MR; ++r) {
      float* cr = c + r * ldc;
      __m256 v0 = acc[r][0], v1 = acc[r][1];
      if (bias) {
        v0 = _mm256_add_ps(v0, bias0);
        v1 = _mm256_add_ps(v1, bias1);
      }
      if (load_c) {
        v0 = _mm256_add_ps(_mm256_loadu_ps(cr), v0);
        v1 = _mm256_add_ps(_mm256_loadu_ps(cr + 8), v1);
      }
      _mm256_storeu_ps(cr, v0);
      _mm256_storeu_ps(cr + 8, v1);
    }
    return;
  }
  float t[MR * NR];
  for (int64_t r = 0; r < MR; ++r) {
    _mm256_storeu_ps(t + r * NR, acc[r][0]);
    _mm256_storeu_ps(t + r * NR + 8, acc[r][1]);
  }
  store_tile(t, c, ldc, load_c, bias, rows, cols);
}

bool detect_avx2() { return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"); }
#else
bool detect_avx2() { return false; }
#endif

using TileFn = void (*)(int64_t, const APanel&, const float*, float*, int64_t, bool, const float*, int64_t, int64_t);

TileFn tile_fn() {
#if ET_GEMM_X86
  static const TileFn f = detect_avx2() ? tile_avx2 : tile_generic;
  return f;
#else
  return tile_generic;
#endif
}

}  // namespace

bool weight_gemm_uses_avx2() {
  static const bool yes = detect_avx2();
  return yes;
}

void decode_row(const WeightView& w, int64_t r, int64_t c0, int64_t c1, float* out) {
  if (c1 <= c0) return;
  if (!w.packed) {
    std::memcpy(out, w.dense + r * (w.ld ? w.ld : w.cols) + c0, static_cast<size_t>(c1 - c0) * sizeof(float));
    return;
  }
  decode_nf4(w, r * w.cols + c0, r * w.cols + c1, out);
}

void weight_gemm_terms(const GemmTerm* terms, int n_terms, int64_t m0, int64_t m1, int64_t n0, int64_t n1,
                       const float* bias, bool accumulate, float* C, int64_t ldc) {
  if (m1 <= m0 || n1 <= n0) return;
  auto k_of = [](const GemmTerm& t) { return t.op == WeightOp::xwt ? t.w.cols : t.w.rows; };
  int64_t k_max = 0;
  for (int t = 0; t < n_terms; ++t) k_max = std::max(k_max, k_of(terms[t]));
  if (k_max == 0) {
    for (int64_t m = m0; m < m1; ++m)
      for (int64_t n = n0; n < n1; ++n) {
        const float b = bias ? bias[n] : 0.f;
        C[m * ldc + n] = accumulate ? C[m * ldc + n] + b : b;
      }
    return;
  }
  thread_local std::vector<float> bpack, apack, tmp;
  const int64_t nc_max = std::min(NC, n1 - n0), kc_max = std::min(KC, k_max);
  bpack.resize(static_cast<size_t>(kc_max * ((nc_max + NR - 1) / NR) * NR));
  apack.resize(static_cast<size_t>(((std::min(MC, m1 - m0) + MR - 1) / MR) * MR * kc_max));
  tmp.resize(static_cast<size_t>(std::max(kc_max, nc_max)));
  const TileFn tile = tile_fn();
  for (int64_t jc = n0; jc < n1; jc += NC) {
    const int64_t nc = std::min(NC, n1 - jc);
    bool first = true;
    for (int t = 0; t < n_terms; ++t) {
      const GemmTerm& term = terms[t];
      const int64_t K = k_of(term);
      for (int64_t pc = 0; pc < K; pc += KC) {
        const int64_t kc = std::min(KC, K - pc);
        pack_b(term.w, term.op, pc, kc, jc, nc, bpack.data(), tmp.data());
        const bool load_c = !first || accumulate;
        const float* bias_here = first && bias ? bias + jc : nullptr;
        first = false;
        for (int64_t ic = m0; ic < m1; ic += MC) {
          const int64_t mc = std::min(MC, m1 - ic);
          if (term.a_trans) pack_a_trans(term.a, term.lda, ic, mc, pc, kc, apack.data());
          for (int64_t jr = 0; jr < nc; jr += NR) {
            const int64_t nr = std::min(NR, nc - jr);
            const float* bs = bpack.data() + (jr / NR) * kc * NR;
            for (int64_t ir = 0; ir < mc; ir += MR) {
              const int64_t rows = std::min(MR, mc - ir);
              const APanel ap = term.a_trans ? a_packed(apack.data() + (ir / MR) * kc * MR) : a_in_place(term, ic + ir, rows, pc);
              tile(kc, ap, bs, C + (ic + ir) * ldc + jc + jr, ldc, load_c,
                   bias_here ? bias_here + jr : nullptr, rows, nr);
            }
          }
        }
      }
    }
  }
}

void weight_gemm(const float* A, int64_t lda, const WeightView& w, WeightOp op, int64_t m0, int64_t m1, int64_t n0,
                 int64_t n1, const float* bias, bool accumulate, float* C, int64_t ldc) {
  GemmTerm t;
  t.a = A;
  t.lda = lda;
  t.w = w;
  t.op = op;
  weight_gemm_terms(&t, 1, m0, m1, n0, n1, bias, accumulate, C, ldc);
}

}  // namespace et::ops::cpu
