// Plain-loop reference of the gated MLP activation y = act(gate) * up and its backward, on raw
// float32 buffers (derivatives at the top of glu.cu). act is SiLU (SwiGLU: Llama, Qwen) or
// GELU with the tanh approximation (GeGLU: Gemma's gelu_pytorch_tanh).
#pragma once
#include <cstdint>

#include "ops/common/precision.h"

namespace et::ops {

enum class GluActivation { silu, gelu_tanh };

// act(g) and its derivative in float32.
float glu_act(float g, GluActivation act);
float glu_act_grad(float g, GluActivation act);

// y = R(R(act(gate)) * up), R rounding to `precision`: transformers applies the activation to the
// gate tensor (one rounding to its dtype) and then multiplies by up (a second rounding).
void glu_forward_ref(const float* gate, const float* up, int64_t n, GluActivation act,
                     Precision precision, float* y);

// dgate = dy * up * act'(gate), dup = dy * act(gate), in float32 (either output may be null).
void glu_backward_ref(const float* dy, const float* gate, const float* up, int64_t n,
                      GluActivation act, float* dgate, float* dup);

}  // namespace et::ops
