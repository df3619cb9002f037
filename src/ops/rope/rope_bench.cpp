// RoPE microbenchmarks: the fast op (CPU loop, CUDA kernel) against the reference in torch ops,
// forward and backward, on the flat [tokens, heads, head_dim] layout; bytes/s count x read and y
// written per pass, against the device's copy bandwidth measured at start.
#include "ops/common/bench_util.h"
#include "ops/rope/rope.h"

namespace {

using namespace et::ops;

void BM_Rope(benchmark::State& state, torch::Device d, bool fast) {
  const int64_t n = state.range(0), heads = 32, dim = 64;
  torch::Tensor x = torch::randn({n, heads, dim}, torch::TensorOptions().device(d).dtype(d.is_cuda() ? torch::kBFloat16 : torch::kFloat32))
                        .requires_grad_(true);
  torch::Tensor pos = torch::randint(0, 2048, {n}, torch::TensorOptions().dtype(torch::kInt64).device(d));
  torch::Tensor inv = torch::reciprocal(torch::pow(10000.0, torch::arange(0, dim, 2).to(torch::kFloat32) / dim)).to(d);
  torch::Tensor dy = torch::randn_like(x);
  bench::time_on(state, d, [&] {
    torch::Tensor y = fast ? rope(x, pos, inv) : rope_ref(x, pos, inv);
    torch::autograd::backward({y}, {dy});
    x.mutable_grad() = torch::Tensor();
  });
  bench::report_bytes(state, d, 4.0 * x.nbytes());  // forward x -> y, backward dy -> dx
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  for (const auto& d : bench::bench_devices()) {
    const int64_t n = d.is_cuda() ? 16384 : 1024;
    for (bool fast : {true, false})
      benchmark::RegisterBenchmark(("BM_Rope/" + std::string(fast ? "fast/" : "reference/") + d.str()).c_str(), BM_Rope, d, fast)
          ->Arg(n)
          ->UseManualTime();
  }
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
