// CUDA launcher of the RoPE rotation (rope.h for the math). x, y: [n_tokens, heads, head_dim]
// contiguous of type t; positions int64 [n_tokens]; inv_freq float32 [head_dim / 2]. inverse
// rotates by -angle (the backward). Asynchronous on `stream`; throws et::Error on bad arguments.
#pragma once
#include <cstdint>

#include "ops/common/elem_type_cuda.h"

namespace et::cuda {

void rope_rotate(const void* x, void* y, ElemType t, const int64_t* positions, const float* inv_freq,
                 int64_t n_tokens, int64_t heads, int64_t head_dim, bool inverse, cudaStream_t stream);

}  // namespace et::cuda
