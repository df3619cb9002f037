#include "edgetune/kernels/cross_entropy.h"

#include <torch/csrc/autograd/custom_function.h>

#include <algorithm>

#include "edgetune/core/error.h"

namespace et::kernels {
namespace {

int64_t pick_chunk(int64_t chunk_rows, int64_t vocab) {
  if (chunk_rows > 0) return chunk_rows;
  return std::max<int64_t>(1, (int64_t{16} << 20) / std::max<int64_t>(1, vocab));
}

// Float32 logits of rows [b, e) (with softcapping).
torch::Tensor chunk_logits(const torch::Tensor& h, const torch::Tensor& w, int64_t b, int64_t e, double cap) {
  auto u = torch::matmul(h.slice(0, b, e), w.t()).to(torch::kFloat32);
  if (cap > 0) u = torch::tanh(u / cap) * cap;
  return u;
}

struct ChunkedCrossEntropy : public torch::autograd::Function<ChunkedCrossEntropy> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& h,
                               const torch::Tensor& w, const torch::Tensor& targets, double cap, int64_t chunk) {
    const int64_t n = h.size(0);
    auto lse = torch::empty({n}, h.options().dtype(torch::kFloat32));
    auto total = torch::zeros({}, h.options().dtype(torch::kFloat32));
    for (int64_t b = 0; b < n; b += chunk) {
      const int64_t e = std::min(n, b + chunk);
      auto z = chunk_logits(h, w, b, e, cap);
      auto l = torch::logsumexp(z, -1);
      lse.slice(0, b, e).copy_(l);
      total += (l - z.gather(1, targets.slice(0, b, e).unsqueeze(1)).squeeze(1)).sum();
    }
    ctx->save_for_backward({h, w, targets, lse});
    ctx->saved_data["cap"] = cap;
    ctx->saved_data["chunk"] = chunk;
    return total;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad_out) {
    auto saved = ctx->get_saved_variables();
    const auto& h = saved[0];
    const auto& w = saved[1];
    const auto& targets = saved[2];
    const auto& lse = saved[3];
    const double cap = ctx->saved_data["cap"].toDouble();
    const int64_t chunk = ctx->saved_data["chunk"].toInt();
    const auto g = grad_out[0].to(torch::kFloat32);
    const bool need_h = ctx->needs_input_grad(0), need_w = ctx->needs_input_grad(1);
    torch::Tensor dh, dw;
    if (need_h) dh = torch::empty_like(h);
    if (need_w) dw = torch::zeros(w.sizes(), w.options().dtype(torch::kFloat32));
    const int64_t n = h.size(0);
    for (int64_t b = 0; b < n; b += chunk) {
      const int64_t e = std::min(n, b + chunk);
      auto z = chunk_logits(h, w, b, e, cap);
      auto p = torch::exp(z - lse.slice(0, b, e).unsqueeze(1));
      p.scatter_add_(1, targets.slice(0, b, e).unsqueeze(1),
                     torch::full({e - b, 1}, -1.0f, p.options()));
      p.mul_(g);
      if (cap > 0) p.mul_(1 - (z / cap).pow(2));
      auto du = p.to(h.scalar_type());
      if (need_h) dh.slice(0, b, e).copy_(torch::matmul(du, w));
      if (need_w) dw.add_(torch::matmul(du.t(), h.slice(0, b, e)).to(torch::kFloat32));
    }
    return {dh, need_w ? dw.to(w.scalar_type()) : torch::Tensor(), torch::Tensor(), torch::Tensor(),
            torch::Tensor()};
  }
};

}  // namespace

torch::Tensor chunked_cross_entropy(const torch::Tensor& h, const torch::Tensor& weight, const torch::Tensor& targets,
                                    double softcap, int64_t chunk_rows) {
  ET_CHECK(h.dim() == 2 && weight.dim() == 2 && h.size(1) == weight.size(1), "cross_entropy", "hidden ",
           h.sizes(), " and weight ", weight.sizes(), " do not fit (need [N, H] and [V, H])");
  ET_CHECK(targets.dim() == 1 && targets.size(0) == h.size(0), "cross_entropy", "targets ", targets.sizes(),
           " do not match ", h.size(0), " rows");
  if (h.size(0) == 0) return torch::zeros({}, h.options().dtype(torch::kFloat32));
  auto t = targets.to(torch::kLong);
  const int64_t vocab = weight.size(0);
  ET_CHECK(t.min().item<int64_t>() >= 0 && t.max().item<int64_t>() < vocab, "cross_entropy",
           "a target id is outside the vocabulary of ", vocab);
  return ChunkedCrossEntropy::apply(h, weight, t, softcap, pick_chunk(chunk_rows, vocab));
}

}  // namespace et::kernels
