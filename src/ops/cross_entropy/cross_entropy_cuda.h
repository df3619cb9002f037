// CUDA launcher of the per-row cross-entropy pass (cross_entropy.h). z: [rows, vocab] of type t
// with row stride ld (elements); targets int64 [rows]; loss float32 [rows]. With want_grad, z is
// overwritten with dL/du = (softmax(cap(z)) - onehot(target)) * cap'(z). Asynchronous on `stream`.
#pragma once
#include <cstdint>

#include "ops/common/elem_type_cuda.h"

namespace et::cuda {

void cross_entropy_rows(void* z, ElemType t, int64_t rows, int64_t vocab, int64_t ld, const int64_t* targets,
                        float softcap, float* loss, bool want_grad, cudaStream_t stream);

}  // namespace et::cuda
