// RMSNorm: y = x / sqrt(mean(x^2) + eps) * (weight + offset), over the last dimension.
// offset is 0 for Llama/Qwen and 1 for Gemma (whose weights are stored as w - 1).
// Statistics are computed in float32 whatever the input dtype; the result has x's dtype.
#pragma once
#include <torch/types.h>

namespace et::kernels {

// Differentiable (autograd) RMSNorm. Dispatches to the CUDA kernel for CUDA tensors when built
// with a CUDA libtorch, to the CPU path otherwise.
torch::Tensor rmsnorm(const torch::Tensor& x, const torch::Tensor& weight, double eps,
                      double offset = 0.0);

}  // namespace et::kernels
