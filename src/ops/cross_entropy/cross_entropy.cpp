// The chunked cross-entropy: dispatch, the fast forms (gradient in the forward for a frozen head;
// recompute in backward for a trainable one), the per-row pass in torch ops, and the reference
// (cross_entropy.h).
#include "ops/cross_entropy/cross_entropy.h"

#include <torch/csrc/autograd/custom_function.h>

#include <algorithm>

#ifdef EDGETUNE_TORCH_CUDA
#include <ATen/cuda/CUDAContext.h>
#endif

#include "ops/common/parallel.h"
#include "edgetune/core/error.h"
#include "ops/common/kernel_path.h"
#include "ops/cross_entropy/cross_entropy_cpu.h"
#include "ops/nf4_matmul/nf4_matmul.h"

namespace et::ops {

namespace detail {

void cross_entropy_rows(torch::Tensor& z, const torch::Tensor& targets, double cap, torch::Tensor& loss,
                        bool want_grad) {
#ifdef EDGETUNE_TORCH_CUDA
  if (z.is_cuda()) return cross_entropy_rows_cuda(z, targets, cap, loss, want_grad);
#endif
  torch::Tensor u = z.to(torch::kFloat32);
  if (cap > 0) u = torch::tanh(u / cap) * cap;
  torch::Tensor lse = torch::logsumexp(u, -1);
  const torch::Tensor t = targets.unsqueeze(1);
  loss.copy_(lse - u.gather(1, t).squeeze(1));
  if (!want_grad) return;
  torch::Tensor p = torch::exp(u - lse.unsqueeze(1));
  p.scatter_add_(1, t, torch::full({p.size(0), 1}, -1.0f, p.options()));
  if (cap > 0) p.mul_(1 - (u / cap).pow(2));
  z.copy_(p);
}

#ifndef EDGETUNE_TORCH_CUDA
void cross_entropy_rows_cuda(torch::Tensor&, const torch::Tensor&, double, torch::Tensor&, bool) {
  fail("cross_entropy", "CUDA tensors need a CUDA build of libtorch");
}
#endif

}  // namespace detail

int64_t cross_entropy_chunk_rows(int64_t vocab, int64_t n, bool cuda, bool small) {
  vocab = std::max<int64_t>(1, vocab);
  if (cuda) {
    // ~256M logits (512 MB in bfloat16) per chunk, in whole 128-row GEMM tiles: the input
    // gradient's GEMM (chunk x hidden outputs, K = vocab) fills the GPU only with enough rows
    // (H200, 16384 x 2048, vocabulary 128256, forward + backward: 31.0 ms at 512 rows, 29.6 at
    // 1024, 28.5 at 2048, 28.5 at 4096). Small: ~64M (128 MB).
    const int64_t logits = int64_t{small ? 64 : 256} << 20;
    const int64_t rows = std::max<int64_t>(128, (logits / vocab) / 128 * 128);
    return std::min(rows, (n + 127) / 128 * 128);
  }
  return std::max<int64_t>(1, (int64_t{16} << 20) / vocab);  // 64 MB of float32 logits
}

namespace {

int64_t pick_chunk(int64_t chunk_rows, int64_t vocab, int64_t n, const torch::Tensor& h) {
  if (chunk_rows > 0) return chunk_rows;
  bool unified = false;
#ifdef EDGETUNE_TORCH_CUDA
  if (h.is_cuda()) {
    const auto* prop = at::cuda::getDeviceProperties(h.get_device());
    unified = prop && prop->integrated;
  }
#endif
  return cross_entropy_chunk_rows(vocab, n, h.is_cuda(), unified);
}

// The logits' dtype of a chunk: h's on CUDA (the GEMM's output), float32 on the CPU.
torch::ScalarType logits_dtype(const torch::Tensor& h) { return h.is_cuda() ? h.scalar_type() : torch::kFloat32; }

// fused_pass on float32 CPU tensors: both head GEMMs on nf4_matmul's kernel (its threads split
// the vocabulary), the rows on the vectorized row pass (threads split the rows).
torch::Tensor fused_pass_cpu(const torch::Tensor& h, const torch::Tensor& w, const torch::Tensor& targets, double cap,
                             int64_t chunk, torch::Tensor* dh) {
  const int64_t n = h.size(0), vocab = w.size(0);
  torch::Tensor loss = torch::empty({n}, h.options());
  const torch::Tensor hc = h.contiguous(), tc = targets.contiguous();
  const MatmulWeight head = dense_weight(w.contiguous());
  torch::Tensor z = torch::empty({std::min(chunk, n), vocab}, h.options());
  for (int64_t b = 0; b < n; b += chunk) {
    const int64_t e = std::min(n, b + chunk);
    torch::Tensor zc = z.narrow(0, 0, e - b);
    nf4_matmul_into(hc.slice(0, b, e), head, torch::Tensor(), zc);
    float* zp = zc.data_ptr<float>();
    float* lp = loss.data_ptr<float>() + b;
    const int64_t* tp = tc.data_ptr<int64_t>() + b;
    at::parallel_for(0, e - b, 1, [&](int64_t r0, int64_t r1) {
      cpu::cross_entropy_rows_f32(zp + r0 * vocab, r1 - r0, vocab, vocab, tp + r0, static_cast<float>(cap), lp + r0,
                                  dh != nullptr);
    });
    if (dh) {
      torch::Tensor dc = dh->slice(0, b, e);
      nf4_matmul_t_into(zc, head, dc, false);
    }
  }
  return loss.sum();
}

// Sum of the rows' losses; with dh defined, dh gets dL/dh (g = 1) chunk by chunk.
torch::Tensor fused_pass(const torch::Tensor& h, const torch::Tensor& w, const torch::Tensor& targets, double cap,
                         int64_t chunk, torch::Tensor* dh) {
  if (h.is_cpu() && w.is_cpu() && h.scalar_type() == torch::kFloat32 && w.scalar_type() == torch::kFloat32 &&
      (!dh || dh->is_contiguous()))
    return fused_pass_cpu(h, w, targets, cap, chunk, dh);
  const int64_t n = h.size(0), vocab = w.size(0);
  torch::Tensor loss = torch::empty({n}, h.options().dtype(torch::kFloat32));
  const auto zt = logits_dtype(h);
  const torch::Tensor hc = h.to(zt), wc = w.to(zt);
  torch::Tensor z = torch::empty({std::min(chunk, n), vocab}, h.options().dtype(zt));
  for (int64_t b = 0; b < n; b += chunk) {
    const int64_t e = std::min(n, b + chunk);
    torch::Tensor zc = z.narrow(0, 0, e - b);
    at::mm_out(zc, hc.slice(0, b, e), wc.t());
    torch::Tensor lc = loss.slice(0, b, e);
    detail::cross_entropy_rows(zc, targets.slice(0, b, e), cap, lc, dh != nullptr);
    if (dh) {
      if (zt == dh->scalar_type()) {
        torch::Tensor dc = dh->slice(0, b, e);
        at::mm_out(dc, zc, wc);
      } else {
        dh->slice(0, b, e).copy_(at::mm(zc, wc));
      }
    }
  }
  return loss.sum();
}

// Frozen head: the gradient is taken in the forward; backward scales it.
struct GradInForward : torch::autograd::Function<GradInForward> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& h, const torch::Tensor& w,
                               const torch::Tensor& targets, double cap, int64_t chunk) {
    torch::Tensor dh = torch::empty_like(h);
    torch::Tensor total = fused_pass(h, w, targets, cap, chunk, &dh);
    ctx->save_for_backward({dh});
    return total;
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    torch::Tensor dh = ctx->get_saved_variables()[0];
    return {dh * grads[0].to(dh.scalar_type()), torch::Tensor(), torch::Tensor(), torch::Tensor(), torch::Tensor()};
  }
};

// Float32 logits of rows [b, e) (with softcapping); the GEMM in logits_dtype(h).
torch::Tensor chunk_logits(const torch::Tensor& h, const torch::Tensor& w, int64_t b, int64_t e, double cap) {
  const auto zt = logits_dtype(h);
  auto u = torch::matmul(h.slice(0, b, e).to(zt), w.to(zt).t()).to(torch::kFloat32);
  if (cap > 0) u = torch::tanh(u / cap) * cap;
  return u;
}

// Trainable head: the forward saves the per-row logsumexp; backward recomputes each chunk.
struct Recompute : torch::autograd::Function<Recompute> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& h, const torch::Tensor& w,
                               const torch::Tensor& targets, double cap, int64_t chunk) {
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
      p.scatter_add_(1, targets.slice(0, b, e).unsqueeze(1), torch::full({e - b, 1}, -1.0f, p.options()));
      p.mul_(g);
      if (cap > 0) p.mul_(1 - (z / cap).pow(2));
      const auto zt = logits_dtype(h);
      auto du = p.to(zt);
      if (need_h) dh.slice(0, b, e).copy_(torch::matmul(du, w.to(zt)));
      if (need_w) dw.add_(torch::matmul(du.t(), h.slice(0, b, e).to(zt)).to(torch::kFloat32));
    }
    return {dh, need_w ? dw.to(w.scalar_type()) : torch::Tensor(), torch::Tensor(), torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

torch::Tensor cross_entropy_ref(const torch::Tensor& h, const torch::Tensor& w, const torch::Tensor& targets,
                                double cap) {
  auto z = torch::matmul(h, w.t());
  if (z.scalar_type() != torch::kFloat64) z = z.to(torch::kFloat32);
  if (cap > 0) z = torch::tanh(z / cap) * cap;
  const auto lse = torch::logsumexp(z, -1);
  return (lse - z.gather(1, targets.unsqueeze(1)).squeeze(1)).sum();
}

torch::Tensor chunked_cross_entropy(const torch::Tensor& h, const torch::Tensor& weight, const torch::Tensor& targets,
                                    double softcap, int64_t chunk_rows, bool check_targets) {
  ET_CHECK(h.dim() == 2 && weight.dim() == 2 && h.size(1) == weight.size(1), "cross_entropy", "hidden ",
           h.sizes(), " and weight ", weight.sizes(), " do not fit (need [N, H] and [V, H])");
  ET_CHECK(targets.dim() == 1 && targets.size(0) == h.size(0), "cross_entropy", "targets ", targets.sizes(),
           " do not match ", h.size(0), " rows");
  if (h.size(0) == 0) return torch::zeros({}, h.options().dtype(torch::kFloat32));
  auto t = targets.to(h.device(), torch::kLong);
  const int64_t vocab = weight.size(0);
  if (check_targets)
    ET_CHECK(t.min().item<int64_t>() >= 0 && t.max().item<int64_t>() < vocab, "cross_entropy",
             "a target id is outside the vocabulary of ", vocab);
  if (kernel_path() == KernelPath::reference) return cross_entropy_ref(h, weight, t, softcap);
  const int64_t chunk = pick_chunk(chunk_rows, vocab, h.size(0), h);
  const bool grad = torch::GradMode::is_enabled();
  if (grad && weight.requires_grad()) return Recompute::apply(h, weight, t, softcap, chunk);
  if (grad && h.requires_grad()) return GradInForward::apply(h, weight, t, softcap, chunk);
  torch::NoGradGuard no_grad;
  return fused_pass(h, weight, t, softcap, chunk, nullptr);
}

}  // namespace et::ops
