// Multi-tensor AdamW (with the global gradient norm and the clipping factor) against the tensor-by-
// tensor reference, over the adapters of a 16-layer model (224 tensors): bytes/s count what an
// update must move (parameter, gradient, two moments read; parameter and moments written: 28 B
// per element), against the device's copy bandwidth measured at start.
#include "ops/adamw/adamw.h"
#include "ops/common/bench_util.h"

namespace {

using namespace et::ops;

void BM_AdamW(benchmark::State& state, torch::Device d, bool fast) {
  const int64_t tensors = 224, per = state.range(0);
  std::vector<torch::Tensor> p, g, m, v;
  for (int64_t i = 0; i < tensors; ++i) {
    p.push_back(torch::randn({per}, torch::TensorOptions().device(d)));
    g.push_back(torch::randn({per}, torch::TensorOptions().device(d)));
    m.push_back(torch::zeros({per}, torch::TensorOptions().device(d)));
    v.push_back(torch::zeros({per}, torch::TensorOptions().device(d)));
  }
  int64_t step = 0;
  bench::time_on(state, d, [&] {
    const AdamWHyper h{1e-4, 0.9, 0.999, 1e-8, 0.0, ++step};
    if (fast) {
      const torch::Tensor s = clip_scale(global_grad_norm(g), 1.0);
      adamw_update(p, g, m, v, h, s);
    } else {
      const torch::Tensor s = clip_scale(global_grad_norm_ref(g), 1.0);
      adamw_update_ref(p, g, m, v, h, s);
    }
  });
  bench::report_bytes(state, d, 28.0 * tensors * per + 4.0 * tensors * per);  // + the norm's read of g
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  for (const auto& d : bench::bench_devices())
    for (bool fast : {true, false})
      benchmark::RegisterBenchmark(("BM_AdamW/" + std::string(fast ? "fast/" : "reference/") + d.str()).c_str(), BM_AdamW, d, fast)
          ->Arg(50000)
          ->UseManualTime();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
