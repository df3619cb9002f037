// RoPE rotation on CUDA (math in rope.h). One thread per (token, rotation pair): it computes the
// angle's cosine and sine once, in float32 with the precise sincosf (angles reach 1e5 radians at
// long positions, where the fast intrinsics lose all accuracy), and rotates that pair in every
// head. Consecutive threads take consecutive pairs of one token, so each head's loads and stores
// are contiguous.
#include "ops/common/cuda_util.cuh"
#include "ops/rope/rope_cuda.h"

namespace et::cuda {
namespace {

template <class T>
__global__ void rope_kernel(const T* __restrict__ x, int64_t xs, T* __restrict__ y, int64_t ys,
                            const int64_t* __restrict__ pos, const float* __restrict__ inv_freq, int64_t n_tokens,
                            int64_t heads, int64_t half, float sign) {
  const int64_t idx = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (idx >= n_tokens * half) return;
  const int64_t n = idx / half, i = idx - n * half;
  float s, c;
  sincosf(static_cast<float>(pos[n]) * inv_freq[i], &s, &c);
  s *= sign;
  const int64_t d = 2 * half;
  const T* xr = x + n * xs;
  T* yr = y + n * ys;
  for (int64_t h = 0; h < heads; ++h) {
    const float a = to_f32(xr[h * d + i]), b = to_f32(xr[h * d + i + half]);
    yr[h * d + i] = from_f32<T>(a * c - b * s);
    yr[h * d + i + half] = from_f32<T>(b * c + a * s);
  }
}

template <class T>
void launch(const void* x, int64_t xs, void* y, int64_t ys, const int64_t* pos, const float* inv_freq, int64_t n,
            int64_t heads, int64_t half, bool inverse, cudaStream_t stream) {
  const int64_t work = n * half;
  const int threads = 256;
  const int64_t blocks = (work + threads - 1) / threads;
  launch_kernel("rope_kernel", rope_kernel<T>, static_cast<unsigned>(blocks), threads, 0, stream,
      static_cast<const T*>(x), xs, static_cast<T*>(y), ys, pos, inv_freq, n, heads, half, inverse ? -1.f : 1.f);
}

}  // namespace

void rope_rotate(const void* x, int64_t xs, void* y, int64_t ys, ElemType t, const int64_t* positions,
                 const float* inv_freq, int64_t n_tokens, int64_t heads, int64_t head_dim, bool inverse,
                 cudaStream_t stream) {
  ET_CHECK(head_dim > 0 && head_dim % 2 == 0, "rope", "head_dim ", head_dim, " must be positive and even");
  ET_CHECK(n_tokens >= 0 && heads > 0, "rope", "bad sizes: ", n_tokens, " tokens, ", heads, " heads");
  ET_CHECK(n_tokens * (head_dim / 2) < (int64_t{1} << 31) * 256, "rope", "too many tokens: ", n_tokens);
  ET_CHECK(xs >= heads * head_dim && ys >= heads * head_dim, "rope", "token strides ", xs, ", ", ys,
           " are shorter than ", heads, " heads of ", head_dim);
  if (n_tokens == 0) return;
  const int64_t half = head_dim / 2;
  switch (t) {
    case ElemType::f32: launch<float>(x, xs, y, ys, positions, inv_freq, n_tokens, heads, half, inverse, stream); break;
    case ElemType::bf16: launch<__nv_bfloat16>(x, xs, y, ys, positions, inv_freq, n_tokens, heads, half, inverse, stream); break;
    case ElemType::f16: launch<__half>(x, xs, y, ys, positions, inv_freq, n_tokens, heads, half, inverse, stream); break;
  }
  check_launch("rope");
}

}  // namespace et::cuda
