// The NF4 linear autograd op (see nf4_linear.h); its backward counts itself per layer
// (kernels/backward_counter.h).
#include "edgetune/quant/nf4_linear.h"

#include <torch/csrc/autograd/custom_function.h>

#include "edgetune/core/error.h"
#include "ops/common/backward_counter.h"

namespace et::quant {
namespace {

struct Nf4Linear : public torch::autograd::Function<Nf4Linear> {
  // The frozen bias is added outside (libtorch 1.13 cannot take an undefined tensor as an input).
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x, const Nf4Weight* w) {
    ctx->saved_data["w"] = reinterpret_cast<int64_t>(w);
    ctx->saved_data["layer"] = static_cast<int64_t>(ops::current_layer_tag());
    return at::linear(x, nf4_dequantize(*w, x.scalar_type(), x.device()));
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad_out) {
    const auto* w = reinterpret_cast<const Nf4Weight*>(ctx->saved_data["w"].toInt());
    ops::count_backward(static_cast<int>(ctx->saved_data["layer"].toInt()));
    const torch::Tensor& dy = grad_out[0];
    torch::Tensor W = nf4_dequantize(*w, dy.scalar_type(), dy.device());
    return {at::matmul(dy, W), torch::Tensor()};
  }
};

}  // namespace

torch::Tensor nf4_linear(const torch::Tensor& x, const Nf4Weight& w, const torch::Tensor& bias) {
  ET_CHECK(w.shape.size() == 2 && x.size(-1) == w.shape[1], "nf4_linear", w.name, ": input has ", x.size(-1),
           " features, the weight expects ", w.shape.size() == 2 ? w.shape[1] : -1);
  if (!x.requires_grad() || !torch::GradMode::is_enabled()) {
    torch::Tensor W = nf4_dequantize(w, x.scalar_type(), x.device());
    return bias.defined() ? at::linear(x, W, bias.to(x.scalar_type())) : at::linear(x, W);
  }
  torch::Tensor y = Nf4Linear::apply(x, &w);
  return bias.defined() ? y + bias.to(y.scalar_type()) : y;
}

}  // namespace et::quant
