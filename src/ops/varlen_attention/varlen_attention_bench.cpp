// Varlen attention, forward + backward: on the GPU cuDNN's attention (the dense rows' default) and
// the flash kernel over the sequence offsets, and the per-sequence reference, on 8 sequences of 2048 tokens with 32 query and 8 key/value heads of
// 64 (the Llama-3.2-1B shape; the CPU runs a smaller case): FLOP/s count causal attention's useful
// work (forward 4 d per query-key pair and head, backward twice that), against the device's
// matrix-product rate measured at start.
#include "ops/common/bench_util.h"
#include "ops/varlen_attention/varlen_attention.h"

namespace {

using namespace et::ops;

void BM_VarlenAttention(benchmark::State& state, torch::Device d, bool fast, DenseAttention kernel) {
  set_dense_attention(kernel);
  const int64_t seqs = state.range(0), len = state.range(1), hq = 32, hkv = 8, dim = 64;
  const auto dt = d.is_cuda() ? torch::kBFloat16 : torch::kFloat32;
  const auto o = torch::TensorOptions().device(d).dtype(dt);
  const int64_t n = seqs * len;
  torch::Tensor q = torch::randn({n, hq, dim}, o).requires_grad_(true), k = torch::randn({n, hkv, dim}, o).requires_grad_(true),
                v = torch::randn({n, hkv, dim}, o).requires_grad_(true);
  std::vector<int32_t> seg;
  for (int64_t s = 0; s < seqs; ++s) seg.insert(seg.end(), static_cast<size_t>(len), static_cast<int32_t>(s));
  const VarlenSeqs vs = varlen_from_segments(seg.data(), 1, n, d);
  torch::Tensor dy = torch::randn_like(q);
  bench::time_on(state, d, [&] {
    torch::Tensor y = fast ? varlen_attention(q, k, v, vs, 0.125) : varlen_attention_ref(q, k, v, vs, 0.125);
    torch::autograd::backward({y}, {dy});
    q.mutable_grad() = k.mutable_grad() = v.mutable_grad() = torch::Tensor();
  });
  bench::report_flops(state, d, 3.0 * 4.0 * dim * hq * seqs * (len * (len + 1) / 2.0));
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  for (const auto& d : bench::bench_devices()) {
    const std::vector<int64_t> a = d.is_cuda() ? std::vector<int64_t>{8, 2048} : std::vector<int64_t>{4, 256};
    for (int v = 0; v < (d.is_cuda() ? 3 : 2); ++v) {
      const bool fast = v != 1;
      const DenseAttention k = v == 2 ? DenseAttention::flash : DenseAttention::cudnn;
      const std::string name = v == 1 ? "reference/" : d.is_cpu() ? "fast/" : v == 0 ? "fast-cudnn/" : "fast-flash/";
      benchmark::RegisterBenchmark(("BM_VarlenAttention/" + name + d.str()).c_str(), BM_VarlenAttention, d, fast, k)
          ->Args(a)
          ->UseManualTime();
    }
  }
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
