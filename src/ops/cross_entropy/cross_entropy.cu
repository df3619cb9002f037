// The per-row pass of the fused cross-entropy on CUDA (math in cross_entropy.h): one block per row
// of logits. Pass 1 keeps an online (max, sum of exp) per thread over its strided columns, merged
// across the block; then logsumexp and the row's loss. Pass 2 (training) overwrites the logits with
// softmax - onehot (times the softcap derivative) in place. Loads are 16-byte vectors when the
// row length and alignment allow.
#include <cfloat>

#include "ops/common/cuda_util.cuh"
#include "ops/cross_entropy/cross_entropy_cuda.h"

namespace et::cuda {
namespace {

constexpr int kThreads = 512;

__device__ __forceinline__ float capped(float u, float cap) { return cap > 0.f ? cap * tanhf(u / cap) : u; }

__device__ __forceinline__ void merge(float& m, float& s, float m2, float s2) {
  const float mm = fmaxf(m, m2);
  if (mm == -INFINITY) return;
  s = s * __expf(m - mm) + s2 * __expf(m2 - mm);
  m = mm;
}

template <class T, int VEC>
__global__ void __launch_bounds__(kThreads) ce_rows_kernel(T* __restrict__ z, int64_t vocab, int64_t ld,
                                                           const int64_t* __restrict__ targets, float cap,
                                                           float* __restrict__ loss, bool want_grad) {
  __shared__ float sm[32], ss[32];
  T* row = z + static_cast<int64_t>(blockIdx.x) * ld;
  const int64_t n_vec = vocab / VEC;
  float m = -INFINITY, s = 0.f;
  for (int64_t v = threadIdx.x; v < n_vec; v += blockDim.x) {
    float u[VEC];
    load_f32<T, VEC>(row + v * VEC, u);
#pragma unroll
    for (int k = 0; k < VEC; ++k) {
      const float x = capped(u[k], cap);
      if (x > m) {
        s = s * __expf(m - x) + 1.f;
        m = x;
      } else {
        s += __expf(x - m);
      }
    }
  }
  for (int o = 16; o > 0; o >>= 1) merge(m, s, __shfl_xor_sync(0xffffffffu, m, o), __shfl_xor_sync(0xffffffffu, s, o));
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  if (lane == 0) {
    sm[warp] = m;
    ss[warp] = s;
  }
  __syncthreads();
  if (warp == 0) {
    const int warps = blockDim.x >> 5;
    m = lane < warps ? sm[lane] : -INFINITY;
    s = lane < warps ? ss[lane] : 0.f;
    for (int o = 16; o > 0; o >>= 1) merge(m, s, __shfl_xor_sync(0xffffffffu, m, o), __shfl_xor_sync(0xffffffffu, s, o));
    if (lane == 0) {
      sm[0] = m + logf(s);
    }
  }
  __syncthreads();
  const float lse = sm[0];
  const int64_t t = targets[blockIdx.x];
  if (threadIdx.x == 0) loss[blockIdx.x] = lse - capped(to_f32(row[t]), cap);
  if (!want_grad) return;
  __syncthreads();  // row[t] is read above before any thread overwrites it
  for (int64_t v = threadIdx.x; v < n_vec; v += blockDim.x) {
    float u[VEC];
    load_f32<T, VEC>(row + v * VEC, u);
#pragma unroll
    for (int k = 0; k < VEC; ++k) {
      const float x = capped(u[k], cap);
      float g = expf(x - lse) - (v * VEC + k == t ? 1.f : 0.f);
      if (cap > 0.f) g *= 1.f - (x / cap) * (x / cap);
      u[k] = g;
    }
    store_f32<T, VEC>(row + v * VEC, u);
  }
}

template <class T>
void launch(void* z, int64_t rows, int64_t vocab, int64_t ld, const int64_t* targets, float cap, float* loss,
            bool want_grad, cudaStream_t stream) {
  constexpr int vec = 16 / sizeof(T);
  T* p = static_cast<T*>(z);
  const bool vectorized = vocab % vec == 0 && ld % vec == 0 && aligned_to(z, 16);
  if (vectorized)
    launch_kernel("ce_rows_kernel", ce_rows_kernel<T, vec>, static_cast<unsigned>(rows), kThreads, 0, stream, p, vocab, ld, targets, cap, loss, want_grad);
  else
    launch_kernel("ce_rows_kernel", ce_rows_kernel<T, 1>, static_cast<unsigned>(rows), kThreads, 0, stream, p, vocab, ld, targets, cap, loss, want_grad);
}

}  // namespace

void cross_entropy_rows(void* z, ElemType t, int64_t rows, int64_t vocab, int64_t ld, const int64_t* targets,
                        float softcap, float* loss, bool want_grad, cudaStream_t stream) {
  ET_CHECK(rows >= 0 && vocab > 0 && ld >= vocab, "cross_entropy", "bad sizes: ", rows, " rows of ", vocab,
           " logits, row stride ", ld);
  ET_CHECK(rows < (int64_t{1} << 31), "cross_entropy", "too many rows: ", rows);
  if (rows == 0) return;
  switch (t) {
    case ElemType::f32: launch<float>(z, rows, vocab, ld, targets, softcap, loss, want_grad, stream); break;
    case ElemType::bf16: launch<__nv_bfloat16>(z, rows, vocab, ld, targets, softcap, loss, want_grad, stream); break;
    case ElemType::f16: launch<__half>(z, rows, vocab, ld, targets, softcap, loss, want_grad, stream); break;
  }
  check_launch("cross_entropy");
}

}  // namespace et::cuda
