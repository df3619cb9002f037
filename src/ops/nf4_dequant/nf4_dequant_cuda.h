// CUDA NF4 dequantization (bitsandbytes layout and numerics, see nf4_dequant.cu).
// All pointers are device pointers:
//   packed   uint8 [(numel+1)/2], two 4-bit codes per byte, the first element in the high nibble
//   absmax_q uint8 [ceil(numel/64)], 8-bit index into code8 per 64-element block
//   absmax2  float32 [ceil(blocks/256)], scale of each 256-block of absmax_q
//   code8    float32 [256], the signed dynamic map the absmax was quantized with
// out[i] = OUT(nf4[q_i] * (code8[absmax_q[b]] * absmax2[b/256] + offset)), b = i/64, each product
// and the sum rounded to float32 separately (no fused multiply-add), as bitsandbytes computes it.
#pragma once
#include <cstdint>

#include "ops/common/elem_type_cuda.h"

namespace et::cuda {

void nf4_dequantize(const uint8_t* packed, const uint8_t* absmax_q, const float* absmax2,
                    const float* code8, float offset, int64_t numel, void* out, ElemType out_type,
                    cudaStream_t stream);

}  // namespace et::cuda
