// Multi-tensor AdamW and gradient norm on CUDA (math in adamw.h): one block per chunk of one
// tensor, looked up in a table, so a step over hundreds of small LoRA tensors is a few launches.
// The norm's partial sums are written per chunk and summed in a fixed order by one block, so the
// norm is deterministic.
#include "ops/adamw/adamw_cuda.h"
#include "ops/common/cuda_util.cuh"

namespace et::cuda {
namespace {

constexpr int kThreads = 256;

struct Slot {
  float *p, *g, *m, *v;
  int64_t n;
};

__device__ __forceinline__ Slot slot(const int64_t* table, int64_t i) {
  const int64_t* e = table + 5 * i;
  return {reinterpret_cast<float*>(e[0]), reinterpret_cast<float*>(e[1]), reinterpret_cast<float*>(e[2]),
          reinterpret_cast<float*>(e[3]), e[4]};
}

__global__ void __launch_bounds__(kThreads) sumsq_kernel(const int64_t* table, const int64_t* chunks, float* partials) {
  __shared__ float scratch[32];
  const Slot s = slot(table, chunks[2 * blockIdx.x]);
  const int64_t begin = chunks[2 * blockIdx.x + 1], end = min(s.n, begin + kAdamWChunk);
  float acc = 0.f;
  for (int64_t i = begin + threadIdx.x; i < end; i += blockDim.x) acc += s.g[i] * s.g[i];
  acc = block_sum(acc, scratch);
  if (threadIdx.x == 0) partials[blockIdx.x] = acc;
}

__global__ void __launch_bounds__(1024) finish_norm_kernel(const float* partials, int64_t n, float max_norm, float* out) {
  __shared__ float scratch[32];
  float acc = 0.f;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) acc += partials[i];
  acc = block_sum(acc, scratch);
  if (threadIdx.x == 0) {
    const float norm = sqrtf(acc);
    out[0] = norm;
    out[1] = max_norm > 0.f ? fminf(1.f, max_norm / (norm + 1e-6f)) : 1.f;
  }
}

__global__ void __launch_bounds__(kThreads) adamw_kernel(const int64_t* table, const int64_t* chunks, float lr, float b1,
                                                         float b2, float eps, float decay, float step_size, float bc2,
                                                         const float* grad_scale) {
  const Slot s = slot(table, chunks[2 * blockIdx.x]);
  const int64_t begin = chunks[2 * blockIdx.x + 1], end = min(s.n, begin + kAdamWChunk);
  const float scale = grad_scale ? *grad_scale : 1.f;
  for (int64_t i = begin + threadIdx.x; i < end; i += blockDim.x) {
    const float g = s.g[i] * scale;
    const float m = b1 * s.m[i] + (1.f - b1) * g;
    const float v = b2 * s.v[i] + (1.f - b2) * g * g;
    s.m[i] = m;
    s.v[i] = v;
    s.p[i] = s.p[i] * decay - step_size * m / (sqrtf(v / bc2) + eps);
  }
}

}  // namespace

void grad_norm(const int64_t* table, const int64_t* chunks, int64_t n_chunks, float* partials, float max_norm,
               float* out, cudaStream_t stream) {
  ET_CHECK(n_chunks >= 0 && n_chunks < (int64_t{1} << 31), "adamw", "bad chunk count ", n_chunks);
  if (n_chunks > 0) launch_kernel("sumsq_kernel", sumsq_kernel, static_cast<unsigned>(n_chunks), kThreads, 0, stream, table, chunks, partials);
  launch_kernel("finish_norm_kernel", finish_norm_kernel, 1, 1024, 0, stream, partials, n_chunks, max_norm, out);
  check_launch("grad_norm");
}

void adamw_update(const int64_t* table, const int64_t* chunks, int64_t n_chunks, float lr, float beta1, float beta2,
                  float eps, float weight_decay, float bias_correction1, float bias_correction2,
                  const float* grad_scale, cudaStream_t stream) {
  ET_CHECK(n_chunks >= 0 && n_chunks < (int64_t{1} << 31), "adamw", "bad chunk count ", n_chunks);
  if (n_chunks == 0) return;
  launch_kernel("adamw_kernel", adamw_kernel, static_cast<unsigned>(n_chunks), kThreads, 0, stream,
      table, chunks, lr, beta1, beta2, eps, 1.f - lr * weight_decay, lr / bias_correction1, bias_correction2, grad_scale);
  check_launch("adamw");
}

}  // namespace et::cuda
