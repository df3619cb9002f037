// Element types the raw-pointer CUDA launchers accept. A launcher takes `const void*` buffers plus
// an ElemType per buffer, so this header (and its callers) need no CUDA or torch type.
#pragma once

typedef struct CUstream_st* cudaStream_t;  // the CUDA runtime's own definition of the stream handle

namespace et::cuda {

enum class ElemType : int { f32 = 0, bf16 = 1, f16 = 2 };

inline const char* elem_type_name(ElemType t) {
  return t == ElemType::f32 ? "float32" : t == ElemType::bf16 ? "bfloat16" : "float16";
}

}  // namespace et::cuda
