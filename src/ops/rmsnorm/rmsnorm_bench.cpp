// RMSNorm microbenchmarks: the torch-level op on the CPU (forward; forward + backward through
// autograd), the single-threaded reference loops, and the CUDA kernels (registered only when a
// device exists) next to the same op as a chain of torch ops on the GPU (transformers'
// LlamaRMSNorm; backward through autograd), the baseline of their ratio. Throughput counts the
// bytes each pass must move (x, y / dy, x, dx).
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "ops/rmsnorm/rmsnorm.h"
#include "ops/rmsnorm/rmsnorm_ref.h"

#ifdef EDGETUNE_CUDA
#include <cuda_runtime.h>
#include <torch/autograd.h>
#include <torch/cuda.h>

#include "ops/common/device_count_cuda.h"
#include "ops/rmsnorm/rmsnorm_cuda.h"
#include "cuda_timer.h"
#endif

namespace {

void BM_RmsNormCpuForward(benchmark::State& state, torch::Dtype dt) {
  const int64_t rows = state.range(0), cols = state.range(1);
  torch::Tensor x = torch::randn({rows, cols}).to(dt), w = torch::ones({cols}).to(dt);
  torch::NoGradGuard no_grad;
  for (auto _ : state) benchmark::DoNotOptimize(et::ops::rmsnorm(x, w, 1e-6, 0.0));
  state.SetBytesProcessed(state.iterations() * 2 * x.nbytes());
}

// The same forward as a chain of torch ops (transformers' LlamaRMSNorm), for comparison.
void BM_RmsNormTorchOpsForward(benchmark::State& state, torch::Dtype dt) {
  const int64_t rows = state.range(0), cols = state.range(1);
  torch::Tensor x = torch::randn({rows, cols}).to(dt), w = torch::ones({cols}).to(dt);
  torch::NoGradGuard no_grad;
  for (auto _ : state) {
    torch::Tensor h = x.to(torch::kFloat32);
    h = h * torch::rsqrt(h.pow(2).mean(-1, true) + 1e-6);
    benchmark::DoNotOptimize(w * h.to(dt));
  }
  state.SetBytesProcessed(state.iterations() * 2 * x.nbytes());
}

void BM_RmsNormCpuForwardBackward(benchmark::State& state, torch::Dtype dt) {
  const int64_t rows = state.range(0), cols = state.range(1);
  torch::Tensor x = torch::randn({rows, cols}).to(dt).requires_grad_(true);
  torch::Tensor w = torch::ones({cols}).to(dt).requires_grad_(true);
  torch::Tensor dy = torch::randn({rows, cols}).to(dt);
  for (auto _ : state) {
    torch::Tensor y = et::ops::rmsnorm(x, w, 1e-6, 0.0);
    y.backward(dy);
    x.mutable_grad().reset();
    w.mutable_grad().reset();
  }
  state.SetBytesProcessed(state.iterations() * 5 * x.nbytes());
}

void BM_RmsNormReferenceForward(benchmark::State& state) {
  const int64_t rows = state.range(0), cols = state.range(1);
  std::vector<float> x(rows * cols, 0.5f), w(cols, 1.f), y(rows * cols), rstd(rows);
  for (auto _ : state) {
    et::ops::rmsnorm_forward_ref(x.data(), w.data(), rows, cols, 1e-6f, 0.f,
                                     et::ops::Precision::f32, y.data(), rstd.data());
    benchmark::DoNotOptimize(y.data());
  }
  state.SetBytesProcessed(state.iterations() * 2 * rows * cols * 4);
}

BENCHMARK_CAPTURE(BM_RmsNormCpuForward, f32, torch::kFloat32)->Args({512, 2048})->Args({2048, 4096})->UseRealTime();
BENCHMARK_CAPTURE(BM_RmsNormCpuForward, bf16, torch::kBFloat16)->Args({512, 2048})->Args({2048, 4096})->UseRealTime();
BENCHMARK_CAPTURE(BM_RmsNormTorchOpsForward, f32, torch::kFloat32)->Args({512, 2048})->Args({2048, 4096})->UseRealTime();
BENCHMARK_CAPTURE(BM_RmsNormTorchOpsForward, bf16, torch::kBFloat16)->Args({512, 2048})->Args({2048, 4096})->UseRealTime();
BENCHMARK_CAPTURE(BM_RmsNormCpuForwardBackward, f32, torch::kFloat32)->Args({512, 2048})->UseRealTime();
BENCHMARK(BM_RmsNormReferenceForward)->Args({512, 2048});

#ifdef EDGETUNE_CUDA
void BM_RmsNormCuda(benchmark::State& state, et::cuda::ElemType t, bool backward) {
  const int64_t rows = state.range(0), cols = state.range(1);
  const size_t es = t == et::cuda::ElemType::f32 ? 4 : 2, bytes = rows * cols * es;
  void *x, *y, *dy, *dx, *w, *dw;
  float *rstd, *work;
  cudaMalloc(&x, bytes);
  cudaMalloc(&y, bytes);
  cudaMalloc(&dy, bytes);
  cudaMalloc(&dx, bytes);
  cudaMalloc(&w, cols * es);
  cudaMalloc(&dw, cols * es);
  cudaMalloc(&rstd, rows * 4);
  cudaMalloc(&work, et::cuda::rmsnorm_backward_partials(rows) * cols * 4);
  cudaMemset(x, 0x3c, bytes);
  cudaMemset(dy, 0x3c, bytes);
  cudaMemset(w, 0x3c, cols * es);
  et::cuda::rmsnorm_forward(x, t, w, t, y, rstd, rows, cols, 1e-6f, 0.f, nullptr);
  if (backward)
    time_cuda(state, [&] {
      et::cuda::rmsnorm_backward(dy, x, t, w, t, rstd, dx, dw, work, rows, cols, 0.f, nullptr);
    });
  else
    time_cuda(state, [&] {
      et::cuda::rmsnorm_forward(x, t, w, t, y, rstd, rows, cols, 1e-6f, 0.f, nullptr);
    });
  state.SetBytesProcessed(state.iterations() * (backward ? 3 : 2) * bytes);
  for (void* p : {x, y, dy, dx, w, dw}) cudaFree(p);
  cudaFree(rstd);
  cudaFree(work);
}

// The baseline: LlamaRMSNorm as torch ops on the GPU; its backward is autograd's.
void BM_RmsNormTorchOpsCuda(benchmark::State& state, torch::Dtype dt, bool backward) {
  const int64_t rows = state.range(0), cols = state.range(1);
  const auto o = torch::TensorOptions().device(torch::kCUDA);
  torch::Tensor x = torch::randn({rows, cols}, o).to(dt).requires_grad_(backward);
  torch::Tensor w = torch::ones({cols}, o).to(dt).requires_grad_(backward);
  torch::Tensor dy = torch::randn({rows, cols}, o).to(dt);
  auto forward = [&] {
    torch::Tensor h = x.to(torch::kFloat32);
    h = h * torch::rsqrt(h.pow(2).mean(-1, true) + 1e-6);
    return w * h.to(dt);
  };
  if (backward) {
    torch::Tensor y = forward();
    time_cuda(state, [&] { benchmark::DoNotOptimize(torch::autograd::grad({y}, {x, w}, {dy}, true)); });
  } else {
    torch::NoGradGuard no_grad;
    time_cuda(state, [&] { benchmark::DoNotOptimize(forward()); });
  }
  state.SetBytesProcessed(state.iterations() * (backward ? 3 : 2) * x.nbytes());
}

void register_cuda() {
  for (auto [name, t] : {std::pair{"f32", et::cuda::ElemType::f32}, std::pair{"bf16", et::cuda::ElemType::bf16}})
    for (bool bwd : {false, true}) {
      const std::string pass = std::string(bwd ? "Backward/" : "Forward/") + name;
      benchmark::RegisterBenchmark(("BM_RmsNormCuda" + pass).c_str(), BM_RmsNormCuda, t, bwd)
          ->Args({4096, 2048})
          ->Args({16384, 4096})
          ->Args({65536, 128})
          ->UseManualTime();
      if (torch::cuda::is_available())
        benchmark::RegisterBenchmark(("BM_RmsNormTorchOpsCuda" + pass).c_str(), BM_RmsNormTorchOpsCuda,
                                     t == et::cuda::ElemType::f32 ? torch::kFloat32 : torch::kBFloat16, bwd)
            ->Args({4096, 2048})
            ->Args({16384, 4096})
            ->Args({65536, 128})
            ->UseManualTime();
    }
}
#endif

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
#ifdef EDGETUNE_CUDA
  if (et::cuda::device_count() > 0) register_cuda();
#endif
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
