// Helpers shared by the kernels of src/ops/: error checks that throw et::Error with context, the
// launch that checks a kernel against the launch limits, element loads/stores that convert to and
// from float32, and a float32 block sum.
#pragma once
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstddef>
#include <cstdint>
#include <utility>

#include "edgetune/core/error.h"
#include "ops/common/elem_type_cuda.h"
#include "ops/common/launch_limits_cuda.h"

namespace et::cuda {

inline void check_cuda(cudaError_t e, const char* where, const char* what) {
  if (e != cudaSuccess) et::fail(where, what, ": ", cudaGetErrorString(e));
}

// After a launch: configuration errors surface here, asynchronous faults at the next sync.
inline void check_launch(const char* where) {
  check_cuda(cudaGetLastError(), where, "kernel launch failed");
}

// kernel<<<grid, threads, smem, stream>>>(args...), after checking the kernel against the launch
// limits when a profile is imposed (launch_limits_cuda.h); `name` names it in errors.
template <class... P, class... A>
inline void launch_kernel(const char* name, void (*kernel)(P...), dim3 grid, int threads, std::size_t smem,
                          cudaStream_t stream, A&&... args) {
  check_kernel_fits(reinterpret_cast<const void*>(kernel), threads, smem, name);
  kernel<<<grid, static_cast<unsigned>(threads), smem, stream>>>(std::forward<A>(args)...);
}

__device__ __forceinline__ float to_f32(float v) { return v; }
__device__ __forceinline__ float to_f32(__nv_bfloat16 v) { return __bfloat162float(v); }
__device__ __forceinline__ float to_f32(__half v) { return __half2float(v); }

template <class T>
__device__ __forceinline__ T from_f32(float v);
template <>
__device__ __forceinline__ float from_f32<float>(float v) { return v; }
template <>
__device__ __forceinline__ __nv_bfloat16 from_f32<__nv_bfloat16>(float v) {
  return __float2bfloat16_rn(v);
}
template <>
__device__ __forceinline__ __half from_f32<__half>(float v) { return __float2half_rn(v); }

// Rounds v to T's precision and back (the value a T tensor would hold).
template <class T>
__device__ __forceinline__ float round_to(float v) { return to_f32(from_f32<T>(v)); }

// N consecutive values of T read or written as one aligned vector, converted to float32.
template <class T, int N>
struct alignas(sizeof(T) * N) Pack {
  T v[N];
};

template <class T, int N>
__device__ __forceinline__ void load_f32(const T* p, float (&out)[N]) {
  Pack<T, N> a = *reinterpret_cast<const Pack<T, N>*>(p);
#pragma unroll
  for (int k = 0; k < N; ++k) out[k] = to_f32(a.v[k]);
}

template <class T, int N>
__device__ __forceinline__ void store_f32(T* p, const float (&in)[N]) {
  Pack<T, N> a;
#pragma unroll
  for (int k = 0; k < N; ++k) a.v[k] = from_f32<T>(in[k]);
  *reinterpret_cast<Pack<T, N>*>(p) = a;
}

// Sum of v over the block (blockDim.x a multiple of 32, at most 1024); every thread gets it.
// `scratch` is 32 floats of shared memory; the function synchronizes before reusing it.
__device__ __forceinline__ float block_sum(float v, float* scratch) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
  __syncthreads();  // scratch may still be read by a previous call
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  v = lane < warps ? scratch[lane] : 0.f;
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

inline bool aligned_to(const void* p, int bytes) {
  return (reinterpret_cast<uintptr_t>(p) % static_cast<uintptr_t>(bytes)) == 0;
}

}  // namespace et::cuda
