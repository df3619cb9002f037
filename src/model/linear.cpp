// linear_forward: y = x W^T + b, plus the optional adapter's output (see linear.h).
#include "edgetune/model/linear.h"

#include "edgetune/core/error.h"
#include "edgetune/quant/nf4_linear.h"
#include "ops/common/kernel_path.h"
#include "ops/nf4_matmul/nf4_matmul.h"

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

bool linear_group_fusable(const std::vector<const Linear*>& g) {
  if (g.empty() || ops::kernel_path() != ops::KernelPath::fast) return false;
  for (const Linear* l : g) {
    if (l->in_features != g[0]->in_features || (!l->weight.defined() && !l->nf4)) return false;
    if (l->adapter && !l->lora) return false;
    // the group's weights are frozen: a trained weight (full fine-tuning) takes the plain path
    if ((l->weight.defined() && l->weight.requires_grad()) || (l->bias.defined() && l->bias.requires_grad()))
      return false;
  }
  return true;
}

namespace {

// True when `fused` holds the members' dense weights as its rows, in order (they are its views).
bool rows_of(const torch::Tensor& fused, const std::vector<const Linear*>& g) {
  if (!fused.defined() || !fused.is_contiguous()) return false;
  const auto* base = static_cast<const char*>(fused.data_ptr());
  int64_t row = 0;
  for (const Linear* l : g) {
    if (!l->weight.defined() || l->weight.data_ptr() != base + row * fused.stride(0) * fused.element_size())
      return false;
    row += l->out_features;
  }
  return row == fused.size(0);
}

// The frozen part of a float32 CPU group through the CPU kernel that decodes NF4 inside its GEMM
// (ops/nf4_matmul), member by member: each member's product into its columns of Y (forward) and
// accumulated into dX (input gradient); dense members (rows of the stacked buffer when there is
// one) through the same kernel. The members are also listed for lora_linear's CPU path.
std::shared_ptr<ops::FrozenWeight> cpu_frozen_group(const torch::Tensor& stacked, const std::vector<torch::Tensor>& dense,
                                                    const std::vector<std::shared_ptr<quant::Nf4Weight>>& nf4,
                                                    const std::vector<int64_t>& outs, const torch::Tensor& bias,
                                                    std::shared_ptr<ops::FrozenWeight> w) {
  const torch::Tensor code = quant::nf4_code_tensor();
  const torch::Tensor stacked32 = stacked.defined() ? stacked.contiguous() : torch::Tensor();
  int64_t col = 0;
  for (size_t j = 0; j < outs.size(); ++j) {
    ops::MatmulWeight mw;
    if (stacked32.defined()) {
      mw = ops::dense_weight(stacked32.narrow(0, col, outs[j]));
    } else if (nf4[j]) {
      ET_CHECK(nf4[j]->packed.is_cpu(), "linear", nf4[j]->name, ": NF4 buffers on ", nf4[j]->packed.device().str(),
               " for a CPU input");
      mw.packed = nf4[j]->packed;
      mw.scales = quant::nf4_block_scales(*nf4[j]);
      mw.code = code;
      mw.block = quant::Nf4Weight::kBlock;
      mw.rows = outs[j];
      mw.cols = w->in;
    } else {
      mw = ops::dense_weight(dense[j].to(torch::kFloat32).contiguous());
    }
    w->cpu_members.push_back(std::move(mw));
    w->cpu_bias.push_back(bias.defined() ? bias.narrow(0, col, outs[j]).contiguous() : torch::Tensor());
    col += outs[j];
  }
  const int64_t in = w->in, out = w->out;
  // The callbacks hold the members, not the FrozenWeight that holds them.
  auto members = std::make_shared<std::vector<ops::MatmulWeight>>(w->cpu_members);
  auto biases = std::make_shared<std::vector<torch::Tensor>>(w->cpu_bias);
  w->forward = [members, biases, out](const torch::Tensor& x) {
    const torch::Tensor xc = x.contiguous();
    torch::Tensor y = torch::empty({xc.size(0), out}, xc.options());
    int64_t c = 0;
    for (size_t j = 0; j < members->size(); ++j) {
      torch::Tensor cols = y.narrow(1, c, (*members)[j].rows);
      ops::nf4_matmul_into(xc, (*members)[j], (*biases)[j], cols);
      c += (*members)[j].rows;
    }
    return y;
  };
  w->input_grad = [members, in](const torch::Tensor& dy) {
    const torch::Tensor dyc = dy.contiguous();
    torch::Tensor dx = torch::empty({dyc.size(0), in}, dyc.options());
    int64_t c = 0;
    for (size_t j = 0; j < members->size(); ++j) {
      ops::nf4_matmul_t_into(dyc.narrow(1, c, (*members)[j].rows), (*members)[j], dx, j > 0);
      c += (*members)[j].rows;
    }
    return dx;
  };
  return w;
}

// The frozen part of a group: the weights as one [sum out, in] matrix in dtype dt (the stacked
// buffer itself, or NF4 dequantized just in time into a fresh one, at every call: forward and
// again in backward), and the stacked bias.
std::shared_ptr<ops::FrozenWeight> frozen_group(const std::vector<const Linear*>& g, const torch::Tensor& fused,
                                                torch::ScalarType dt, torch::Device dev) {
  struct Parts {
    std::vector<torch::Tensor> dense;
    std::vector<std::shared_ptr<quant::Nf4Weight>> nf4;
    std::vector<int64_t> outs;
    torch::Tensor stacked, bias;
  };
  auto p = std::make_shared<Parts>();
  auto w = std::make_shared<ops::FrozenWeight>();
  w->in = g[0]->in_features;
  w->matrices = static_cast<int>(g.size());
  bool any_bias = false;
  for (const Linear* l : g) {
    p->dense.push_back(l->weight);
    p->nf4.push_back(l->nf4);
    p->outs.push_back(l->out_features);
    w->out += l->out_features;
    any_bias = any_bias || l->bias.defined();
  }
  if (rows_of(fused, g) && fused.scalar_type() == dt) p->stacked = fused;
  if (g.size() == 1 && g[0]->weight.defined() && g[0]->weight.scalar_type() == dt) p->stacked = g[0]->weight;
  if (any_bias) {
    std::vector<torch::Tensor> b;
    for (const Linear* l : g)
      b.push_back(l->bias.defined() ? l->bias.to(dt) : torch::zeros({l->out_features}, torch::TensorOptions().dtype(dt).device(dev)));
    p->bias = torch::cat(b, 0);
  }
  const int64_t in = w->in, out = w->out;
  if (dev.is_cpu() && dt == torch::kFloat32) return cpu_frozen_group(p->stacked, p->dense, p->nf4, p->outs, p->bias, w);
  auto weight = [p, in, out, dt, dev]() {
    if (p->stacked.defined()) return p->stacked;
    torch::Tensor W = torch::empty({out, in}, torch::TensorOptions().dtype(dt).device(dev));
    int64_t row = 0;
    for (size_t j = 0; j < p->outs.size(); ++j) {
      torch::Tensor rows = W.narrow(0, row, p->outs[j]);
      if (p->nf4[j])
        quant::nf4_dequantize_into(*p->nf4[j], rows);
      else
        rows.copy_(p->dense[j]);
      row += p->outs[j];
    }
    return W;
  };
  w->forward = [p, weight](const torch::Tensor& x) {
    const torch::Tensor W = weight();
    return p->bias.defined() ? at::addmm(p->bias, x, W.t()) : at::mm(x, W.t());
  };
  w->input_grad = [weight](const torch::Tensor& dy) { return at::mm(dy, weight()); };
  return w;
}

}  // namespace

torch::Tensor linear_group_forward(const std::vector<const Linear*>& g, const torch::Tensor& x,
                                   const torch::Tensor& fused_weight, ops::OutputValue output) {
  ET_CHECK(linear_group_fusable(g), "linear", g.empty() ? "an empty group" : g[0]->name, ": the group cannot run fused");
  std::vector<int64_t> outs;
  std::vector<ops::LoraFactors> lora;
  for (const Linear* l : g) {
    outs.push_back(l->out_features);
    lora.push_back(l->lora ? l->lora() : ops::LoraFactors{});
  }
  return ops::lora_linear(x, frozen_group(g, fused_weight, x.scalar_type(), x.device()), outs, lora, output);
}

}  // namespace et::model
