// NF4 microbenchmarks: CPU quantize (input bytes/s) and dequantize (output bytes/s), and the CUDA
// dequantize kernel (packed + output bytes/s) when a device exists. 4096 x 4096 weights.
#include <benchmark/benchmark.h>

#include "edgetune/quant/nf4.h"

#ifdef EDGETUNE_CUDA
#include <cuda_runtime.h>

#include "edgetune/cuda/check.h"
#include "edgetune/cuda/nf4_dequant.h"
#endif

namespace {

void BM_Nf4QuantizeCpu(benchmark::State& state) {
  const int64_t n = state.range(0);
  torch::Tensor x = torch::randn({n, n});
  for (auto _ : state) benchmark::DoNotOptimize(et::quant::nf4_quantize(x, "w"));
  state.SetBytesProcessed(state.iterations() * x.nbytes());
}

void BM_Nf4DequantizeCpu(benchmark::State& state, torch::Dtype dt) {
  const int64_t n = state.range(0);
  const et::quant::Nf4Weight w = et::quant::nf4_quantize(torch::randn({n, n}), "w");
  int64_t out_bytes = 0;
  for (auto _ : state) {
    torch::Tensor y = et::quant::nf4_dequantize(w, dt, torch::kCPU);
    out_bytes = y.nbytes();
    benchmark::DoNotOptimize(y);
  }
  state.SetBytesProcessed(state.iterations() * out_bytes);
}

BENCHMARK(BM_Nf4QuantizeCpu)->Arg(4096)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Nf4DequantizeCpu, f32, torch::kFloat32)->Arg(4096)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Nf4DequantizeCpu, bf16, torch::kBFloat16)->Arg(4096)->UseRealTime()->Unit(benchmark::kMillisecond);

#ifdef EDGETUNE_CUDA
void BM_Nf4DequantizeCuda(benchmark::State& state, et::cuda::ElemType t) {
  const int64_t n = state.range(0), numel = n * n;
  const et::quant::Nf4Weight w = et::quant::nf4_quantize(torch::randn({n, n}), "w");
  const size_t out_bytes = numel * (t == et::cuda::ElemType::f32 ? 4 : 2);
  uint8_t *packed, *qa;
  float *a2, *code8;
  void* out;
  cudaMalloc(&packed, w.packed.nbytes());
  cudaMalloc(&qa, w.absmax_q.nbytes());
  cudaMalloc(&a2, w.absmax2.nbytes());
  cudaMalloc(&code8, w.code8.nbytes());
  cudaMalloc(&out, out_bytes);
  cudaMemcpy(packed, w.packed.data_ptr(), w.packed.nbytes(), cudaMemcpyHostToDevice);
  cudaMemcpy(qa, w.absmax_q.data_ptr(), w.absmax_q.nbytes(), cudaMemcpyHostToDevice);
  cudaMemcpy(a2, w.absmax2.data_ptr(), w.absmax2.nbytes(), cudaMemcpyHostToDevice);
  cudaMemcpy(code8, w.code8.data_ptr(), w.code8.nbytes(), cudaMemcpyHostToDevice);
  auto launch = [&] { et::cuda::nf4_dequantize(packed, qa, a2, code8, w.offset, numel, out, t, nullptr); };
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
  state.SetBytesProcessed(state.iterations() * (out_bytes + w.nbytes()));
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  cudaFree(packed);
  cudaFree(qa);
  cudaFree(a2);
  cudaFree(code8);
  cudaFree(out);
}

void register_cuda() {
  benchmark::RegisterBenchmark("BM_Nf4DequantizeCuda/f32", BM_Nf4DequantizeCuda, et::cuda::ElemType::f32)
      ->Arg(4096)->Arg(8192)->UseManualTime();
  benchmark::RegisterBenchmark("BM_Nf4DequantizeCuda/bf16", BM_Nf4DequantizeCuda, et::cuda::ElemType::bf16)
      ->Arg(4096)->Arg(8192)->UseManualTime();
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
