// RMSNorm: y = x / sqrt(mean(x^2) + eps) * (weight + offset), over the last dimension.
// offset is 0 for Llama/Qwen and 1 for Gemma (whose weights are stored as w - 1).
// Statistics are computed in float32 whatever the input dtype; the result has x's dtype.
// Rounding follows transformers: with offset == 0 the normalized row is rounded to x's dtype
// before the weight multiply (LlamaRMSNorm); with offset != 0 the product with (offset + w) is
// taken in float32 and rounded once (GemmaRMSNorm). For float32 inputs both are the same.
#pragma once
#include <torch/types.h>

namespace et::ops {

// Differentiable (autograd) RMSNorm with an analytic backward that saves x and the per-row
// rstd. Dispatches to the CUDA kernels for CUDA tensors when built with a CUDA libtorch, to the
// multi-threaded CPU reference for CPU tensors, and to plain torch ops elsewhere.
// x: float32, bfloat16 or float16, any shape [..., n]; weight: [n], any floating dtype, same device.
torch::Tensor rmsnorm(const torch::Tensor& x, const torch::Tensor& weight, double eps,
                      double offset = 0.0);

}  // namespace et::ops
