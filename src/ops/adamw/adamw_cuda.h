// CUDA launchers of the multi-tensor AdamW and gradient norm (adamw.h). `table` (device, int64)
// holds per tensor five entries: param, grad, exp_avg, exp_avg_sq addresses (float32) and the
// element count; `chunks` (device, int64) holds per chunk (tensor index, first element), each chunk
// covering chunk_size elements (the last one of a tensor fewer). Asynchronous on `stream`.
#pragma once
#include <cstdint>

#include "ops/common/elem_type_cuda.h"

namespace et::cuda {

// Chunk size the launchers expect.
constexpr int64_t kAdamWChunk = 65536;

// out[0] = sqrt(sum of g^2 over every chunk), out[1] = min(1, max_norm / (out[0] + 1e-6)) (1 when
// max_norm <= 0). partials: n_chunks floats of workspace.
void grad_norm(const int64_t* table, const int64_t* chunks, int64_t n_chunks, float* partials, float max_norm,
               float* out, cudaStream_t stream);

// The AdamW update; grad_scale (device, one float) may be null.
void adamw_update(const int64_t* table, const int64_t* chunks, int64_t n_chunks, float lr, float beta1, float beta2,
                  float eps, float weight_decay, float bias_correction1, float bias_correction2,
                  const float* grad_scale, cudaStream_t stream);

}  // namespace et::cuda
