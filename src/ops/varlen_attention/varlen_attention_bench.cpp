// Varlen attention, forward + backward: the fast path (on the GPU cuDNN's attention, the dense rows'
// default, and the flash kernel over the sequence offsets; the CPU kernel in float32 on the CPU) and
// the per-sequence reference, on 8 sequences of 2048 tokens with 32 query and 8 key/value heads of 64
// (the Llama-3.2-1B shape; the CPU runs a smaller case). FLOP/s count causal attention's useful work
// (forward 4 d per query-key pair and head, backward twice that), against the device's
// matrix-product rate measured at start.
// On the CPU also, at the shapes of stories260K (8 heads of 8, 4 key/value heads) and the ~30M
// shape (8 heads of 64), 8 rows of 256 tokens packed with sequences of `len`: the CPU kernel next
// to what the model's reference path runs without it, dense attention over each row with a
// [B, 1, T, T] mask of its sequences in torch ops (matmul, masked_fill, softmax, matmul; autograd).
#include <torch/csrc/autograd/autograd.h>

#include <limits>

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

struct Rows {
  int64_t B = 8, T = 256, len, hq, hkv, d;
  std::vector<int32_t> seg;
  int64_t pairs = 0;
};

Rows make_rows(int64_t len, int64_t hq, int64_t hkv, int64_t d) {
  Rows r{8, 256, len, hq, hkv, d, {}, 0};
  for (int64_t b = 0; b < r.B; ++b)
    for (int64_t t = 0; t < r.T; ++t) r.seg.push_back(static_cast<int32_t>(t / len));
  for (int64_t b = 0; b < r.B; ++b)
    for (int64_t s = 0; s < r.T; s += len) {
      const int64_t n = std::min(len, r.T - s);
      r.pairs += n * (n + 1) / 2;
    }
  return r;
}

double causal_flops(const Rows& r) { return 3.0 * 4.0 * static_cast<double>(r.pairs * r.hq * r.d); }

// args: sequence length, query heads, kv heads, head_dim
void BM_VarlenCpuKernel(benchmark::State& state) {
  const Rows r = make_rows(state.range(0), state.range(1), state.range(2), state.range(3));
  const VarlenSeqs s = varlen_from_segments(r.seg.data(), r.B, r.T, torch::kCPU);
  const int64_t n = r.B * r.T;
  torch::Tensor q = torch::randn({n, r.hq, r.d}).requires_grad_(), k = torch::randn({n, r.hkv, r.d}).requires_grad_(),
                v = torch::randn({n, r.hkv, r.d}).requires_grad_();
  const torch::Tensor up = torch::randn({n, r.hq, r.d});
  bench::time_on(state, torch::kCPU, [&] {
    torch::Tensor o = et::ops::detail::varlen_attention_cpu(q, k, v, s, 1.0 / std::sqrt(double(r.d)), 0);
    torch::autograd::backward({o}, {up});
    q.mutable_grad() = k.mutable_grad() = v.mutable_grad() = torch::Tensor();
  });
  bench::report_flops(state, torch::kCPU, causal_flops(r));
}

void BM_DenseMaskedTorchOps(benchmark::State& state) {
  const Rows r = make_rows(state.range(0), state.range(1), state.range(2), state.range(3));
  const int64_t rep = r.hq / r.hkv;
  torch::Tensor q = torch::randn({r.B, r.hq, r.T, r.d}).requires_grad_();
  torch::Tensor k = torch::randn({r.B, r.hkv, r.T, r.d}).requires_grad_();
  torch::Tensor v = torch::randn({r.B, r.hkv, r.T, r.d}).requires_grad_();
  const torch::Tensor seg = torch::from_blob(const_cast<int32_t*>(r.seg.data()), {r.B, r.T}, torch::kInt32).clone();
  const torch::Tensor up = torch::randn({r.B, r.hq, r.T, r.d});
  bench::time_on(state, torch::kCPU, [&] {
    auto i = torch::arange(r.T).unsqueeze(1), j = torch::arange(r.T).unsqueeze(0);
    auto allowed = (j <= i).unsqueeze(0).logical_and(seg.unsqueeze(2) == seg.unsqueeze(1)).unsqueeze(1);
    auto kr = k.unsqueeze(2).expand({r.B, r.hkv, rep, r.T, r.d}).reshape({r.B, r.hq, r.T, r.d});
    auto vr = v.unsqueeze(2).expand({r.B, r.hkv, rep, r.T, r.d}).reshape({r.B, r.hq, r.T, r.d});
    auto scores = torch::matmul(q, kr.transpose(-2, -1)) * (1.0 / std::sqrt(double(r.d)));
    scores = scores.masked_fill(allowed.logical_not(), -std::numeric_limits<float>::infinity());
    auto o = torch::matmul(torch::softmax(scores, -1), vr);
    torch::autograd::backward({o}, {up});
    q.mutable_grad() = k.mutable_grad() = v.mutable_grad() = torch::Tensor();
  });
  bench::report_flops(state, torch::kCPU, causal_flops(r));
}

void cpu_shapes(benchmark::internal::Benchmark* b) {
  b->Args({64, 8, 4, 8})      // stories260K: 8 heads of 8, 4 kv heads; sequences of 64
      ->Args({256, 8, 4, 8})  // one sequence per row
      ->Args({64, 8, 8, 64})  // the ~30M shape: 8 heads of 64
      ->Args({256, 8, 8, 64})
      ->UseManualTime()
      ->Unit(benchmark::kMillisecond);
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
  benchmark::RegisterBenchmark("BM_VarlenCpuKernel", BM_VarlenCpuKernel)->Apply(cpu_shapes);
  benchmark::RegisterBenchmark("BM_DenseMaskedTorchOps", BM_DenseMaskedTorchOps)->Apply(cpu_shapes);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
