// Fused gated MLP activation y = act(gate) * up: SwiGLU (SiLU; Llama, Qwen) or GeGLU with the
// tanh-approximated GELU (Gemma's gelu_pytorch_tanh). Rounding follows transformers:
// act_fn(gate) is rounded to the input dtype, then multiplied by up and rounded again.
#pragma once
#include <torch/types.h>

#include "ops/glu/glu_ref.h"

namespace et::ops {

// Differentiable; saves gate and up (the MLP pre-activations) and recomputes act in the backward
// (dgate = dy * up * act'(gate), dup = dy * act(gate), in float32, rounded once to the dtype).
// gate, up: same shape, dtype (float32, bfloat16, float16) and device. CUDA tensors use the CUDA
// kernels (CUDA libtorch builds), CPU tensors the multi-threaded reference, others torch ops.
torch::Tensor glu(const torch::Tensor& gate, const torch::Tensor& up, GluActivation act);

// The same on gate and up side by side in one tensor gu [..., 2f] (gate in the first f columns, up
// in the last f), as a fused gate/up projection writes them; returns [..., f]. The backward writes
// the gradient of gu whole ([..., 2f]), so the projection's backward gets one contiguous tensor.
// The reference splits gu and calls glu.
torch::Tensor glu_packed(const torch::Tensor& gu, GluActivation act);

}  // namespace et::ops
