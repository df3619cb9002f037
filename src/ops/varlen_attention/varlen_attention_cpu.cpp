// The CPU kernel of varlen attention (varlen_attention_cpu.h). Torch-free.
//
// Per (sequence, key/value head) and query head, queries in blocks of kBlockQ rows; each block's
// scores against all the keys it may see are one small matrix product, then the softmax row by
// row, then one product with V (backward: the five products of the gradient, see the header).
// The products run a 4 x 16 register tile written with GCC vector types (8 floats), compiled for
// AVX2 + FMA and for the baseline (ops/common/cpu_dispatch.h).
#include "ops/varlen_attention/varlen_attention_cpu.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "ops/common/cpu_dispatch.h"
#include "ops/common/cpu_math.h"

namespace et::ops::cpu {

namespace {

constexpr int64_t kBlockQ = 32;

// 8 floats (one AVX register; two SSE ones in the baseline), at any float-aligned address.
typedef float v8 __attribute__((vector_size(32), aligned(4)));

// C[r, 0 : 8 NV] (= or +=) alpha sum_k A(r, k) B(k, 0 : 8 NV) for r < R, with
// A(r, k) = A[r * ars + k * acs] and B(k, n) = B[k * ldb + n].
template <int R, int NV>
ET_CPU_INLINE inline void tile(int64_t K, const float* A, int64_t ars, int64_t acs, const float* B,
                                                int64_t ldb, float* C, int64_t ldc, bool acc, float alpha) {
  v8 c[R][NV];
  for (int r = 0; r < R; ++r)
    for (int v = 0; v < NV; ++v) c[r][v] = v8{} + 0.f;
  for (int64_t k = 0; k < K; ++k) {
    v8 b[NV];
    for (int v = 0; v < NV; ++v) b[v] = *reinterpret_cast<const v8*>(B + k * ldb + 8 * v);
    for (int r = 0; r < R; ++r) {
      const v8 a = v8{} + A[r * ars + k * acs];
      for (int v = 0; v < NV; ++v) c[r][v] += a * b[v];
    }
  }
  for (int r = 0; r < R; ++r)
    for (int v = 0; v < NV; ++v) {
      v8* p = reinterpret_cast<v8*>(C + r * ldc + 8 * v);
      const v8 x = c[r][v] * alpha;
      *p = acc ? *p + x : x;
    }
}

template <int R>
ET_CPU_INLINE inline void row_block(int64_t N, int64_t K, const float* A, int64_t ars, int64_t acs,
                                                     const float* B, int64_t ldb, float* C, int64_t ldc, bool acc,
                                                     float alpha) {
  int64_t n = 0;
  for (; n + 16 <= N; n += 16) tile<R, 2>(K, A, ars, acs, B + n, ldb, C + n, ldc, acc, alpha);
  if (n + 8 <= N) {
    tile<R, 1>(K, A, ars, acs, B + n, ldb, C + n, ldc, acc, alpha);
    n += 8;
  }
  for (; n < N; ++n)
    for (int r = 0; r < R; ++r) {
      float s = 0.f;
      for (int64_t k = 0; k < K; ++k) s += A[r * ars + k * acs] * B[k * ldb + n];
      float& c = C[r * ldc + n];
      c = acc ? c + alpha * s : alpha * s;
    }
}

// C [M, N] (= or +=) alpha A B for A(m, k) = A[m * ars + k * acs], B [K, N] with row stride ldb.
ET_CPU_INLINE inline void small_gemm(int64_t M, int64_t N, int64_t K, const float* A, int64_t ars,
                                                      int64_t acs, const float* B, int64_t ldb, float* C, int64_t ldc,
                                                      bool acc, float alpha) {
  int64_t m = 0;
  for (; m + 4 <= M; m += 4) row_block<4>(N, K, A + m * ars, ars, acs, B, ldb, C + m * ldc, ldc, acc, alpha);
  switch (M - m) {
    case 3: row_block<3>(N, K, A + m * ars, ars, acs, B, ldb, C + m * ldc, ldc, acc, alpha); break;
    case 2: row_block<2>(N, K, A + m * ars, ars, acs, B, ldb, C + m * ldc, ldc, acc, alpha); break;
    case 1: row_block<1>(N, K, A + m * ars, ars, acs, B, ldb, C + m * ldc, ldc, acc, alpha); break;
    default: break;
  }
}

// x[j * stride + d] for j < n, d < D into t[d * n + j].
ET_CPU_INLINE inline void transpose_rows(const float* x, int64_t stride, int64_t n, int64_t D, float* t) {
  for (int64_t j = 0; j < n; ++j) {
    const float* xr = x + j * stride;
    for (int64_t d = 0; d < D; ++d) t[d * n + j] = xr[d];
  }
}

inline int64_t first_key(int64_t i, int64_t window) { return window > 0 ? std::max<int64_t>(0, i - window + 1) : 0; }

// The keys a block of queries [i0, i1) may see, and the part of row i (i0 <= i < i1) that is allowed.
struct KeyRange {
  int64_t lo, hi;  // keys [lo, hi) of the block
};
inline KeyRange block_keys(int64_t i0, int64_t i1, int64_t window) { return {first_key(i0, window), i1}; }

}  // namespace

float varlen_exp(float x) { return exp_approx(x); }

int64_t varlen_forward_work(const VarlenDims& d, int64_t n) { return d.head_dim * n + kBlockQ * n + 2 * kBlockQ; }

int64_t varlen_backward_work(const VarlenDims& d, int64_t n) {
  return 4 * d.head_dim * n + 2 * kBlockQ * n + 2 * kBlockQ;
}

namespace {

ET_CPU_INLINE inline void forward_group(const VarlenDims& dm, const float* q, const float* k, const float* v, int64_t b,
                                        int64_t e, int64_t g, float* o, float* lse, float* work) {
  const int64_t n = e - b, D = dm.head_dim, Hq = dm.heads_q, Hkv = dm.heads_kv, rep = Hq / Hkv;
  if (n <= 0) return;
  const int64_t ldq = Hq * D, ldk = Hkv * D;
  float* kt = work;         // [D, n]
  float* s = kt + D * n;    // [kBlockQ, n]
  float* inv = s + kBlockQ * n;  // [kBlockQ]
  transpose_rows(k + (b * Hkv + g) * D, ldk, n, D, kt);
  const float* vg = v + (b * Hkv + g) * D;
  for (int64_t r = 0; r < rep; ++r) {
    const int64_t h = g * rep + r;
    for (int64_t i0 = 0; i0 < n; i0 += kBlockQ) {
      const int64_t i1 = std::min(n, i0 + kBlockQ), bq = i1 - i0;
      const KeyRange kr = block_keys(i0, i1, dm.window);
      const int64_t nk = kr.hi - kr.lo;
      const float* qb = q + ((b + i0) * Hq + h) * D;
      small_gemm(bq, nk, D, qb, ldq, 1, kt + kr.lo, n, s, n, false, dm.scale);
      for (int64_t t = 0; t < bq; ++t) {
        const int64_t i = i0 + t;
        float* st = s + t * n;
        const int64_t c0 = first_key(i, dm.window) - kr.lo, c1 = i + 1 - kr.lo;  // allowed columns [c0, c1)
        float m = st[c0];
        for (int64_t c = c0; c < c1; ++c) m = std::max(m, st[c]);
        float l = 0.f;
#pragma omp simd reduction(+ : l)
        for (int64_t c = c0; c < c1; ++c) {
          const float p = exp_approx(st[c] - m);
          st[c] = p;
          l += p;
        }
        for (int64_t c = 0; c < c0; ++c) st[c] = 0.f;
        for (int64_t c = c1; c < nk; ++c) st[c] = 0.f;
        inv[t] = 1.f / l;
        lse[(b + i) * Hq + h] = m + std::log(l);
      }
      float* ob = o + ((b + i0) * Hq + h) * D;
      small_gemm(bq, D, nk, s, n, 1, vg + kr.lo * ldk, ldk, ob, ldq, false, 1.f);
      for (int64_t t = 0; t < bq; ++t) {
        float* ot = ob + t * ldq;
        const float f = inv[t];
        for (int64_t d = 0; d < D; ++d) ot[d] *= f;
      }
    }
  }
}

ET_CPU_INLINE inline void backward_group(const VarlenDims& dm, const float* q, const float* k, const float* v,
                                         const float* o, const float* dout, const float* lse, int64_t b, int64_t e,
                                         int64_t g, float* dq, float* dk, float* dv, float* work) {
  const int64_t n = e - b, D = dm.head_dim, Hq = dm.heads_q, Hkv = dm.heads_kv, rep = Hq / Hkv;
  if (n <= 0) return;
  const int64_t ldq = Hq * D, ldk = Hkv * D;
  const float scale = dm.scale;
  float* kt = work;                 // [D, n]
  float* vt = kt + D * n;           // [D, n]
  float* dkl = vt + D * n;          // [n, D]
  float* dvl = dkl + D * n;         // [n, D]
  float* p = dvl + D * n;           // [kBlockQ, n]: P, then dS in place
  float* dp = p + kBlockQ * n;      // [kBlockQ, n]
  float* delta = dp + kBlockQ * n;  // [kBlockQ]
  const float* kg = k + (b * Hkv + g) * D;
  const float* vg = v + (b * Hkv + g) * D;
  transpose_rows(kg, ldk, n, D, kt);
  transpose_rows(vg, ldk, n, D, vt);
  std::fill(dkl, dkl + 2 * D * n, 0.f);
  for (int64_t r = 0; r < rep; ++r) {
    const int64_t h = g * rep + r;
    for (int64_t i0 = 0; i0 < n; i0 += kBlockQ) {
      const int64_t i1 = std::min(n, i0 + kBlockQ), bq = i1 - i0;
      const KeyRange kr = block_keys(i0, i1, dm.window);
      const int64_t nk = kr.hi - kr.lo;
      const int64_t row0 = (b + i0) * Hq + h;
      const float* qb = q + row0 * D;
      const float* dob = dout + row0 * D;
      const float* ob = o + row0 * D;
      small_gemm(bq, nk, D, qb, ldq, 1, kt + kr.lo, n, p, n, false, scale);  // scores
      small_gemm(bq, nk, D, dob, ldq, 1, vt + kr.lo, n, dp, n, false, 1.f);  // dP = dO V^T
      for (int64_t t = 0; t < bq; ++t) {
        const float* dot = dob + t * ldq;
        const float* ot = ob + t * ldq;
        float d = 0.f;
        for (int64_t c = 0; c < D; ++c) d += dot[c] * ot[c];
        delta[t] = d;
      }
      for (int64_t t = 0; t < bq; ++t) {
        const int64_t i = i0 + t;
        const int64_t c0 = first_key(i, dm.window) - kr.lo, c1 = i + 1 - kr.lo;
        const float L = lse[row0 + t * Hq], dl = delta[t];
        float* pt = p + t * n;
        float* dpt = dp + t * n;
#pragma omp simd
        for (int64_t c = c0; c < c1; ++c) {
          const float pv = exp_approx(pt[c] - L);
          pt[c] = pv;                           // P
          dpt[c] = pv * (dpt[c] - dl) * scale;  // scale * dS
        }
        for (int64_t c = 0; c < c0; ++c) pt[c] = dpt[c] = 0.f;
        for (int64_t c = c1; c < nk; ++c) pt[c] = dpt[c] = 0.f;
      }
      small_gemm(bq, D, nk, dp, n, 1, kg + kr.lo * ldk, ldk, dq + row0 * D, ldq, false, 1.f);  // dQ = dS K
      small_gemm(nk, D, bq, dp, 1, n, qb, ldq, dkl + kr.lo * D, D, true, 1.f);                // dK += dS^T Q
      small_gemm(nk, D, bq, p, 1, n, dob, ldq, dvl + kr.lo * D, D, true, 1.f);                // dV += P^T dO
    }
  }
  for (int64_t j = 0; j < n; ++j) {
    std::memcpy(dk + ((b + j) * Hkv + g) * D, dkl + j * D, static_cast<size_t>(D) * sizeof(float));
    std::memcpy(dv + ((b + j) * Hkv + g) * D, dvl + j * D, static_cast<size_t>(D) * sizeof(float));
  }
}

}  // namespace

void varlen_forward_group(const VarlenDims& d, const float* q, const float* k, const float* v, int64_t b, int64_t e,
                          int64_t g, float* o, float* lse, float* work) {
  run_best([&]() ET_CPU_INLINE { forward_group(d, q, k, v, b, e, g, o, lse, work); });
}

void varlen_backward_group(const VarlenDims& d, const float* q, const float* k, const float* v, const float* o,
                           const float* dout, const float* lse, int64_t b, int64_t e, int64_t g, float* dq, float* dk,
                           float* dv, float* work) {
  run_best([&]() ET_CPU_INLINE { backward_group(d, q, k, v, o, dout, lse, b, e, g, dq, dk, dv, work); });
}

}  // namespace et::ops::cpu
