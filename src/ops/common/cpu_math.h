// Elementary functions for the ops' CPU kernels, written so that a loop calling them vectorizes
// (branch-free, no library calls): inside a `#pragma omp simd` loop run through
// cpu_dispatch.h's run_best they become 8-wide AVX2 + FMA code. Torch-free.
#pragma once
#include <cstdint>
#include <cstring>

#include "ops/common/cpu_dispatch.h"

namespace et::ops::cpu {

// e^x for x clamped to [-87, 88] (no overflow, no denormals): e^x = 2^n e^r with
// n = round(x log2 e) and r = x - n ln 2 in two parts (Cody-Waite: n * ln2_hi is exact, so r
// carries no rounding of x log2 e), |r| <= ln 2 / 2, e^r by its Taylor polynomial of degree 7
// (truncation below 2e-8). Relative error below 5e-7 over the whole range.
ET_CPU_INLINE inline float exp_approx(float x) {
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

// 1 / (1 + e^-x).
ET_CPU_INLINE inline float sigmoid_approx(float x) { return 1.f / (1.f + exp_approx(-x)); }

// tanh(x) = 1 - 2 / (1 + e^(2x)) (absolute error about 1e-7; saturates to +-1).
ET_CPU_INLINE inline float tanh_approx(float x) { return 1.f - 2.f / (1.f + exp_approx(2.f * x)); }

}  // namespace et::ops::cpu
