// The chunked cross-entropy with the LM head, forward + backward, against the whole-logits
// reference: FLOP/s count the head's GEMMs a step must do (logits and the input gradient:
// 4 N H V), against the device's matrix-product rate measured at start; on the GPU also at
// several chunk sizes (the last argument, rows per chunk; 0 = the op's choice).
#include "ops/common/bench_util.h"
#include "ops/cross_entropy/cross_entropy.h"

namespace {

using namespace et::ops;

void BM_CrossEntropy(benchmark::State& state, torch::Device d, bool fast) {
  const int64_t n = state.range(0), h = state.range(1), v = state.range(2), chunk = state.range(3);
  const auto dt = d.is_cuda() ? torch::kBFloat16 : torch::kFloat32;
  torch::Tensor x = torch::randn({n, h}, torch::TensorOptions().device(d).dtype(dt)).requires_grad_(true);
  torch::Tensor w = (torch::randn({v, h}, torch::TensorOptions().device(d).dtype(dt)) * 0.02);
  torch::Tensor t = torch::randint(0, v, {n}, torch::TensorOptions().dtype(torch::kInt64).device(d));
  bench::time_on(state, d, [&] {
    torch::Tensor l = fast ? chunked_cross_entropy(x, w, t, 0.0, chunk, false) : cross_entropy_ref(x, w, t);
    l.backward();
    x.mutable_grad() = torch::Tensor();
  });
  bench::report_flops(state, d, 4.0 * n * h * v);
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  for (const auto& d : bench::bench_devices()) {
    // the last argument: rows per chunk (0: the op's own choice)
    const std::vector<int64_t> a = d.is_cuda() ? std::vector<int64_t>{16384, 2048, 128256, 0} : std::vector<int64_t>{256, 512, 32000, 0};
    for (bool fast : {true, false}) {
      auto* b = benchmark::RegisterBenchmark(("BM_CrossEntropy/" + std::string(fast ? "fast/" : "reference/") + d.str()).c_str(),
                                             BM_CrossEntropy, d, fast);
      b->Args(a)->UseManualTime();
      if (fast && d.is_cuda())
        for (int64_t c : {256, 1024, 2048, 4096}) b->Args({a[0], a[1], a[2], c});
    }
  }
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
