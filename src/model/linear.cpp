// linear_forward: y = x W^T + b, plus the optional adapter's output (see linear.h).
#include "edgetune/model/linear.h"

#include "edgetune/core/error.h"
#include "edgetune/quant/nf4_linear.h"

namespace et::model {

const char* linear_kind_name(LinearKind k) {
  switch (k) {
    case LinearKind::q_proj: return "q_proj";
    case LinearKind::k_proj: return "k_proj";
    case LinearKind::v_proj: return "v_proj";
    case LinearKind::o_proj: return "o_proj";
    case LinearKind::gate_proj: return "gate_proj";
    case LinearKind::up_proj: return "up_proj";
    case LinearKind::down_proj: return "down_proj";
  }
  return "?";
}

const char* linear_kind_parent(LinearKind k) {
  switch (k) {
    case LinearKind::q_proj:
    case LinearKind::k_proj:
    case LinearKind::v_proj:
    case LinearKind::o_proj: return "self_attn";
    default: return "mlp";
  }
}

torch::Tensor linear_forward(const Linear& lin, const torch::Tensor& x) {
  ET_CHECK(lin.weight.defined() || lin.nf4, "linear", lin.name, ": no weight loaded");
  ET_CHECK(x.size(-1) == lin.in_features, "linear", lin.name, ": input has ", x.size(-1),
           " features, the weight expects ", lin.in_features);
  torch::Tensor y;
  if (lin.nf4)
    y = quant::nf4_linear(x, *lin.nf4, lin.bias);
  else
    y = lin.bias.defined() ? at::linear(x, lin.weight, lin.bias) : at::linear(x, lin.weight);
  if (lin.adapter) y = lin.adapter(x, y);
  return y;
}

}  // namespace et::model
