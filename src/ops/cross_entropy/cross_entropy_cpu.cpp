// The CPU row pass of the chunked cross-entropy (cross_entropy_cpu.h). Torch-free.
#include "ops/cross_entropy/cross_entropy_cpu.h"

#include <algorithm>
#include <cmath>

#include "ops/common/cpu_dispatch.h"
#include "ops/common/cpu_math.h"

namespace et::ops::cpu {

namespace {

ET_CPU_INLINE inline void rows(float* z, int64_t n, int64_t V, int64_t ld, const int64_t* targets, float cap,
                               float* loss, bool want_grad) {
  const float inv_cap = cap > 0 ? 1.f / cap : 0.f;
  for (int64_t r = 0; r < n; ++r) {
    float* zr = z + r * ld;
    if (cap > 0) {
#pragma omp simd
      for (int64_t v = 0; v < V; ++v) zr[v] = cap * tanh_approx(zr[v] * inv_cap);
    }
    float m = zr[0];
#pragma omp simd reduction(max : m)
    for (int64_t v = 0; v < V; ++v) m = std::max(m, zr[v]);
    float s = 0.f;
#pragma omp simd reduction(+ : s)
    for (int64_t v = 0; v < V; ++v) s += exp_approx(zr[v] - m);
    const float lse = m + std::log(s);
    const int64_t t = targets[r];
    loss[r] = lse - zr[t];
    if (!want_grad) continue;
    if (cap > 0) {
#pragma omp simd
      for (int64_t v = 0; v < V; ++v) {
        const float c = zr[v] * inv_cap;
        zr[v] = exp_approx(zr[v] - lse) * (1.f - c * c);
      }
      const float c = (lse - loss[r]) * inv_cap;  // the target's capped logit, over cap
      zr[t] -= 1.f - c * c;
    } else {
#pragma omp simd
      for (int64_t v = 0; v < V; ++v) zr[v] = exp_approx(zr[v] - lse);
      zr[t] -= 1.f;
    }
  }
}

}  // namespace

void cross_entropy_rows_f32(float* z, int64_t n, int64_t vocab, int64_t ld, const int64_t* targets, float cap,
                            float* loss, bool want_grad) {
  run_best([&]() ET_CPU_INLINE { rows(z, n, vocab, ld, targets, cap, loss, want_grad); });
}

}  // namespace et::ops::cpu
