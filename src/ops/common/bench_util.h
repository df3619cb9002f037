// What the ops' microbenchmarks share (benchmark code only): the devices to run on, a timer that
// waits for the device, and the device's ceilings measured at start (a large copy for bytes/s, a
// large matrix product for FLOP/s) so every benchmark reports the fraction of peak it reaches
// ("of_peak" counters) next to its absolute rate.
#pragma once
#include <benchmark/benchmark.h>
#include <torch/cuda.h>
#include <torch/types.h>
#include <torch/csrc/autograd/autograd.h>
#include <torch/utils.h>

#include <chrono>
#include <map>
#include <string>

namespace et::ops::bench {

inline void sync(torch::Device d) {
  if (d.is_cuda()) torch::cuda::synchronize();
}

// Times fn() per iteration, waiting for the device (manual time).
template <class F>
void time_on(benchmark::State& state, torch::Device d, F&& fn) {
  fn();
  sync(d);
  for (auto _ : state) {
    const auto t0 = std::chrono::steady_clock::now();
    fn();
    sync(d);
    state.SetIterationTime(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
}

struct Peak {
  double bytes_per_s = 0, flops = 0;
};

// Measured once per device: copying a large buffer (bytes read + written) and an fp32 (CPU) or
// bf16 (CUDA) matrix product.
inline const Peak& peak(torch::Device d) {
  static std::map<std::string, Peak> cache;
  auto it = cache.find(d.str());
  if (it != cache.end()) return it->second;
  torch::NoGradGuard g;
  Peak p;
  const int64_t n = d.is_cuda() ? (int64_t{1} << 28) : (int64_t{1} << 25);
  torch::Tensor a = torch::empty({n}, torch::TensorOptions().device(d)), b = torch::empty_like(a);
  a.fill_(1.0f);
  auto timed = [&](auto&& f, int reps) {
    f();
    sync(d);
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < reps; ++i) f();
    sync(d);
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / reps;
  };
  p.bytes_per_s = 2.0 * a.nbytes() / timed([&] { b.copy_(a); }, 5);
  const int64_t m = d.is_cuda() ? 8192 : 1024;
  const auto dt = d.is_cuda() ? torch::kBFloat16 : torch::kFloat32;
  torch::Tensor x = torch::randn({m, m}, torch::TensorOptions().device(d).dtype(dt)), y = torch::randn_like(x);
  p.flops = 2.0 * m * m * m / timed([&] { benchmark::DoNotOptimize(torch::mm(x, y)); }, 5);
  return cache.emplace(d.str(), p).first->second;
}

inline void report_bytes(benchmark::State& state, torch::Device d, double bytes_per_iter) {
  state.counters["bytes_per_s"] = benchmark::Counter(bytes_per_iter, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["of_peak"] = benchmark::Counter(bytes_per_iter / peak(d).bytes_per_s,
                                                 benchmark::Counter::kIsIterationInvariantRate);
}

inline void report_flops(benchmark::State& state, torch::Device d, double flops_per_iter) {
  state.counters["flops"] = benchmark::Counter(flops_per_iter, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["of_peak"] = benchmark::Counter(flops_per_iter / peak(d).flops, benchmark::Counter::kIsIterationInvariantRate);
}

inline std::vector<torch::Device> bench_devices() {
  std::vector<torch::Device> d{torch::kCPU};
  if (torch::cuda::is_available()) d.emplace_back(torch::kCUDA, 0);
  return d;
}

}  // namespace et::ops::bench
