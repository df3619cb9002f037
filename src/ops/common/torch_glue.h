// The torch side of every op's CUDA glue, once: the kernel element type of a tensor, and the
// current CUDA stream (CUDA libtorch builds).
#pragma once
#include <torch/types.h>

#include "edgetune/core/error.h"
#include "ops/common/elem_type_cuda.h"

namespace et::ops {

// float32 / bfloat16 / float16 -> the launchers' ElemType; any other dtype is an error naming `op`.
inline et::cuda::ElemType elem_type(torch::ScalarType t, const char* op) {
  switch (t) {
    case torch::kFloat32: return et::cuda::ElemType::f32;
    case torch::kBFloat16: return et::cuda::ElemType::bf16;
    case torch::kFloat16: return et::cuda::ElemType::f16;
    default: fail(op, "dtype ", c10::toString(t), " has no CUDA kernel (float32, bfloat16, float16)");
  }
}

}  // namespace et::ops

#ifdef EDGETUNE_TORCH_CUDA
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

namespace et::ops {
inline cudaStream_t current_stream() { return c10::cuda::getCurrentCUDAStream().stream(); }
}  // namespace et::ops
#endif
