// The LoRA group's factor packing and gradient unpacking kernels (lora_pack_cuda.h). Grid-stride
// loops over the outputs; each element finds its member by a scan of at most 8 row ranges.
#include <algorithm>

#include "ops/common/cuda_util.cuh"
#include "ops/lora_linear/lora_pack_cuda.h"

namespace et::cuda {

namespace {

constexpr int kThreads = 256;

__device__ __forceinline__ int member_of_row(const LoraPackTable& t, int64_t i) {
  int j = 0;
  while (j + 1 < t.members && i >= t.row[j + 1]) ++j;
  return j;
}

template <class S, class D>
__global__ void pack_kernel(const LoraPackTable t, D* A, D* BD) {
  const int64_t na = t.rank * t.in, total = na + t.rank * t.out;
  for (int64_t idx = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; idx < total; idx += int64_t{gridDim.x} * blockDim.x) {
    if (idx < na) {
      const int64_t i = idx / t.in, c = idx - i * t.in;
      const int j = member_of_row(t, i);
      A[idx] = from_f32<D>(to_f32(static_cast<const S*>(t.a[j])[(i - t.row[j]) * t.in + c]));
    } else {
      const int64_t e = idx - na, i = e / t.out, c = e - i * t.out;
      const int j = member_of_row(t, i);
      float v = 0.f;
      if (c >= t.col[j] && c < t.col[j] + t.out_of[j])
        v = t.scale[j] * to_f32(static_cast<const S*>(t.b[j])[(c - t.col[j]) * t.rank_of[j] + (i - t.row[j])]);
      BD[e] = from_f32<D>(v);
    }
  }
}

template <class S, class D>
__global__ void unpack_kernel(const LoraPackTable t, const S* dA, const S* dBD, int64_t nb) {
  const int64_t na = t.rank * t.in, total = na + nb;
  for (int64_t idx = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; idx < total; idx += int64_t{gridDim.x} * blockDim.x) {
    if (idx < na) {
      const int64_t i = idx / t.in, c = idx - i * t.in;
      const int j = member_of_row(t, i);
      static_cast<D*>(t.da[j])[(i - t.row[j]) * t.in + c] = from_f32<D>(to_f32(dA[idx]));
    } else {
      int64_t e = idx - na;
      int j = 0;
      while (j + 1 < t.members && e >= t.out_of[j] * t.rank_of[j]) e -= t.out_of[j] * t.rank_of[j], ++j;
      const int64_t o = e / t.rank_of[j], a = e - o * t.rank_of[j];
      static_cast<D*>(t.db[j])[e] = from_f32<D>(t.scale[j] * to_f32(dBD[(t.row[j] + a) * t.out + t.col[j] + o]));
    }
  }
}

unsigned blocks_for(int64_t total) {
  return static_cast<unsigned>(std::max<int64_t>(1, std::min<int64_t>((total + kThreads - 1) / kThreads, 4096)));
}

void check_table(const LoraPackTable& t, const char* where) {
  ET_CHECK(t.members >= 1 && t.members <= kLoraPackMaxMembers && t.in > 0 && t.out > 0 && t.rank > 0, where,
           "bad group: ", t.members, " members, in ", t.in, ", out ", t.out, ", rank ", t.rank);
  int64_t r = 0;
  for (int j = 0; j < t.members; ++j) {
    ET_CHECK(t.row[j] == r && t.rank_of[j] > 0 && t.col[j] >= 0 && t.out_of[j] > 0 && t.col[j] + t.out_of[j] <= t.out,
             where, "member ", j, " does not fit the group");
    r += t.rank_of[j];
  }
  ET_CHECK(r == t.rank, where, "the members' ranks add up to ", r, ", the group has ", t.rank);
}

template <class S>
void pack_from(const LoraPackTable& t, void* A, void* BD, ElemType d, cudaStream_t s) {
  const unsigned g = blocks_for(t.rank * (t.in + t.out));
  switch (d) {
    case ElemType::f32: pack_kernel<S, float><<<g, kThreads, 0, s>>>(t, static_cast<float*>(A), static_cast<float*>(BD)); break;
    case ElemType::bf16: pack_kernel<S, __nv_bfloat16><<<g, kThreads, 0, s>>>(t, static_cast<__nv_bfloat16*>(A), static_cast<__nv_bfloat16*>(BD)); break;
    case ElemType::f16: pack_kernel<S, __half><<<g, kThreads, 0, s>>>(t, static_cast<__half*>(A), static_cast<__half*>(BD)); break;
  }
}

template <class S>
void unpack_from(const LoraPackTable& t, const void* dA, const void* dBD, ElemType d, int64_t nb, cudaStream_t s) {
  const unsigned g = blocks_for(t.rank * t.in + nb);
  const S* a = static_cast<const S*>(dA);
  const S* b = static_cast<const S*>(dBD);
  switch (d) {
    case ElemType::f32: unpack_kernel<S, float><<<g, kThreads, 0, s>>>(t, a, b, nb); break;
    case ElemType::bf16: unpack_kernel<S, __nv_bfloat16><<<g, kThreads, 0, s>>>(t, a, b, nb); break;
    case ElemType::f16: unpack_kernel<S, __half><<<g, kThreads, 0, s>>>(t, a, b, nb); break;
  }
}

}  // namespace

void lora_pack(const LoraPackTable& t, ElemType factors, void* A, void* BD, ElemType operands, cudaStream_t stream) {
  check_table(t, "lora_pack");
  switch (factors) {
    case ElemType::f32: pack_from<float>(t, A, BD, operands, stream); break;
    case ElemType::bf16: pack_from<__nv_bfloat16>(t, A, BD, operands, stream); break;
    case ElemType::f16: pack_from<__half>(t, A, BD, operands, stream); break;
  }
  check_launch("lora_pack");
}

void lora_unpack(const LoraPackTable& t, const void* dA, const void* dBD, ElemType operands, ElemType factors,
                 cudaStream_t stream) {
  check_table(t, "lora_unpack");
  int64_t nb = 0;
  for (int j = 0; j < t.members; ++j) nb += t.out_of[j] * t.rank_of[j];
  switch (operands) {
    case ElemType::f32: unpack_from<float>(t, dA, dBD, factors, nb, stream); break;
    case ElemType::bf16: unpack_from<__nv_bfloat16>(t, dA, dBD, factors, nb, stream); break;
    case ElemType::f16: unpack_from<__half>(t, dA, dBD, factors, nb, stream); break;
  }
  check_launch("lora_unpack");
}

}  // namespace et::cuda
