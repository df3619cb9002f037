// Gated activation (SwiGLU / GeGLU-tanh) microbenchmarks: the torch-level op on the CPU and the
// CUDA kernels (registered only when a device exists) next to silu(g) * u as torch ops on the GPU
// (backward through autograd), the baseline of their ratio. Throughput counts the bytes each pass
// moves (forward: gate, up, y; backward: dy, gate, up, dgate, dup).
#include <benchmark/benchmark.h>

#include <string>

#include <torch/autograd.h>

#include "ops/glu/glu.h"

#ifdef EDGETUNE_CUDA
#include <cuda_runtime.h>
#include <torch/autograd.h>
#include <torch/cuda.h>

#include "ops/common/device_count_cuda.h"
#include "ops/glu/glu_cuda.h"
#include "cuda_timer.h"
#endif

namespace {

using et::ops::GluActivation;

void BM_GluCpuForward(benchmark::State& state, GluActivation act) {
  const int64_t rows = state.range(0), cols = state.range(1);
  torch::Tensor g = torch::randn({rows, cols}), u = torch::randn({rows, cols});
  torch::NoGradGuard no_grad;
  for (auto _ : state) benchmark::DoNotOptimize(et::ops::glu(g, u, act));
  state.SetBytesProcessed(state.iterations() * 3 * g.nbytes());
}

BENCHMARK_CAPTURE(BM_GluCpuForward, silu, GluActivation::silu)->Args({256, 4096})->UseRealTime();

// Gate and up side by side (the fused gate/up projection's output), forward + backward.
void BM_GluPackedCpu(benchmark::State& state) {
  const int64_t rows = state.range(0), cols = state.range(1);
  torch::Tensor gu = torch::randn({rows, 2 * cols}).requires_grad_(true), dy = torch::randn({rows, cols});
  for (auto _ : state) {
    torch::autograd::backward({et::ops::glu_packed(gu, GluActivation::silu)}, {dy});
    gu.mutable_grad() = torch::Tensor();
  }
  state.SetBytesProcessed(state.iterations() * (3 + 5) * dy.nbytes());
}
BENCHMARK(BM_GluPackedCpu)->Args({256, 4096})->Args({2048, 1408})->UseRealTime();
BENCHMARK_CAPTURE(BM_GluCpuForward, gelu_tanh, GluActivation::gelu_tanh)->Args({256, 4096})->UseRealTime();

#ifdef EDGETUNE_CUDA
void BM_GluCuda(benchmark::State& state, et::cuda::ElemType t, bool backward) {
  const int64_t n = state.range(0);
  const size_t bytes = n * (t == et::cuda::ElemType::f32 ? 4 : 2);
  void *g, *u, *y, *dy, *dg, *du;
  for (void** p : {&g, &u, &y, &dy, &dg, &du}) {
    cudaMalloc(p, bytes);
    cudaMemset(*p, 0x3c, bytes);
  }
  time_cuda(state, [&] {
    if (backward)
      et::cuda::glu_backward(dy, g, u, dg, du, t, n, et::cuda::GluAct::silu, nullptr);
    else
      et::cuda::glu_forward(g, u, y, t, n, et::cuda::GluAct::silu, nullptr);
  });
  state.SetBytesProcessed(state.iterations() * (backward ? 5 : 3) * bytes);
  for (void* p : {g, u, y, dy, dg, du}) cudaFree(p);
}

// The baseline: silu(g) * u as torch ops on the GPU; its backward is autograd's.
void BM_GluTorchOpsCuda(benchmark::State& state, torch::Dtype dt, bool backward) {
  const int64_t n = state.range(0);
  const auto o = torch::TensorOptions().device(torch::kCUDA);
  torch::Tensor g = torch::randn({n}, o).to(dt).requires_grad_(backward);
  torch::Tensor u = torch::randn({n}, o).to(dt).requires_grad_(backward);
  torch::Tensor dy = torch::randn({n}, o).to(dt);
  if (backward) {
    torch::Tensor y = at::silu(g) * u;
    time_cuda(state, [&] { benchmark::DoNotOptimize(torch::autograd::grad({y}, {g, u}, {dy}, true)); });
  } else {
    torch::NoGradGuard no_grad;
    time_cuda(state, [&] { benchmark::DoNotOptimize(at::silu(g) * u); });
  }
  state.SetBytesProcessed(state.iterations() * (backward ? 5 : 3) * g.nbytes());
}

void register_cuda() {
  for (auto [name, t] : {std::pair{"f32", et::cuda::ElemType::f32}, std::pair{"bf16", et::cuda::ElemType::bf16}})
    for (bool bwd : {false, true}) {
      const std::string pass = std::string(bwd ? "Backward/" : "Forward/") + name;
      benchmark::RegisterBenchmark(("BM_GluCuda" + pass).c_str(), BM_GluCuda, t, bwd)
          ->Arg(int64_t{8192} * 11008)
          ->UseManualTime();
      if (torch::cuda::is_available())
        benchmark::RegisterBenchmark(("BM_GluTorchOpsCuda" + pass).c_str(), BM_GluTorchOpsCuda,
                                     t == et::cuda::ElemType::f32 ? torch::kFloat32 : torch::kBFloat16, bwd)
            ->Arg(int64_t{8192} * 11008)
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
