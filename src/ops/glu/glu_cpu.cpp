// The vectorized CPU loops of the gated activation (glu_cpu.h). Torch-free.
//
// Everything from one exponential per value, in forms without cancellation:
//   SiLU:  e = exp(-g), s = 1 / (1 + e):  act = g s,  act' = s (1 + g e s)     (1 - s = e s)
//   GELU (tanh): u = beta (g + kappa g^3) (clamped to +-40: no overflow, no denormals),
//          e = exp(2u), w = 1 / (1 + e):  1 + tanh u = 2 e w,  1 - tanh u = 2 w,
//          act = g e w,  act' = e w + 2 g e w^2 beta (1 + 3 kappa g^2)
#include "ops/glu/glu_cpu.h"

#include "ops/common/cpu_dispatch.h"
#include "ops/common/cpu_math.h"

namespace et::ops::cpu {

namespace {

constexpr float kBeta = 0.7978845608028654f;  // sqrt(2 / pi)
constexpr float kKappa = 0.044715f;

struct ActGrad {
  float act, grad;
};

ET_CPU_INLINE inline ActGrad silu(float g) {
  const float e = exp_approx(-g), s = 1.f / (1.f + e);
  return {g * s, s * (1.f + g * e * s)};
}

ET_CPU_INLINE inline ActGrad gelu_tanh(float g) {
  float u = kBeta * (g + kKappa * g * g * g);
  u = u < -40.f ? -40.f : (u > 40.f ? 40.f : u);
  const float e = exp_approx(2.f * u), w = 1.f / (1.f + e), ew = e * w;
  return {g * ew, ew + 2.f * g * ew * w * kBeta * (1.f + 3.f * kKappa * g * g)};
}

template <ActGrad (*F)(float)>
ET_CPU_INLINE inline void forward_loop(const float* gate, const float* up, int64_t n, float* y) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) y[i] = F(gate[i]).act * up[i];
}

template <ActGrad (*F)(float)>
ET_CPU_INLINE inline void backward_loop(const float* dy, const float* gate, const float* up, int64_t n,
                                                         float* dgate, float* dup) {
  if (dgate && dup) {
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) {
      const ActGrad a = F(gate[i]);
      dgate[i] = dy[i] * up[i] * a.grad;
      dup[i] = dy[i] * a.act;
    }
  } else if (dgate) {
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) dgate[i] = dy[i] * up[i] * F(gate[i]).grad;
  } else if (dup) {
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) dup[i] = dy[i] * F(gate[i]).act;
  }
}

}  // namespace

void glu_forward_f32(const float* gate, const float* up, int64_t n, GluActivation act, float* y) {
  run_best([&]() ET_CPU_INLINE {
    if (act == GluActivation::silu)
      forward_loop<silu>(gate, up, n, y);
    else
      forward_loop<gelu_tanh>(gate, up, n, y);
  });
}

void glu_backward_f32(const float* dy, const float* gate, const float* up, int64_t n, GluActivation act,
                      float* dgate, float* dup) {
  run_best([&]() ET_CPU_INLINE {
    if (act == GluActivation::silu)
      backward_loop<silu>(dy, gate, up, n, dgate, dup);
    else
      backward_loop<gelu_tanh>(dy, gate, up, n, dgate, dup);
  });
}

}  // namespace et::ops::cpu
