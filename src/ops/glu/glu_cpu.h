// The CPU fast path of the gated activation in float32 (glu.h; derivatives in glu.cu): the same
// formulas as the reference loops (glu_ref.h) with exp and tanh from ops/common/cpu_math.h, so
// the loops vectorize (AVX2 + FMA where the CPU has them). Torch-free; the caller splits the
// work over threads. Lower-precision dtypes take the reference loops (they round in between).
#pragma once
#include <cstdint>

#include "ops/glu/glu_ref.h"

namespace et::ops::cpu {

// y = act(gate) * up over n values.
void glu_forward_f32(const float* gate, const float* up, int64_t n, GluActivation act, float* y);

// dgate = dy * up * act'(gate), dup = dy * act(gate) (either output may be null).
void glu_backward_f32(const float* dy, const float* gate, const float* up, int64_t n, GluActivation act,
                      float* dgate, float* dup);

}  // namespace et::ops::cpu
