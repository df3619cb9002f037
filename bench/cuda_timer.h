// Timing of GPU work for the microbenchmarks: CUDA events around each call on the default stream
// (where both our launchers, given a null stream, and libtorch's ops run), after one warm-up call.
// Use with ->UseManualTime().
#pragma once
#ifdef EDGETUNE_CUDA
#include <benchmark/benchmark.h>
#include <cuda_runtime.h>

template <class F>
void time_cuda(benchmark::State& state, F&& launch) {
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
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
}
#endif
