// NF4 microbenchmarks: CPU quantize (input bytes/s) and dequantize (output bytes/s), and the CUDA
// dequantize kernel (packed + output bytes/s) when a device exists, next to the same dequantization
// as torch ops on the GPU (code lookup by index, double-quantized absmax, block scale: what a
// framework without a fused kernel runs), the baseline of their ratio. 4096 x 4096 weights.
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "edgetune/quant/nf4.h"
#include "edgetune/quant/nf4_codebook.h"

#ifdef EDGETUNE_CUDA
#include <cuda_runtime.h>
#include <torch/cuda.h>

#include "ops/common/device_count_cuda.h"
#include "ops/nf4_dequant/nf4_dequant_cuda.h"
#include "cuda_timer.h"
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
  time_cuda(state, [&] { et::cuda::nf4_dequantize(packed, qa, a2, code8, w.offset, numel, out, t, nullptr); });
  state.SetBytesProcessed(state.iterations() * (out_bytes + w.nbytes()));
  cudaFree(packed);
  cudaFree(qa);
  cudaFree(a2);
  cudaFree(code8);
  cudaFree(out);
}

// The baseline: the same dequantization as torch ops on the GPU.
void BM_Nf4DequantizeTorchOpsCuda(benchmark::State& state, torch::Dtype dt) {
  const int64_t n = state.range(0), numel = n * n;
  const et::quant::Nf4Weight w = et::quant::nf4_quantize(torch::randn({n, n}), "w");
  const auto cuda = torch::kCUDA;
  torch::Tensor packed = w.packed.to(cuda), qa = w.absmax_q.to(torch::kLong).to(cuda);
  torch::Tensor a2 = w.absmax2.to(cuda), code8 = w.code8.to(cuda);
  torch::Tensor table = torch::tensor(std::vector<float>(et::quant::nf4_code().begin(), et::quant::nf4_code().end())).to(cuda);
  torch::NoGradGuard no_grad;
  int64_t out_bytes = 0;
  time_cuda(state, [&] {
    torch::Tensor idx = torch::stack({packed.__rshift__(4), packed.bitwise_and(15)}, 1).reshape({-1}).to(torch::kLong);
    torch::Tensor absmax = code8.index_select(0, qa) * a2.repeat_interleave(256).slice(0, 0, qa.numel()) + w.offset;
    torch::Tensor y = (table.index_select(0, idx.slice(0, 0, numel)).view({-1, 64}) * absmax.unsqueeze(1)).to(dt);
    out_bytes = y.nbytes();
    benchmark::DoNotOptimize(y);
  });
  state.SetBytesProcessed(state.iterations() * (out_bytes + w.nbytes()));
}

void register_cuda() {
  for (auto [name, t] : {std::pair{"f32", et::cuda::ElemType::f32}, std::pair{"bf16", et::cuda::ElemType::bf16}}) {
    benchmark::RegisterBenchmark((std::string("BM_Nf4DequantizeCuda/") + name).c_str(), BM_Nf4DequantizeCuda, t)
        ->Arg(4096)->Arg(8192)->UseManualTime();
    if (torch::cuda::is_available())
      benchmark::RegisterBenchmark((std::string("BM_Nf4DequantizeTorchOpsCuda/") + name).c_str(),
                                   BM_Nf4DequantizeTorchOpsCuda,
                                   t == et::cuda::ElemType::f32 ? torch::kFloat32 : torch::kBFloat16)
          ->Arg(4096)->Arg(8192)->UseManualTime();
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
