// Gated activation (SwiGLU / GeGLU-tanh) microbenchmarks: the torch-level op on the CPU and the
// CUDA kernels (registered only when a device exists). Throughput counts the bytes each pass
// moves (forward: gate, up, y; backward: dy, gate, up, dgate, dup).
#include <benchmark/benchmark.h>

#include "edgetune/kernels/glu.h"

#ifdef EDGETUNE_CUDA
#include <cuda_runtime.h>

#include "edgetune/cuda/check.h"
#include "edgetune/cuda/glu.h"
#endif

namespace {

using et::kernels::GluActivation;

void BM_GluCpuForward(benchmark::State& state, GluActivation act) {
  const int64_t rows = state.range(0), cols = state.range(1);
  torch::Tensor g = torch::randn({rows, cols}), u = torch::randn({rows, cols});
  torch::NoGradGuard no_grad;
  for (auto _ : state) benchmark::DoNotOptimize(et::kernels::glu(g, u, act));
  state.SetBytesProcessed(state.iterations() * 3 * g.nbytes());
}

BENCHMARK_CAPTURE(BM_GluCpuForward, silu, GluActivation::silu)->Args({256, 4096})->UseRealTime();
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
  auto launch = [&] {
    if (backward)
      et::cuda::glu_backward(dy, g, u, dg, du, t, n, et::cuda::GluAct::silu, nullptr);
    else
      et::cuda::glu_forward(g, u, y, t, n, et::cuda::GluAct::silu, nullptr);
  };
  cudaEvent_t start, stop;
  cudaEventCreate(&start);
  cudaEventCreate(&stop);
  launch();
  for (auto _ : state) {
    cudaEventRecord(start);
    launch();
    cudaEventRecord(stop);
    cudaEventSynchronize(stop);
    float ms = 0;
    cudaEventElapsedTime(&ms, start, stop);
    state.SetIterationTime(ms / 1e3);
  }
  state.SetBytesProcessed(state.iterations() * (backward ? 5 : 3) * bytes);
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  for (void* p : {g, u, y, dy, dg, du}) cudaFree(p);
}

void register_cuda() {
  for (auto [name, t] : {std::pair{"f32", et::cuda::ElemType::f32}, std::pair{"bf16", et::cuda::ElemType::bf16}})
    for (bool bwd : {false, true})
      benchmark::RegisterBenchmark((std::string("BM_GluCuda") + (bwd ? "Backward/" : "Forward/") + name).c_str(),
                                   BM_GluCuda, t, bwd)
          ->Arg(int64_t{8192} * 11008)
          ->UseManualTime();
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
