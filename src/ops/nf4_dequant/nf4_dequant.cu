// NF4 dequantization kernel with bitsandbytes' numerics (dequantize_4bit with a nested absmax).
//
// bitsandbytes computes, for element i of 64-block b = i / 64:
//   absmax_b = code8[absmax_q[b]] * absmax2[b / 256]   (kDequantizeBlockwise, float32)
//   absmax_b = absmax_b + offset                       (torch add, float32)
//   out_i    = OUT(nf4[q_i] * absmax_b)                (kDequantizeBlockwise NF4, float32 product
//                                                       converted to the output type, round to
//                                                       nearest even)
// Each product and sum is rounded separately; __fmul_rn/__fadd_rn keep nvcc from contracting
// them into a fused multiply-add, which would change the last bit.
//
// Layout: each thread decodes 16 consecutive elements (8 packed bytes, one 8-byte load) that lie
// inside one 64-block, so it computes its block's absmax once; it writes them with 16-byte stores.
// The tail group, and buffers that are not aligned for vector access, take a per-element kernel.
#include "ops/common/cuda_util.cuh"
#include "ops/nf4_dequant/nf4_dequant_cuda.h"

namespace et::cuda {
namespace {

// bitsandbytes' NF4 code values (get_4bit_type("nf4") / dDequantizeNF4).
__constant__ float kNf4Code[16] = {
    -1.0f,
    -0.6961928009986877f,
    -0.5250730514526367f,
    -0.39491748809814453f,
    -0.28444138169288635f,
    -0.18477343022823334f,
    -0.09105003625154495f,
    0.0f,
    0.07958029955625534f,
    0.16093020141124725f,
    0.24611230194568634f,
    0.33791524171829224f,
    0.44070982933044434f,
    0.5626170039176941f,
    0.7229568362236023f,
    1.0f,
};

constexpr int kGroup = 16;  // elements per thread in the vector kernel; divides the block of 64
static_assert(64 % kGroup == 0, "a thread's group must not straddle two 64-element blocks");

__device__ __forceinline__ float block_absmax(const uint8_t* absmax_q, const float* absmax2,
                                              const float* code8, float offset, int64_t block) {
  const float c = __ldg(code8 + __ldg(absmax_q + block));
  return __fadd_rn(__fmul_rn(c, __ldg(absmax2 + block / 256)), offset);
}

template <class OUT>
__global__ void nf4_dequant_vec_kernel(const uint8_t* __restrict__ packed,
                                       const uint8_t* __restrict__ absmax_q,
                                       const float* __restrict__ absmax2,
                                       const float* __restrict__ code8, float offset,
                                       int64_t full_groups, OUT* __restrict__ out) {
  __shared__ float lut[16];
  if (threadIdx.x < 16) lut[threadIdx.x] = kNf4Code[threadIdx.x];
  __syncthreads();
  const int64_t g = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (g >= full_groups) return;
  const int64_t e0 = g * kGroup;
  const float a = block_absmax(absmax_q, absmax2, code8, offset, e0 / 64);
  const uint2 bytes = __ldg(reinterpret_cast<const uint2*>(packed) + g);
  const uint32_t words[2] = {bytes.x, bytes.y};
  alignas(16) OUT v[kGroup];
#pragma unroll
  for (int k = 0; k < 8; ++k) {
    const uint32_t byte = (words[k / 4] >> (8 * (k % 4))) & 0xffu;  // little-endian byte k
    v[2 * k] = from_f32<OUT>(__fmul_rn(lut[byte >> 4], a));
    v[2 * k + 1] = from_f32<OUT>(__fmul_rn(lut[byte & 0xfu], a));
  }
  uint4* dst = reinterpret_cast<uint4*>(out + e0);
  const uint4* src = reinterpret_cast<const uint4*>(v);
#pragma unroll
  for (int k = 0; k < static_cast<int>(sizeof(v) / 16); ++k) dst[k] = src[k];
}

template <class OUT>
__global__ void nf4_dequant_scalar_kernel(const uint8_t* __restrict__ packed,
                                          const uint8_t* __restrict__ absmax_q,
                                          const float* __restrict__ absmax2,
                                          const float* __restrict__ code8, float offset,
                                          int64_t begin, int64_t numel, OUT* __restrict__ out) {
  const int64_t i = begin + static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= numel) return;
  const float a = block_absmax(absmax_q, absmax2, code8, offset, i / 64);
  const uint8_t byte = __ldg(packed + i / 2);
  const uint8_t q = (i % 2 == 0) ? (byte >> 4) : (byte & 0xfu);
  out[i] = from_f32<OUT>(__fmul_rn(kNf4Code[q], a));
}

template <class OUT>
void launch(const uint8_t* packed, const uint8_t* absmax_q, const float* absmax2,
            const float* code8, float offset, int64_t numel, void* out_v, cudaStream_t stream) {
  OUT* out = static_cast<OUT*>(out_v);
  const int threads = 256;
  int64_t done = 0;
  if (aligned_to(packed, 8) && aligned_to(out, 16)) {
    const int64_t groups = numel / kGroup;
    if (groups > 0) {
      const int64_t blocks = (groups + threads - 1) / threads;
      launch_kernel("nf4_dequant_vec_kernel", nf4_dequant_vec_kernel<OUT>, blocks, threads, 0, stream, packed, absmax_q, absmax2,
                                                                    code8, offset, groups, out);
      check_launch("nf4_dequantize");
    }
    done = groups * kGroup;
  }
  const int64_t rest = numel - done;
  if (rest > 0) {
    const int64_t blocks = (rest + threads - 1) / threads;
    launch_kernel("nf4_dequant_scalar_kernel", nf4_dequant_scalar_kernel<OUT>, blocks, threads, 0, stream, packed, absmax_q, absmax2,
                                                                     code8, offset, done, numel, out);
    check_launch("nf4_dequantize");
  }
}

}  // namespace

void nf4_dequantize(const uint8_t* packed, const uint8_t* absmax_q, const float* absmax2,
                    const float* code8, float offset, int64_t numel, void* out, ElemType out_type,
                    cudaStream_t stream) {
  ET_CHECK(numel >= 0, "nf4_dequantize", "negative element count ", numel);
  if (numel == 0) return;
  ET_CHECK(packed && absmax_q && absmax2 && code8 && out, "nf4_dequantize", "null buffer");
  switch (out_type) {
    case ElemType::f32:
      return launch<float>(packed, absmax_q, absmax2, code8, offset, numel, out, stream);
    case ElemType::bf16:
      return launch<__nv_bfloat16>(packed, absmax_q, absmax2, code8, offset, numel, out, stream);
    case ElemType::f16:
      return launch<__half>(packed, absmax_q, absmax2, code8, offset, numel, out, stream);
  }
  et::fail("nf4_dequantize", "unknown output type ", static_cast<int>(out_type));
}

}  // namespace et::cuda
