// nf4_matmul microbenchmarks (CPU, float32, all threads): the kernel that decodes NF4 inside its
// GEMM, forward (x W^T) and input gradient (dy W), next to what runs without it (the whole weight
// dequantized into a float32 buffer, then at::mm through libtorch's BLAS) and to at::mm on a
// float32 weight; and the cores' float32 peak, measured by a loop of independent AVX2 FMAs on
// every thread. Shapes: the projections of a ~30M-parameter Llama (hidden 512, intermediate 1408)
// over 2048 tokens. GFLOP/s = 2 M N K / time.
#include <benchmark/benchmark.h>

#include <chrono>

#include "ops/common/parallel.h"
#include "ops/nf4_matmul/nf4_matmul.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace {

using et::ops::MatmulWeight;

MatmulWeight random_weight(int64_t rows, int64_t cols) {
  MatmulWeight w;
  w.rows = rows;
  w.cols = cols;
  w.packed = torch::randint(0, 256, {(rows * cols + 1) / 2}, torch::kUInt8);
  w.scales = torch::rand({(rows * cols + 63) / 64}) * 0.1 + 0.01;
  w.code = std::get<0>(torch::sort(torch::rand({16}) * 2 - 1));
  return w;
}

void set_flops(benchmark::State& state, int64_t m, int64_t n, int64_t k) {
  state.counters["GFLOP/s"] =
      benchmark::Counter(static_cast<double>(2 * m * n * k) * static_cast<double>(state.iterations()) / 1e9,
                         benchmark::Counter::kIsRate);
}

// args: M (tokens), rows (out features), cols (in features)
void BM_Nf4KernelForward(benchmark::State& state) {
  const int64_t m = state.range(0), rows = state.range(1), cols = state.range(2);
  const MatmulWeight w = random_weight(rows, cols);
  const torch::Tensor x = torch::randn({m, cols});
  torch::Tensor y = torch::empty({m, rows});
  for (auto _ : state) et::ops::nf4_matmul_into(x, w, {}, y);
  set_flops(state, m, rows, cols);
}

void BM_Nf4KernelInputGrad(benchmark::State& state) {
  const int64_t m = state.range(0), rows = state.range(1), cols = state.range(2);
  const MatmulWeight w = random_weight(rows, cols);
  const torch::Tensor dy = torch::randn({m, rows});
  torch::Tensor dx = torch::empty({m, cols});
  for (auto _ : state) et::ops::nf4_matmul_t_into(dy, w, dx, false);
  set_flops(state, m, rows, cols);
}

// Without the kernel: dequantize the whole weight (the plain tensor-op definition here; the
// project's own dequantization loop is in bench_nf4) and at::mm.
void BM_DequantThenMmForward(benchmark::State& state) {
  const int64_t m = state.range(0), rows = state.range(1), cols = state.range(2);
  const MatmulWeight w = random_weight(rows, cols);
  const torch::Tensor x = torch::randn({m, cols});
  for (auto _ : state) benchmark::DoNotOptimize(at::mm(x, et::ops::nf4_dequantize_plain(w, torch::kFloat32).t()));
  set_flops(state, m, rows, cols);
}

void BM_DenseMmForward(benchmark::State& state) {
  const int64_t m = state.range(0), rows = state.range(1), cols = state.range(2);
  const torch::Tensor x = torch::randn({m, cols}), W = torch::randn({rows, cols});
  for (auto _ : state) benchmark::DoNotOptimize(at::mm(x, W.t()));
  set_flops(state, m, rows, cols);
}

void BM_DenseKernelForward(benchmark::State& state) {
  const int64_t m = state.range(0), rows = state.range(1), cols = state.range(2);
  MatmulWeight w;
  w.dense = torch::randn({rows, cols});
  w.rows = rows;
  w.cols = cols;
  const torch::Tensor x = torch::randn({m, cols});
  torch::Tensor y = torch::empty({m, rows});
  for (auto _ : state) et::ops::nf4_matmul_into(x, w, {}, y);
  set_flops(state, m, rows, cols);
}

void BM_DenseMmInputGrad(benchmark::State& state) {
  const int64_t m = state.range(0), rows = state.range(1), cols = state.range(2);
  const torch::Tensor dy = torch::randn({m, rows}), W = torch::randn({rows, cols});
  for (auto _ : state) benchmark::DoNotOptimize(at::mm(dy, W));
  set_flops(state, m, rows, cols);
}

void shapes(benchmark::internal::Benchmark* b) {
  b->Args({2048, 1536, 512})   // q, k, v of hidden 512
      ->Args({2048, 2816, 512})  // gate, up of intermediate 1408
      ->Args({2048, 512, 1408})  // down
      ->Args({2048, 512, 512})   // o
      ->Args({2048, 192, 64})    // q, k, v of stories260K (hidden 64, 4 kv heads of 8)
      ->UseRealTime()
      ->Unit(benchmark::kMillisecond);
}

BENCHMARK(BM_Nf4KernelForward)->Apply(shapes);
BENCHMARK(BM_Nf4KernelInputGrad)->Apply(shapes);
BENCHMARK(BM_DequantThenMmForward)->Apply(shapes);
BENCHMARK(BM_DenseKernelForward)->Apply(shapes);
BENCHMARK(BM_DenseMmForward)->Apply(shapes);
BENCHMARK(BM_DenseMmInputGrad)->Apply(shapes);

#if defined(__x86_64__)
// 12 independent chains of 8-wide FMAs per thread (more than the FMA latency x units in flight).
__attribute__((target("avx2,fma"))) float fma_loop(int64_t iters) {
  __m256 a[12];
  for (int i = 0; i < 12; ++i) a[i] = _mm256_set1_ps(1.f + 1e-3f * static_cast<float>(i));
  const __m256 b = _mm256_set1_ps(0.9999999f), c = _mm256_set1_ps(1e-7f);
  for (int64_t k = 0; k < iters; ++k)
    for (int i = 0; i < 12; ++i) a[i] = _mm256_fmadd_ps(a[i], b, c);
  float s = 0;
  for (int i = 0; i < 12; ++i) s += _mm256_cvtss_f32(a[i]);
  return s;
}

// The float32 peak of all threads: FLOP/s of fma_loop on each (2 FLOPs x 8 lanes x 12 per iteration).
void BM_PeakFp32Fma(benchmark::State& state) {
  const int64_t iters = 20'000'000;
  const int threads = at::get_num_threads();
  for (auto _ : state) {
    at::parallel_for(0, threads, 1, [&](int64_t b, int64_t e) {
      for (int64_t t = b; t < e; ++t) benchmark::DoNotOptimize(fma_loop(iters));
    });
  }
  state.counters["threads"] = threads;
  state.counters["GFLOP/s"] = benchmark::Counter(
      static_cast<double>(threads) * static_cast<double>(iters) * 12 * 16 * static_cast<double>(state.iterations()) / 1e9,
      benchmark::Counter::kIsRate);
}
BENCHMARK(BM_PeakFp32Fma)->UseRealTime()->Unit(benchmark::kMillisecond);
#endif

}  // namespace

BENCHMARK_MAIN();
