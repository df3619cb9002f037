// The CPU kernel of varlen attention (varlen_attention_cpu.h). Torch-free.
#include "ops/varlen_attention/varlen_attention_cpu.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "ops/common/cpu_clones.h"

namespace et::ops::cpu {

namespace {

// e^x = 2^n e^r with n = round(x log2 e) and r = x - n ln 2 in two parts (Cody-Waite: n ln2_hi
// is exact, so r carries no rounding of x log2 e), |r| <= ln 2 / 2, e^r by its Taylor polynomial
// of degree 7 (truncation below 2e-8). Branch-free, so the loops that call it vectorize.
__attribute__((always_inline)) inline float exp_poly(float x) {
  x = x < -87.f ? -87.f : (x > 88.f ? 88.f : x);
  const float big = 12582912.f;  // 1.5 * 2^23: adding it rounds to an integer in the low mantissa bits
  const float nb = x * 1.44269504088896341f + big;
  const float n = nb - big;
  const float r = (x - n * 0.693359375f) - n * -2.12194440e-4f;
  uint32_t nbits;
  std::memcpy(&nbits, &nb, sizeof nbits);
  const int32_t ni = static_cast<int32_t>(nbits - 0x4B400000u);
  float p = 1.f / 5040.f;
  p = p * r + 1.f / 720.f;
  p = p * r + 1.f / 120.f;
  p = p * r + 1.f / 24.f;
  p = p * r + 1.f / 6.f;
  p = p * r + 0.5f;
  p = p * r + 1.f;
  p = p * r + 1.f;
  const uint32_t sb = static_cast<uint32_t>(ni + 127) << 23;
  float s;
  std::memcpy(&s, &sb, sizeof s);
  return p * s;
}

// s[j] = alpha * sum_d a[d] * t[d * n + j] for j in [j0, j1) (t: a [D, n] transposed matrix).
__attribute__((always_inline)) inline void row_dot(const float* a, const float* t, int64_t n, int64_t D, float alpha, int64_t j0, int64_t j1,
                    float* s) {
  for (int64_t j = j0; j < j1; ++j) s[j] = 0.f;
  for (int64_t d = 0; d < D; ++d) {
    const float c = a[d] * alpha;
    const float* tr = t + d * n;
#pragma omp simd
    for (int64_t j = j0; j < j1; ++j) s[j] += c * tr[j];
  }
}

// x[j*stride + .. D] transposed into t[d * n + j] for j < n.
__attribute__((always_inline)) inline void transpose_rows(const float* x, int64_t stride, int64_t n, int64_t D, float* t) {
  for (int64_t j = 0; j < n; ++j) {
    const float* xr = x + j * stride;
    for (int64_t d = 0; d < D; ++d) t[d * n + j] = xr[d];
  }
}

inline int64_t first_key(int64_t i, int64_t window) { return window > 0 ? std::max<int64_t>(0, i - window + 1) : 0; }

}  // namespace

float varlen_exp(float x) { return exp_poly(x); }

int64_t varlen_forward_work(const VarlenDims& d, int64_t n) { return d.head_dim * n + n + d.head_dim; }

int64_t varlen_backward_work(const VarlenDims& d, int64_t n) { return 4 * d.head_dim * n + 2 * n + d.head_dim; }

ET_CPU_CLONES
void varlen_forward_group(const VarlenDims& dm, const float* q, const float* k, const float* v, int64_t b, int64_t e,
                          int64_t g, float* o, float* lse, float* work) {
  const int64_t n = e - b, D = dm.head_dim, Hq = dm.heads_q, Hkv = dm.heads_kv, rep = Hq / Hkv;
  if (n <= 0) return;
  float* kt = work;          // [D, n]
  float* s = kt + D * n;     // [n]
  float* acc = s + n;        // [D]
  transpose_rows(k + (b * Hkv + g) * D, Hkv * D, n, D, kt);
  const float* vg = v + (b * Hkv + g) * D;
  for (int64_t r = 0; r < rep; ++r) {
    const int64_t h = g * rep + r;
    for (int64_t i = 0; i < n; ++i) {
      const int64_t j0 = first_key(i, dm.window), j1 = i + 1;
      const float* qi = q + ((b + i) * Hq + h) * D;
      row_dot(qi, kt, n, D, dm.scale, j0, j1, s);
      float m = s[j0];
#pragma omp simd reduction(max : m)
      for (int64_t j = j0; j < j1; ++j) m = std::max(m, s[j]);
      float l = 0.f;
#pragma omp simd reduction(+ : l)
      for (int64_t j = j0; j < j1; ++j) {
        const float p = exp_poly(s[j] - m);
        s[j] = p;
        l += p;
      }
      for (int64_t d = 0; d < D; ++d) acc[d] = 0.f;
      for (int64_t j = j0; j < j1; ++j) {
        const float p = s[j];
        const float* vj = vg + j * Hkv * D;
#pragma omp simd
        for (int64_t d = 0; d < D; ++d) acc[d] += p * vj[d];
      }
      const float inv = 1.f / l;
      float* oi = o + ((b + i) * Hq + h) * D;
      for (int64_t d = 0; d < D; ++d) oi[d] = acc[d] * inv;
      lse[(b + i) * Hq + h] = m + std::log(l);
    }
  }
}

ET_CPU_CLONES
void varlen_backward_group(const VarlenDims& dm, const float* q, const float* k, const float* v, const float* o,
                           const float* dout, const float* lse, int64_t b, int64_t e, int64_t g, float* dq, float* dk,
                           float* dv, float* work) {
  const int64_t n = e - b, D = dm.head_dim, Hq = dm.heads_q, Hkv = dm.heads_kv, rep = Hq / Hkv;
  if (n <= 0) return;
  const float scale = dm.scale;
  float* kt = work;          // [D, n]
  float* vt = kt + D * n;    // [D, n]
  float* dkl = vt + D * n;   // [n, D]
  float* dvl = dkl + D * n;  // [n, D]
  float* s = dvl + D * n;    // [n]
  float* dp = s + n;         // [n]
  float* acc = dp + n;       // [D]
  const float* kg = k + (b * Hkv + g) * D;
  const float* vg = v + (b * Hkv + g) * D;
  transpose_rows(kg, Hkv * D, n, D, kt);
  transpose_rows(vg, Hkv * D, n, D, vt);
  std::fill(dkl, dkl + 2 * D * n, 0.f);
  for (int64_t r = 0; r < rep; ++r) {
    const int64_t h = g * rep + r;
    for (int64_t i = 0; i < n; ++i) {
      const int64_t j0 = first_key(i, dm.window), j1 = i + 1;
      const int64_t row = (b + i) * Hq + h;
      const float* qi = q + row * D;
      const float* doi = dout + row * D;
      const float* oi = o + row * D;
      float delta = 0.f;
#pragma omp simd reduction(+ : delta)
      for (int64_t d = 0; d < D; ++d) delta += doi[d] * oi[d];
      const float L = lse[row];
      row_dot(qi, kt, n, D, scale, j0, j1, s);
      row_dot(doi, vt, n, D, 1.f, j0, j1, dp);
#pragma omp simd
      for (int64_t j = j0; j < j1; ++j) {
        const float p = exp_poly(s[j] - L);
        s[j] = p;                            // p_j
        dp[j] = p * (dp[j] - delta) * scale;  // scale * ds_j
      }
      for (int64_t d = 0; d < D; ++d) acc[d] = 0.f;
      for (int64_t j = j0; j < j1; ++j) {
        const float p = s[j], c = dp[j];
        const float* kj = kg + j * Hkv * D;
        float* dvj = dvl + j * D;
        float* dkj = dkl + j * D;
#pragma omp simd
        for (int64_t d = 0; d < D; ++d) {
          dvj[d] += p * doi[d];
          acc[d] += c * kj[d];
          dkj[d] += c * qi[d];
        }
      }
      float* dqi = dq + row * D;
      for (int64_t d = 0; d < D; ++d) dqi[d] = acc[d];
    }
  }
  for (int64_t j = 0; j < n; ++j) {
    std::memcpy(dk + ((b + j) * Hkv + g) * D, dkl + j * D, static_cast<size_t>(D) * sizeof(float));
    std::memcpy(dv + ((b + j) * Hkv + g) * D, dvl + j * D, static_cast<size_t>(D) * sizeof(float));
  }
}

}  // namespace et::ops::cpu
