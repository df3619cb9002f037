// Plain-loop reference of RMSNorm forward and backward on raw buffers (float32 accumulation).
// Rows are contiguous runs of `cols` values. The math and the transformers numerics it follows
// are derived at the top of rmsnorm.cu:
//   forward   r = 1/sqrt(mean(x^2) + eps), xhat = x*r, g = w + offset
//             offset == 0 (Llama/Qwen): y = R(g * R(xhat));  offset != 0 (Gemma): y = R(xhat * g)
//   backward  dx = r * (dy*g - xhat * mean(dy*g*xhat)),  dw += sum over rows of dy*xhat
// where R rounds to the precision of the op's dtype (`precision`), since transformers casts the
// normalized row to the input dtype before the weight multiply in Llama but not in Gemma.
#pragma once
#include <cstdint>

#include "ops/common/precision.h"

namespace et::ops {

// y [rows*cols], rstd [rows] (may be null).
void rmsnorm_forward_ref(const float* x, const float* w, int64_t rows, int64_t cols, float eps,
                         float offset, Precision precision, float* y, float* rstd);

// dx [rows*cols] (may be null) in float32, not rounded; dw [cols] (may be null) is ACCUMULATED
// into (dw += ...), so a caller can sum row ranges.
void rmsnorm_backward_ref(const float* dy, const float* x, const float* w, const float* rstd,
                          int64_t rows, int64_t cols, float offset, float* dx, float* dw);

// bfloat16 storage (raw bits): converts each row to float32, runs the reference and rounds the
// results to bfloat16. dw stays float32 (accumulated into).
void rmsnorm_forward_ref_bf16(const uint16_t* x, const uint16_t* w, int64_t rows, int64_t cols,
                              float eps, float offset, uint16_t* y, float* rstd);
void rmsnorm_backward_ref_bf16(const uint16_t* dy, const uint16_t* x, const uint16_t* w,
                               const float* rstd, int64_t rows, int64_t cols, float offset,
                               uint16_t* dx, float* dw);

}  // namespace et::ops
