// The fused LoRA linear group (q, k, v of the Llama-3.2-1B shape, r 16) against the per-member
// reference, forward + backward: FLOP/s count the frozen GEMMs (forward and input gradient,
// 4 M in out) and the adapters' (12 M r (in + out_j) per member), against the device's matrix-
// product rate measured at start.
#include "ops/common/bench_util.h"
#include "ops/lora_linear/lora_linear.h"

namespace {

using namespace et::ops;

void BM_LoraLinear(benchmark::State& state, torch::Device d, bool fast) {
  const int64_t m = state.range(0), in = state.range(1), r = 16;
  const std::vector<int64_t> outs{in, in / 4, in / 4};
  const auto dt = d.is_cuda() ? torch::kBFloat16 : torch::kFloat32;
  const auto o = torch::TensorOptions().device(d).dtype(dt);
  int64_t out = 0;
  for (auto v : outs) out += v;
  const torch::Tensor W = torch::randn({out, in}, o) * 0.02;
  auto w = std::make_shared<FrozenWeight>();
  w->in = in;
  w->out = out;
  w->forward = [W](const torch::Tensor& x) { return at::mm(x, W.t()); };
  w->input_grad = [W](const torch::Tensor& dy) { return at::mm(dy, W); };
  std::vector<LoraFactors> lora;
  for (auto ow : outs)
    lora.push_back({(torch::randn({r, in}, torch::TensorOptions().device(d)) * 0.02).requires_grad_(true),
                    (torch::randn({ow, r}, torch::TensorOptions().device(d)) * 0.02).requires_grad_(true)});
  torch::Tensor x = torch::randn({m, in}, o).requires_grad_(true);
  torch::Tensor dy = torch::randn({m, out}, o);
  bench::time_on(state, d, [&] {
    torch::Tensor y = fast ? lora_linear(x, w, outs, lora) : lora_linear_ref(x, *w, outs, lora);
    torch::autograd::backward({y}, {dy});
    x.mutable_grad() = torch::Tensor();
    for (auto& f : lora) f.A.mutable_grad() = f.B.mutable_grad() = torch::Tensor();
  });
  double flops = 4.0 * m * in * out;
  for (auto ow : outs) flops += 12.0 * m * r * (in + ow);
  bench::report_flops(state, d, flops);
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  for (const auto& d : bench::bench_devices()) {
    const std::vector<int64_t> a = d.is_cuda() ? std::vector<int64_t>{16384, 2048} : std::vector<int64_t>{512, 512};
    for (bool fast : {true, false})
      benchmark::RegisterBenchmark(("BM_LoraLinear/" + std::string(fast ? "fast/" : "reference/") + d.str()).c_str(),
                                   BM_LoraLinear, d, fast)
          ->Args(a)
          ->UseManualTime();
  }
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
