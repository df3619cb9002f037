// The precision of an op's storage dtype, for reference loops that compute on float32 buffers but
// must round where the real op rounds (an intermediate cast to bfloat16, say).
#pragma once
#include "edgetune/core/dtype.h"

namespace et::ops {

enum class Precision { f32, bf16, f16 };

// Rounds v to `p` and back to float32 (round to nearest even).
inline float round_to(float v, Precision p) {
  if (p == Precision::bf16) return bf16_to_f32(f32_to_bf16(v));
  if (p == Precision::f16) return f16_to_f32(f32_to_f16(v));
  return v;
}

}  // namespace et::ops
