// CUDA launcher of the RoPE rotation (rope.h for the math). x, y: [n_tokens, heads, head_dim]
// of type t, each token's heads contiguous; positions int64 [n_tokens]; inv_freq float32 [head_dim / 2]. inverse
// rotates by -angle (the backward). Asynchronous on `stream`; throws et::Error on bad arguments.
#pragma once
#include <cstdint>

#include "ops/common/elem_type_cuda.h"

namespace et::cuda {

// x_stride, y_stride: elements from one token to the next (heads * head_dim when contiguous; more
// when the tokens are rows of a wider tensor, such as a fused q/k/v projection's output).
void rope_rotate(const void* x, int64_t x_stride, void* y, int64_t y_stride, ElemType t, const int64_t* positions,
                 const float* inv_freq, int64_t n_tokens, int64_t heads, int64_t head_dim, bool inverse,
                 cudaStream_t stream);

}  // namespace et::cuda
