// The differentiable RMSNorm op: a torch::autograd::Function whose backward is the analytic
// gradient (derivation in rmsnorm.cu). It saves x, the weight and the per-row rstd
// (float32), nothing of the size of x besides x itself. CPU tensors run the reference loops on all
// threads, CUDA tensors the CUDA kernels (CUDA libtorch builds); other devices, or CUDA tensors in
// a build without the kernels, fall back to the same formula in torch ops with plain autograd.
// Each backward adds one to the counter of the layer the forward ran in (backward_counter.h).
//
// Numerics follow transformers: statistics in float32; offset == 0 (Llama, Qwen) rounds the
// normalized row to x's dtype before multiplying by the weight, offset != 0 (Gemma, weights stored
// as w - 1) multiplies by (offset + w) in float32 and rounds once. The result has x's dtype (with
// a float32 weight and a bfloat16 x, transformers' Llama would return float32; we return x's dtype).
#include "ops/rmsnorm/rmsnorm.h"

#include <torch/csrc/autograd/custom_function.h>

#include <cmath>

#include "edgetune/core/error.h"
#include "ops/common/backward_counter.h"
#include "ops/common/kernel_path.h"
#include "rmsnorm_impl.h"

namespace et::ops {

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

bool use_cuda_kernels(const torch::Tensor& x) {
#ifdef EDGETUNE_TORCH_CUDA
  return x.is_cuda();
#else
  (void)x;
  return false;
#endif
}

std::pair<torch::Tensor, torch::Tensor> forward_2d(const torch::Tensor& x, const torch::Tensor& w,
                                                   double eps, double offset) {
#ifdef EDGETUNE_TORCH_CUDA
  if (x.is_cuda()) return detail::rmsnorm_forward_cuda(x, w, eps, offset);
#endif
  return detail::rmsnorm_forward_cpu(x, w, eps, offset);
}

struct RmsNormFunction : torch::autograd::Function<RmsNormFunction> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x,
                               const torch::Tensor& weight, double eps, double offset) {
    const int64_t cols = x.size(-1);
    torch::Tensor x2 = x.reshape({-1, cols}).contiguous();
    auto [y, rstd] = forward_2d(x2, weight, eps, offset);
    ctx->save_for_backward({x2, weight, rstd});
    ctx->saved_data["offset"] = offset;
    ctx->saved_data["layer"] = static_cast<int64_t>(current_layer_tag());
    return y.view(x.sizes());
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const variable_list saved = ctx->get_saved_variables();
    const torch::Tensor& x2 = saved[0];
    const torch::Tensor& weight = saved[1];
    const torch::Tensor& rstd = saved[2];
    const double offset = ctx->saved_data["offset"].toDouble();
    count_backward(static_cast<int>(ctx->saved_data["layer"].toInt()));
    const bool need_dx = ctx->needs_input_grad(0), need_dw = ctx->needs_input_grad(1);
    const torch::Tensor dy = grads[0].reshape(x2.sizes()).contiguous();
    std::pair<torch::Tensor, torch::Tensor> g;
#ifdef EDGETUNE_TORCH_CUDA
    if (x2.is_cuda())
      g = detail::rmsnorm_backward_cuda(dy, x2, weight, rstd, offset, need_dx, need_dw);
    else
#endif
      g = detail::rmsnorm_backward_cpu(dy, x2, weight, rstd, offset, need_dx, need_dw);
    torch::Tensor dx = g.first.defined() ? g.first.view(grads[0].sizes()) : torch::Tensor();
    return {dx, g.second, torch::Tensor(), torch::Tensor()};
  }
};

// The same formula in torch ops, differentiated by autograd (devices without our kernels).
torch::Tensor rmsnorm_torch_ops(const torch::Tensor& x, const torch::Tensor& weight, double eps,
                                double offset) {
  torch::Tensor xf = x.to(torch::kFloat32);
  torch::Tensor xhat = xf * torch::rsqrt(xf.pow(2).mean(-1, /*keepdim=*/true) + eps);
  if (offset == 0.0) return (weight * xhat.to(x.scalar_type())).to(x.scalar_type());
  return (xhat * (weight.to(torch::kFloat32) + offset)).to(x.scalar_type());
}

void check_inputs(const torch::Tensor& x, const torch::Tensor& weight, double eps, double offset) {
  const char* where = "rmsnorm";
  ET_CHECK(x.defined() && weight.defined(), where, "undefined input or weight");
  ET_CHECK(x.dim() >= 1, where, "input must have at least one dimension");
  const auto xt = x.scalar_type();
  ET_CHECK(xt == torch::kFloat32 || xt == torch::kBFloat16 || xt == torch::kFloat16, where,
           "input dtype ", c10::toString(xt), " is not supported (float32, bfloat16, float16)");
  ET_CHECK(weight.is_floating_point(), where, "weight dtype ", c10::toString(weight.scalar_type()),
           " is not a floating type");
  ET_CHECK(weight.dim() == 1 && weight.size(0) == x.size(-1), where, "weight has shape ",
           weight.sizes(), " but the input's last dimension is ", x.size(-1));
  ET_CHECK(weight.device() == x.device(), where, "weight is on ", weight.device().str(),
           " but the input is on ", x.device().str());
  ET_CHECK(std::isfinite(eps) && eps >= 0.0, where, "eps must be finite and >= 0, got ", eps);
  ET_CHECK(std::isfinite(offset), where, "offset must be finite, got ", offset);
}

}  // namespace

torch::Tensor rmsnorm(const torch::Tensor& x, const torch::Tensor& weight, double eps,
                      double offset) {
  check_inputs(x, weight, eps, offset);
  if (x.numel() == 0 || ops::kernel_path() == ops::KernelPath::reference) return rmsnorm_torch_ops(x, weight, eps, offset);
  if (x.is_cpu() || use_cuda_kernels(x)) return RmsNormFunction::apply(x, weight, eps, offset);
  return rmsnorm_torch_ops(x, weight, eps, offset);
}

}  // namespace et::ops
