// CUDA launchers that lay out a LoRA group's factors for its two GEMMs, and take their gradients
// apart again, one launch each (lora_linear.h for the math). Without them a group of n members
// costs, per forward, n casts, a concatenation, a zero fill and n block copies, and per backward 2n
// casts of gradient slices: small launches that dominate the host's time on short rows.
//
// Member j (only members with an adapter are listed): A_j [r_j, in], B_j [out_j, r_j], both
// contiguous, scale s_j; rows [row_j, row_j + r_j) of the stacked rank, columns [col_j, col_j +
// out_j) of the group's outputs.
//   pack:    A [R, in]:  A[row_j + a, c] = A_j[a, c]
//            BD [R, out]: BD[row_j + a, col_j + o] = s_j B_j[o, a], zero outside the blocks
//   unpack:  dA_j [r_j, in] = dA[row_j + a, c];  dB_j [out_j, r_j]: dB_j[o, a] = s_j dBD[row_j + a, col_j + o]
// Element types may differ between the factors (src) and the GEMM operands (dst); values pass
// through float32. Asynchronous on `stream`; throw et::Error on bad arguments.
#pragma once
#include <cstdint>

#include "ops/common/elem_type_cuda.h"

namespace et::cuda {

constexpr int kLoraPackMaxMembers = 8;

struct LoraPackTable {
  int members = 0;
  int64_t in = 0, out = 0, rank = 0;  // input features, the group's outputs, the stacked rank R
  int64_t row[kLoraPackMaxMembers] = {}, rank_of[kLoraPackMaxMembers] = {};
  int64_t col[kLoraPackMaxMembers] = {}, out_of[kLoraPackMaxMembers] = {};
  float scale[kLoraPackMaxMembers] = {};
  const void* a[kLoraPackMaxMembers] = {};  // pack: the members' factors
  const void* b[kLoraPackMaxMembers] = {};
  void* da[kLoraPackMaxMembers] = {};  // unpack: the members' gradients
  void* db[kLoraPackMaxMembers] = {};
};

void lora_pack(const LoraPackTable& t, ElemType factors, void* A, void* BD, ElemType operands, cudaStream_t stream);

void lora_unpack(const LoraPackTable& t, const void* dA, const void* dBD, ElemType operands, ElemType factors,
                 cudaStream_t stream);

}  // namespace et::cuda
