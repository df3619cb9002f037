// The chunked cross-entropy with the LM head, forward + backward, against the whole-logits
// reference: FLOP/s count the head's GEMMs a step must do (logits and the input gradient:
// 4 N H V), against the device's matrix-product rate measured at start.
#include "ops/common/bench_util.h"
#include "ops/cross_entropy/cross_entropy.h"

namespace {

using namespace et::ops;

void BM_CrossEntropy(benchmark::State& state, torch::Device d, bool fast) {
  const int64_t n = state.range(0), h = state.range(1), v = state.range(2);
  const auto dt = d.is_cuda() ? torch::kBFloat16 : torch::kFloat32;
  torch::Tensor x = torch::randn({n, h}, torch::TensorOptions().device(d).dtype(dt)).requires_grad_(true);
  torch::Tensor w = (torch::randn({v, h}, torch::TensorOptions().device(d).dtype(dt)) * 0.02);
  torch::Tensor t = torch::randint(0, v, {n}, torch::TensorOptions().dtype(torch::kInt64).device(d));
  bench::time_on(state, d, [&] {
    torch::Tensor l = fast ? chunked_cross_entropy(x, w, t, 0.0, 0, false) : cross_entropy_ref(x, w, t);
    l.backward();
    x.mutable_grad() = torch::Tensor();
  });
  bench::report_flops(state, d, 4.0 * n * h * v);
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  for (const auto& d : bench::bench_devices()) {
    const std::vector<int64_t> a = d.is_cuda() ? std::vector<int64_t>{16384, 2048, 128256} : std::vector<int64_t>{256, 512, 32000};
    for (bool fast : {true, false})
      benchmark::RegisterBenchmark(("BM_CrossEntropy/" + std::string(fast ? "fast/" : "reference/") + d.str()).c_str(),
                                   BM_CrossEntropy, d, fast)
          ->Args(a)
          ->UseManualTime();
  }
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
