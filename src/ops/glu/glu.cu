// Fused gated activation (SwiGLU / GeGLU-tanh) forward and backward, element-wise in float32.
//
//   y = act(g) * u
//   SiLU:  s = 1 / (1 + e^-g), act = g s,  act' = s + g s (1 - s) = s (1 + g (1 - s))
//   GELU (tanh): t = tanh(b (g + k g^3)), b = sqrt(2/pi), k = 0.044715,
//          act = g (1 + t) / 2,  act' = (1 + t) / 2 + g (1 - t^2) b (1 + 3 k g^2) / 2
//   dL/dg = dy * u * act'(g),  dL/du = dy * act(g)
// Forward rounding follows transformers (act_fn(gate) rounded to the dtype, then times up).
// Each thread handles one 16-byte vector of every buffer when all are aligned, else one element.
#include "ops/common/cuda_util.cuh"
#include "ops/glu/glu_cuda.h"

#include <algorithm>

namespace et::cuda {
namespace {

constexpr float kBeta = 0.7978845608028654f;
constexpr float kKappa = 0.044715f;

__device__ __forceinline__ float act_fwd(float g, GluAct act) {
  if (act == GluAct::silu) return g / (1.0f + expf(-g));
  return 0.5f * g * (1.0f + tanhf(kBeta * (g + kKappa * g * g * g)));
}

__device__ __forceinline__ float act_grad(float g, GluAct act) {
  if (act == GluAct::silu) {
    const float s = 1.0f / (1.0f + expf(-g));
    return s * (1.0f + g * (1.0f - s));
  }
  const float t = tanhf(kBeta * (g + kKappa * g * g * g));
  return 0.5f * (1.0f + t) + 0.5f * g * (1.0f - t * t) * kBeta * (1.0f + 3.0f * kKappa * g * g);
}

template <class T, int VEC>
__global__ void glu_fwd_kernel(const T* __restrict__ gate, const T* __restrict__ up,
                               T* __restrict__ y, int64_t n_vec, GluAct act) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t v = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; v < n_vec; v += stride) {
    float g[VEC], u[VEC], out[VEC];
    load_f32<T, VEC>(gate + v * VEC, g);
    load_f32<T, VEC>(up + v * VEC, u);
#pragma unroll
    for (int k = 0; k < VEC; ++k) out[k] = round_to<T>(act_fwd(g[k], act)) * u[k];
    store_f32<T, VEC>(y + v * VEC, out);
  }
}

template <class T, int VEC>
__global__ void glu_bwd_kernel(const T* __restrict__ dy, const T* __restrict__ gate,
                               const T* __restrict__ up, T* __restrict__ dgate,
                               T* __restrict__ dup, int64_t n_vec, GluAct act) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t v = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; v < n_vec; v += stride) {
    float d[VEC], g[VEC], u[VEC], dg[VEC], du[VEC];
    load_f32<T, VEC>(dy + v * VEC, d);
    load_f32<T, VEC>(gate + v * VEC, g);
    load_f32<T, VEC>(up + v * VEC, u);
#pragma unroll
    for (int k = 0; k < VEC; ++k) {
      dg[k] = d[k] * u[k] * act_grad(g[k], act);
      du[k] = d[k] * act_fwd(g[k], act);
    }
    if (dgate != nullptr) store_f32<T, VEC>(dgate + v * VEC, dg);
    if (dup != nullptr) store_f32<T, VEC>(dup + v * VEC, du);
  }
}

// Packed layout: vector v covers elements [v*VEC, v*VEC + VEC) of the [rows, f] output, all in one
// row (f % VEC == 0); gate and up of that row lie at r*2f + c and r*2f + f + c.
template <class T, int VEC>
__global__ void glu_fwd_packed_kernel(const T* __restrict__ gu, T* __restrict__ y, int64_t n_vec, int64_t f,
                                      GluAct act) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t v = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; v < n_vec; v += stride) {
    const int64_t e = v * VEC, r = e / f, c = e - r * f;
    float g[VEC], u[VEC], out[VEC];
    load_f32<T, VEC>(gu + r * 2 * f + c, g);
    load_f32<T, VEC>(gu + r * 2 * f + f + c, u);
#pragma unroll
    for (int k = 0; k < VEC; ++k) out[k] = round_to<T>(act_fwd(g[k], act)) * u[k];
    store_f32<T, VEC>(y + e, out);
  }
}

template <class T, int VEC>
__global__ void glu_bwd_packed_kernel(const T* __restrict__ dy, const T* __restrict__ gu, T* __restrict__ dgu,
                                      int64_t n_vec, int64_t f, GluAct act) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t v = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; v < n_vec; v += stride) {
    const int64_t e = v * VEC, r = e / f, c = e - r * f;
    float d[VEC], g[VEC], u[VEC], dg[VEC], du[VEC];
    load_f32<T, VEC>(dy + e, d);
    load_f32<T, VEC>(gu + r * 2 * f + c, g);
    load_f32<T, VEC>(gu + r * 2 * f + f + c, u);
#pragma unroll
    for (int k = 0; k < VEC; ++k) {
      dg[k] = d[k] * u[k] * act_grad(g[k], act);
      du[k] = d[k] * act_fwd(g[k], act);
    }
    store_f32<T, VEC>(dgu + r * 2 * f + c, dg);
    store_f32<T, VEC>(dgu + r * 2 * f + f + c, du);
  }
}

// Grid-stride kernels: two waves of the device's resident blocks (or of the imposed launch
// limits', e.g. Orin's 16 SMs), not a fixed SM count.
int64_t grid_for(int64_t items, int threads) { return grid_stride_blocks(items, threads); }

template <class T>
void forward_typed(const void* gate, const void* up, void* y, int64_t n, GluAct act, cudaStream_t s) {
  constexpr int V = 16 / sizeof(T);
  const int threads = 256;
  auto* g = static_cast<const T*>(gate);
  auto* u = static_cast<const T*>(up);
  auto* o = static_cast<T*>(y);
  int64_t done = 0;
  if (aligned_to(gate, 16) && aligned_to(up, 16) && aligned_to(y, 16) && n >= V) {
    const int64_t nv = n / V;
    launch_kernel("glu_fwd_kernel", glu_fwd_kernel<T, V>, grid_for(nv, threads), threads, 0, s, g, u, o, nv, act);
    done = nv * V;
  }
  if (done < n)
    launch_kernel("glu_fwd_kernel", glu_fwd_kernel<T, 1>, grid_for(n - done, threads), threads, 0, s, g + done, u + done, o + done,
                                                                          n - done, act);
  check_launch("glu_forward");
}

template <class T>
void backward_typed(const void* dy, const void* gate, const void* up, void* dgate, void* dup,
                    int64_t n, GluAct act, cudaStream_t s) {
  constexpr int V = 16 / sizeof(T);
  const int threads = 256;
  auto* d = static_cast<const T*>(dy);
  auto* g = static_cast<const T*>(gate);
  auto* u = static_cast<const T*>(up);
  auto* dg = static_cast<T*>(dgate);
  auto* du = static_cast<T*>(dup);
  int64_t done = 0;
  bool aligned = aligned_to(dy, 16) && aligned_to(gate, 16) && aligned_to(up, 16);
  aligned = aligned && (!dgate || aligned_to(dgate, 16)) && (!dup || aligned_to(dup, 16));
  if (aligned && n >= V) {
    const int64_t nv = n / V;
    launch_kernel("glu_bwd_kernel", glu_bwd_kernel<T, V>, grid_for(nv, threads), threads, 0, s, d, g, u, dg, du, nv, act);
    done = nv * V;
  }
  if (done < n)
    launch_kernel("glu_bwd_kernel", glu_bwd_kernel<T, 1>, grid_for(n - done, threads), threads, 0, s,
        d + done, g + done, u + done, dg ? dg + done : nullptr, du ? du + done : nullptr, n - done, act);
  check_launch("glu_backward");
}

template <class T>
void forward_packed_typed(const void* gu, void* y, int64_t rows, int64_t f, GluAct act, cudaStream_t s) {
  constexpr int V = 16 / sizeof(T);
  const int threads = 256;
  const bool vec = f % V == 0 && aligned_to(gu, 16) && aligned_to(y, 16);
  const int64_t n = rows * f;
  if (vec)
    launch_kernel("glu_fwd_packed_kernel", glu_fwd_packed_kernel<T, V>, grid_for(n / V, threads), threads, 0, s, static_cast<const T*>(gu), static_cast<T*>(y),
                                                                              n / V, f, act);
  else
    launch_kernel("glu_fwd_packed_kernel", glu_fwd_packed_kernel<T, 1>, grid_for(n, threads), threads, 0, s, static_cast<const T*>(gu), static_cast<T*>(y), n,
                                                                          f, act);
  check_launch("glu_forward_packed");
}

template <class T>
void backward_packed_typed(const void* dy, const void* gu, void* dgu, int64_t rows, int64_t f, GluAct act,
                           cudaStream_t s) {
  constexpr int V = 16 / sizeof(T);
  const int threads = 256;
  const bool vec = f % V == 0 && aligned_to(dy, 16) && aligned_to(gu, 16) && aligned_to(dgu, 16);
  const int64_t n = rows * f;
  auto* d = static_cast<const T*>(dy);
  auto* g = static_cast<const T*>(gu);
  auto* o = static_cast<T*>(dgu);
  if (vec)
    launch_kernel("glu_bwd_packed_kernel", glu_bwd_packed_kernel<T, V>, grid_for(n / V, threads), threads, 0, s, d, g, o, n / V, f, act);
  else
    launch_kernel("glu_bwd_packed_kernel", glu_bwd_packed_kernel<T, 1>, grid_for(n, threads), threads, 0, s, d, g, o, n, f, act);
  check_launch("glu_backward_packed");
}

}  // namespace

void glu_forward_packed(const void* gu, void* y, ElemType t, int64_t rows, int64_t f, GluAct act,
                        cudaStream_t stream) {
  ET_CHECK(rows >= 0 && f >= 0, "glu_forward_packed", "bad sizes ", rows, " x ", f);
  if (rows * f == 0) return;
  if (t == ElemType::f32) return forward_packed_typed<float>(gu, y, rows, f, act, stream);
  if (t == ElemType::bf16) return forward_packed_typed<__nv_bfloat16>(gu, y, rows, f, act, stream);
  return forward_packed_typed<__half>(gu, y, rows, f, act, stream);
}

void glu_backward_packed(const void* dy, const void* gu, void* dgu, ElemType t, int64_t rows, int64_t f, GluAct act,
                         cudaStream_t stream) {
  ET_CHECK(rows >= 0 && f >= 0, "glu_backward_packed", "bad sizes ", rows, " x ", f);
  if (rows * f == 0) return;
  if (t == ElemType::f32) return backward_packed_typed<float>(dy, gu, dgu, rows, f, act, stream);
  if (t == ElemType::bf16) return backward_packed_typed<__nv_bfloat16>(dy, gu, dgu, rows, f, act, stream);
  return backward_packed_typed<__half>(dy, gu, dgu, rows, f, act, stream);
}

void glu_forward(const void* gate, const void* up, void* y, ElemType t, int64_t n, GluAct act,
                 cudaStream_t stream) {
  ET_CHECK(n >= 0, "glu_forward", "negative element count ", n);
  if (n == 0) return;
  if (t == ElemType::f32) return forward_typed<float>(gate, up, y, n, act, stream);
  if (t == ElemType::bf16) return forward_typed<__nv_bfloat16>(gate, up, y, n, act, stream);
  return forward_typed<__half>(gate, up, y, n, act, stream);
}

void glu_backward(const void* dy, const void* gate, const void* up, void* dgate, void* dup,
                  ElemType t, int64_t n, GluAct act, cudaStream_t stream) {
  ET_CHECK(n >= 0, "glu_backward", "negative element count ", n);
  if (n == 0) return;
  if (t == ElemType::f32) return backward_typed<float>(dy, gate, up, dgate, dup, n, act, stream);
  if (t == ElemType::bf16) return backward_typed<__nv_bfloat16>(dy, gate, up, dgate, dup, n, act, stream);
  return backward_typed<__half>(dy, gate, up, dgate, dup, n, act, stream);
}

}  // namespace et::cuda
