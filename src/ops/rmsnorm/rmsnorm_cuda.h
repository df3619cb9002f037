// CUDA RMSNorm forward and backward over rows of `cols` contiguous elements (see rmsnorm.cu
// for the math). Buffers are device pointers; x, y, dy, dx have type `xt`, weight and dweight
// type `wt`; rstd and the workspace are float32. Every launcher is asynchronous on `stream` and
// throws et::Error when the arguments are invalid or the launch fails.
#pragma once
#include <cstdint>

#include "ops/common/elem_type_cuda.h"

namespace et::cuda {

// y = x * rstd * (w + offset) per row, rstd = 1 / sqrt(mean(x^2) + eps), statistics in float32.
// offset == 0 (Llama/Qwen): y = T(w * T(x * rstd)), the normalized row is rounded to x's type
// before the weight multiply, as transformers' LlamaRMSNorm does. offset != 0 (Gemma):
// y = T(x * rstd * (offset + w)) in float32, rounded once. rstd (rows floats) may be null.
void rmsnorm_forward(const void* x, ElemType xt, const void* weight, ElemType wt, void* y,
                     float* rstd, int64_t rows, int64_t cols, float eps, float offset,
                     cudaStream_t stream);

// Number of float32 partial-sum rows the backward needs in its workspace: the workspace holds
// rmsnorm_backward_partials(rows) * cols floats.
int64_t rmsnorm_backward_partials(int64_t rows);

// dx = rstd * (dy*g - xhat * mean(dy*g*xhat)), g = w + offset, xhat = x * rstd (rstd from the
// forward); dweight = sum over rows of dy * xhat, reduced deterministically in float32 through
// `workspace`. dweight may be null (no weight gradient), dx may be null.
void rmsnorm_backward(const void* dy, const void* x, ElemType xt, const void* weight, ElemType wt,
                      const float* rstd, void* dx, void* dweight, float* workspace, int64_t rows,
                      int64_t cols, float offset, cudaStream_t stream);

}  // namespace et::cuda
