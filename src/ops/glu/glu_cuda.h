// CUDA gated activation y = act(gate) * up and its backward (see glu.cu). gate, up, y, dy,
// dgate and dup are device buffers of n elements of type `t`; act 0 = SiLU, 1 = GELU (tanh).
// Asynchronous on `stream`; throws et::Error on invalid arguments or a failed launch.
#pragma once
#include <cstdint>

#include "ops/common/elem_type_cuda.h"

namespace et::cuda {

enum class GluAct : int { silu = 0, gelu_tanh = 1 };

// y = T(T(act(gate)) * up), the two roundings of transformers' act_fn(gate) * up.
void glu_forward(const void* gate, const void* up, void* y, ElemType t, int64_t n, GluAct act,
                 cudaStream_t stream);

// dgate = T(dy * up * act'(gate)), dup = T(dy * act(gate)), in float32 then rounded once;
// either output may be null.
void glu_backward(const void* dy, const void* gate, const void* up, void* dgate, void* dup,
                  ElemType t, int64_t n, GluAct act, cudaStream_t stream);

// The same on the gate/up projections side by side, as one fused GEMM writes them: gu holds rows of
// 2*f values (gate in the first f, up in the last f), y rows of f, dgu rows of 2*f (dgate, dup).
void glu_forward_packed(const void* gu, void* y, ElemType t, int64_t rows, int64_t f, GluAct act,
                        cudaStream_t stream);
void glu_backward_packed(const void* dy, const void* gu, void* dgu, ElemType t, int64_t rows, int64_t f,
                         GluAct act, cudaStream_t stream);

}  // namespace et::cuda
