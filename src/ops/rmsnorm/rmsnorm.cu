// RMSNorm forward and backward kernels; statistics and gradients accumulate in float32.
//
// Forward, per row of N elements (g = w + offset):
//   r = 1 / sqrt(mean(x^2) + eps),  xhat = x * r,  y = xhat * g
// Llama/Qwen (offset 0) round xhat to x's dtype before the weight multiply, Gemma (offset != 0)
// multiplies in float32 and rounds once (transformers' LlamaRMSNorm vs GemmaRMSNorm).
//
// Backward, with s = sum_j x_j^2 / N + eps and r = s^(-1/2):
//   dr/dx_i = -1/2 s^(-3/2) * 2 x_i / N = -r^3 x_i / N
//   dL/dx_i = sum_j dy_j g_j d(x_j r)/dx_i = r dy_i g_i - (r^3 x_i / N) sum_j dy_j g_j x_j
//           = r * (dy_i g_i - xhat_i * mean_j(dy_j g_j xhat_j))
//   dL/dw_i = sum over rows of dy_i * xhat_i
// The rounding of xhat in the Llama forward is treated as the identity in the backward, as
// autograd treats the dtype cast. Only x and the per-row r are needed from the forward.
//
// Layout: the forward runs one block per row. The backward runs P = min(rows, 512, 4 x SMs) blocks, block b
// taking rows b, b+P, ...; each thread owns the same columns in every row, so it accumulates its
// dweight partial sums in its own slots of workspace[b][:] without atomics; a second kernel adds
// the P partial rows in a fixed order (deterministic). Rows whose length is a multiple of the
// vector width and whose buffers are 16-byte aligned use 16-byte vector loads. Rows of up to 16
// values per thread at 512 threads (8192 values when vectorized) keep their values, the weights
// and the dweight partial sums in registers; longer rows loop over global memory.
#include "ops/common/cuda_util.cuh"
#include "ops/rmsnorm/rmsnorm_cuda.h"

#include <algorithm>
#include <climits>

namespace et::cuda {
namespace {

constexpr int kRegThreads = 512;  // block size limit of the register-resident kernels

template <class TX, class TW, int VEC>
__global__ void rmsnorm_fwd_kernel(const TX* __restrict__ x, const TW* __restrict__ w,
                                   TX* __restrict__ y, float* __restrict__ rstd, int cols,
                                   float eps, float offset, bool llama) {
  __shared__ float scratch[32];
  const int64_t row = blockIdx.x;
  const TX* xr = x + row * cols;
  TX* yr = y + row * cols;
  const int step = blockDim.x * VEC;

  float ss = 0.f;
  for (int c = threadIdx.x * VEC; c < cols; c += step) {
    float v[VEC];
    load_f32<TX, VEC>(xr + c, v);
#pragma unroll
    for (int k = 0; k < VEC; ++k) ss += v[k] * v[k];
  }
  ss = block_sum(ss, scratch);
  const float r = rsqrtf(ss / static_cast<float>(cols) + eps);
  if (rstd != nullptr && threadIdx.x == 0) rstd[row] = r;

  for (int c = threadIdx.x * VEC; c < cols; c += step) {
    float v[VEC], g[VEC], out[VEC];
    load_f32<TX, VEC>(xr + c, v);
    load_f32<TW, VEC>(w + c, g);
#pragma unroll
    for (int k = 0; k < VEC; ++k) {
      const float xhat = v[k] * r;
      out[k] = llama ? g[k] * round_to<TX>(xhat) : xhat * (offset + g[k]);
    }
    store_f32<TX, VEC>(yr + c, out);
  }
}

template <class TX, class TW, int VEC>
__global__ void rmsnorm_bwd_kernel(const TX* __restrict__ dy, const TX* __restrict__ x,
                                   const TW* __restrict__ w, const float* __restrict__ rstd,
                                   TX* __restrict__ dx, float* __restrict__ partial, int64_t rows,
                                   int cols, float offset) {
  __shared__ float scratch[32];
  const int step = blockDim.x * VEC;
  const float inv_cols = 1.f / static_cast<float>(cols);
  float* pr = partial != nullptr ? partial + static_cast<int64_t>(blockIdx.x) * cols : nullptr;
  bool first = true;
  for (int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
    const TX* xr = x + row * cols;
    const TX* dyr = dy + row * cols;
    const float r = rstd[row];

    float dot = 0.f;
    for (int c = threadIdx.x * VEC; c < cols; c += step) {
      float xv[VEC], dv[VEC], g[VEC];
      load_f32<TX, VEC>(xr + c, xv);
      load_f32<TX, VEC>(dyr + c, dv);
      load_f32<TW, VEC>(w + c, g);
#pragma unroll
      for (int k = 0; k < VEC; ++k) dot += dv[k] * (g[k] + offset) * (xv[k] * r);
    }
    const float mean_dot = block_sum(dot, scratch) * inv_cols;

    for (int c = threadIdx.x * VEC; c < cols; c += step) {
      float xv[VEC], dv[VEC], g[VEC], out[VEC];
      load_f32<TX, VEC>(xr + c, xv);
      load_f32<TX, VEC>(dyr + c, dv);
      load_f32<TW, VEC>(w + c, g);
#pragma unroll
      for (int k = 0; k < VEC; ++k) {
        const float xhat = xv[k] * r;
        out[k] = r * (dv[k] * (g[k] + offset) - xhat * mean_dot);
        if (pr != nullptr) {
          const float contrib = dv[k] * xhat;
          pr[c + k] = first ? contrib : pr[c + k] + contrib;
        }
      }
      if (dx != nullptr) store_f32<TX, VEC>(dx + row * cols + c, out);
    }
    first = false;
  }
}

// Register-resident variants for rows of at most NV vectors per thread: each thread loads its
// columns of x (and dy) once per row, keeps its weights in registers across rows and, in the
// backward, accumulates its dweight partial sums in registers, writing them once at the end.
template <class TX, class TW, int VEC, int NV>
__global__ void __launch_bounds__(kRegThreads)
    rmsnorm_fwd_reg_kernel(const TX* __restrict__ x, const TW* __restrict__ w,
                                       TX* __restrict__ y, float* __restrict__ rstd, int cols,
                                       float eps, float offset, bool llama) {
  __shared__ float scratch[32];
  const int64_t row = blockIdx.x;
  const TX* xr = x + row * cols;
  float v[NV][VEC];
  float ss = 0.f;
#pragma unroll
  for (int i = 0; i < NV; ++i) {
    const int c = (threadIdx.x + i * blockDim.x) * VEC;
    if (c < cols) {
      load_f32<TX, VEC>(xr + c, v[i]);
#pragma unroll
      for (int k = 0; k < VEC; ++k) ss += v[i][k] * v[i][k];
    }
  }
  ss = block_sum(ss, scratch);
  const float r = rsqrtf(ss / static_cast<float>(cols) + eps);
  if (rstd != nullptr && threadIdx.x == 0) rstd[row] = r;
#pragma unroll
  for (int i = 0; i < NV; ++i) {
    const int c = (threadIdx.x + i * blockDim.x) * VEC;
    if (c < cols) {
      float g[VEC], out[VEC];
      load_f32<TW, VEC>(w + c, g);
#pragma unroll
      for (int k = 0; k < VEC; ++k) {
        const float xhat = v[i][k] * r;
        out[k] = llama ? g[k] * round_to<TX>(xhat) : xhat * (offset + g[k]);
      }
      store_f32<TX, VEC>(y + row * cols + c, out);
    }
  }
}

template <class TX, class TW, int VEC, int NV>
__global__ void __launch_bounds__(kRegThreads)
    rmsnorm_bwd_reg_kernel(const TX* __restrict__ dy, const TX* __restrict__ x,
                                       const TW* __restrict__ w, const float* __restrict__ rstd,
                                       TX* __restrict__ dx, float* __restrict__ partial,
                                       int64_t rows, int cols, float offset) {
  __shared__ float scratch[32];
  const float inv_cols = 1.f / static_cast<float>(cols);
  float g[NV][VEC], acc[NV][VEC];
#pragma unroll
  for (int i = 0; i < NV; ++i) {
    const int c = (threadIdx.x + i * blockDim.x) * VEC;
    if (c < cols) load_f32<TW, VEC>(w + c, g[i]);
#pragma unroll
    for (int k = 0; k < VEC; ++k) {
      g[i][k] = g[i][k] + offset;
      acc[i][k] = 0.f;
    }
  }
  for (int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
    const float r = rstd[row];
    float xv[NV][VEC], dv[NV][VEC];
    float dot = 0.f;
#pragma unroll
    for (int i = 0; i < NV; ++i) {
      const int c = (threadIdx.x + i * blockDim.x) * VEC;
      if (c < cols) {
        load_f32<TX, VEC>(x + row * cols + c, xv[i]);
        load_f32<TX, VEC>(dy + row * cols + c, dv[i]);
#pragma unroll
        for (int k = 0; k < VEC; ++k) dot += dv[i][k] * g[i][k] * (xv[i][k] * r);
      }
    }
    const float mean_dot = block_sum(dot, scratch) * inv_cols;
#pragma unroll
    for (int i = 0; i < NV; ++i) {
      const int c = (threadIdx.x + i * blockDim.x) * VEC;
      if (c < cols) {
        float out[VEC];
#pragma unroll
        for (int k = 0; k < VEC; ++k) {
          const float xhat = xv[i][k] * r;
          out[k] = r * (dv[i][k] * g[i][k] - xhat * mean_dot);
          acc[i][k] += dv[i][k] * xhat;
        }
        if (dx != nullptr) store_f32<TX, VEC>(dx + row * cols + c, out);
      }
    }
  }
  if (partial == nullptr) return;
#pragma unroll
  for (int i = 0; i < NV; ++i) {
    const int c = (threadIdx.x + i * blockDim.x) * VEC;
    if (c < cols)
#pragma unroll
      for (int k = 0; k < VEC; ++k) partial[static_cast<int64_t>(blockIdx.x) * cols + c + k] = acc[i][k];
  }
}

template <class TW>
__global__ void reduce_partials_kernel(const float* __restrict__ partial, int64_t parts, int cols,
                                       TW* __restrict__ dw) {
  const int c = blockIdx.x * blockDim.x + threadIdx.x;
  if (c >= cols) return;
  float s = 0.f;
  for (int64_t p = 0; p < parts; ++p) s += partial[p * cols + c];
  dw[c] = from_f32<TW>(s);
}

int threads_for(int64_t vecs_per_row) {
  int64_t t = (vecs_per_row + 31) / 32 * 32;
  return static_cast<int>(std::clamp<int64_t>(t, 32, 1024));
}

// 16-byte loads of x-typed buffers (4 floats or 8 halves) when every row starts aligned; the
// weight, read with the same number of elements, must then be aligned to its own vector size.
template <class TX, class TW>
int vec_width(int64_t cols, const void* w, std::initializer_list<const void*> xs) {
  constexpr int v = 16 / sizeof(TX);
  if (cols % v != 0 || !aligned_to(w, static_cast<int>(sizeof(TW)) * v)) return 1;
  for (const void* p : xs)
    if (p != nullptr && !aligned_to(p, 16)) return 1;
  return v;
}

// Vectors per thread held in registers for a row of `vecs` vectors of `vec` values: 1, 2 or 4,
// at most 16 values per thread and kRegThreads threads (the backward then needs about 4 x 16
// registers for values); 0 when the row is longer, for the looping kernels.
int regs_per_thread(int64_t vecs, int vec) {
  for (int nv : {1, 2, 4})
    if (nv * vec <= 16 && vecs <= int64_t{kRegThreads} * nv) return nv;
  return 0;
}

template <class TX, class TW, int VEC>
void forward_vec(const TX* x, const TW* w, TX* y, float* rstd, int64_t rows, int cols, float eps,
                 float offset, cudaStream_t stream) {
  const bool llama = offset == 0.f;
  const int64_t vecs = cols / VEC;
  const int nv = regs_per_thread(vecs, VEC);
  const int threads = threads_for(nv == 0 ? vecs : (vecs + nv - 1) / nv);
  // (nv * VEC <= 16 always holds for the nv chosen; `if constexpr` skips impossible kernels.)
  if (nv == 1)
    launch_kernel("rmsnorm_fwd_reg_kernel", rmsnorm_fwd_reg_kernel<TX, TW, VEC, 1>, rows, threads, 0, stream, x, w, y, rstd, cols, eps, offset, llama);
  else if constexpr (VEC * 2 <= 16) {
    if (nv == 2)
      launch_kernel("rmsnorm_fwd_reg_kernel", rmsnorm_fwd_reg_kernel<TX, TW, VEC, 2>, rows, threads, 0, stream, x, w, y, rstd, cols, eps, offset, llama);
    else if constexpr (VEC * 4 <= 16) {
      if (nv == 4)
        launch_kernel("rmsnorm_fwd_reg_kernel", rmsnorm_fwd_reg_kernel<TX, TW, VEC, 4>, rows, threads, 0, stream, x, w, y, rstd, cols, eps, offset, llama);
    }
  }
  if (nv == 0)
    launch_kernel("rmsnorm_fwd_kernel", rmsnorm_fwd_kernel<TX, TW, VEC>, rows, threads, 0, stream, x, w, y, rstd, cols, eps, offset, llama);
  check_launch("rmsnorm_forward");
}

template <class TX, class TW>
void forward_typed(const void* x, const void* w, void* y, float* rstd, int64_t rows, int cols,
                   float eps, float offset, cudaStream_t stream) {
  auto* xp = static_cast<const TX*>(x);
  auto* wp = static_cast<const TW*>(w);
  auto* yp = static_cast<TX*>(y);
  if (vec_width<TX, TW>(cols, w, {x, y}) == 1)
    forward_vec<TX, TW, 1>(xp, wp, yp, rstd, rows, cols, eps, offset, stream);
  else
    forward_vec<TX, TW, 16 / sizeof(TX)>(xp, wp, yp, rstd, rows, cols, eps, offset, stream);
}

template <class TX, class TW, int VEC>
void backward_vec(const TX* dy, const TX* x, const TW* w, const float* rstd, TX* dx,
                  float* partial, int64_t rows, int cols, float offset, cudaStream_t stream) {
  const int64_t parts = rmsnorm_backward_partials(rows);
  const int64_t vecs = cols / VEC;
  const int nv = regs_per_thread(vecs, VEC);
  const int threads = threads_for(nv == 0 ? vecs : (vecs + nv - 1) / nv);
  if (nv == 1)
    launch_kernel("rmsnorm_bwd_reg_kernel", rmsnorm_bwd_reg_kernel<TX, TW, VEC, 1>, parts, threads, 0, stream, dy, x, w, rstd, dx, partial, rows, cols, offset);
  else if constexpr (VEC * 2 <= 16) {
    if (nv == 2)
      launch_kernel("rmsnorm_bwd_reg_kernel", rmsnorm_bwd_reg_kernel<TX, TW, VEC, 2>, parts, threads, 0, stream, dy, x, w, rstd, dx, partial, rows, cols, offset);
    else if constexpr (VEC * 4 <= 16) {
      if (nv == 4)
        launch_kernel("rmsnorm_bwd_reg_kernel", rmsnorm_bwd_reg_kernel<TX, TW, VEC, 4>, parts, threads, 0, stream, dy, x, w, rstd, dx, partial, rows, cols, offset);
    }
  }
  if (nv == 0)
    launch_kernel("rmsnorm_bwd_kernel", rmsnorm_bwd_kernel<TX, TW, VEC>, parts, threads, 0, stream, dy, x, w, rstd, dx, partial, rows, cols, offset);
  check_launch("rmsnorm_backward");
}

template <class TX, class TW>
void backward_typed(const void* dy, const void* x, const void* w, const float* rstd, void* dx,
                    void* dw, float* workspace, int64_t rows, int cols, float offset,
                    cudaStream_t stream) {
  float* partial = dw != nullptr ? workspace : nullptr;
  auto* dyp = static_cast<const TX*>(dy);
  auto* xp = static_cast<const TX*>(x);
  auto* wp = static_cast<const TW*>(w);
  auto* dxp = static_cast<TX*>(dx);
  if (vec_width<TX, TW>(cols, w, {dy, x, dx}) == 1)
    backward_vec<TX, TW, 1>(dyp, xp, wp, rstd, dxp, partial, rows, cols, offset, stream);
  else
    backward_vec<TX, TW, 16 / sizeof(TX)>(dyp, xp, wp, rstd, dxp, partial, rows, cols, offset, stream);
  if (dw != nullptr) {
    const int t = 256;
    launch_kernel("reduce_partials_kernel", reduce_partials_kernel<TW>, (cols + t - 1) / t, t, 0, stream,
        partial, rmsnorm_backward_partials(rows), cols, static_cast<TW*>(dw));
    check_launch("rmsnorm_backward (dweight reduction)");
  }
}

void check_args(const char* where, ElemType xt, ElemType wt, int64_t rows, int64_t cols) {
  ET_CHECK(cols > 0 && cols <= INT_MAX, where, "row length ", cols, " is out of range");
  ET_CHECK(rows >= 0 && rows <= INT_MAX, where, "row count ", rows, " is out of range");
  ET_CHECK(wt == xt || wt == ElemType::f32, where, "weight type ", elem_type_name(wt),
           " with input type ", elem_type_name(xt), " is not supported (weight must be float32 "
           "or the input's type)");
}

}  // namespace

// At most 512 blocks, and 4 per SM (on the H200's 132 SMs: 512; on Orin's 16: 64).
int64_t rmsnorm_backward_partials(int64_t rows) {
  const int64_t per_device = int64_t{4} * launch_limits().sm_count;
  return std::max<int64_t>(1, std::min<int64_t>({rows, 512, per_device}));
}

void rmsnorm_forward(const void* x, ElemType xt, const void* weight, ElemType wt, void* y,
                     float* rstd, int64_t rows, int64_t cols, float eps, float offset,
                     cudaStream_t stream) {
  check_args("rmsnorm_forward", xt, wt, rows, cols);
  if (rows == 0) return;
  const int n = static_cast<int>(cols);
  if (xt == ElemType::f32)
    forward_typed<float, float>(x, weight, y, rstd, rows, n, eps, offset, stream);
  else if (xt == ElemType::bf16 && wt == ElemType::bf16)
    forward_typed<__nv_bfloat16, __nv_bfloat16>(x, weight, y, rstd, rows, n, eps, offset, stream);
  else if (xt == ElemType::bf16)
    forward_typed<__nv_bfloat16, float>(x, weight, y, rstd, rows, n, eps, offset, stream);
  else if (wt == ElemType::f16)
    forward_typed<__half, __half>(x, weight, y, rstd, rows, n, eps, offset, stream);
  else
    forward_typed<__half, float>(x, weight, y, rstd, rows, n, eps, offset, stream);
}

void rmsnorm_backward(const void* dy, const void* x, ElemType xt, const void* weight, ElemType wt,
                      const float* rstd, void* dx, void* dweight, float* workspace, int64_t rows,
                      int64_t cols, float offset, cudaStream_t stream) {
  check_args("rmsnorm_backward", xt, wt, rows, cols);
  ET_CHECK(dweight == nullptr || workspace != nullptr, "rmsnorm_backward",
           "a weight gradient needs a workspace of rmsnorm_backward_partials(rows) * cols floats");
  if (rows == 0) {
    if (dweight != nullptr) {
      const size_t bytes = static_cast<size_t>(cols) * (wt == ElemType::f32 ? 4 : 2);
      check_cuda(cudaMemsetAsync(dweight, 0, bytes, stream), "rmsnorm_backward", "zeroing dweight");
    }
    return;
  }
  const int n = static_cast<int>(cols);
  if (xt == ElemType::f32)
    backward_typed<float, float>(dy, x, weight, rstd, dx, dweight, workspace, rows, n, offset, stream);
  else if (xt == ElemType::bf16 && wt == ElemType::bf16)
    backward_typed<__nv_bfloat16, __nv_bfloat16>(dy, x, weight, rstd, dx, dweight, workspace, rows,
                                                  n, offset, stream);
  else if (xt == ElemType::bf16)
    backward_typed<__nv_bfloat16, float>(dy, x, weight, rstd, dx, dweight, workspace, rows, n,
                                         offset, stream);
  else if (wt == ElemType::f16)
    backward_typed<__half, __half>(dy, x, weight, rstd, dx, dweight, workspace, rows, n, offset,
                                   stream);
  else
    backward_typed<__half, float>(dy, x, weight, rstd, dx, dweight, workspace, rows, n, offset,
                                  stream);
}

}  // namespace et::cuda
