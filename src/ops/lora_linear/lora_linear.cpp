// The fused LoRA linear group: autograd function, dispatch and reference (lora_linear.h).
#include "ops/lora_linear/lora_linear.h"

#include <ATen/record_function.h>
#include <torch/csrc/autograd/custom_function.h>

#include "edgetune/core/error.h"
#include "ops/common/backward_counter.h"
#include "ops/common/kernel_path.h"
#include "ops/lora_linear/lora_linear_cpu.h"
#include "ops/lora_linear/lora_pack.h"

namespace et::ops {

namespace detail {

LoraLayout lora_layout(const std::vector<int64_t>& outs, const std::vector<int64_t>& ranks) {
  LoraLayout l;
  l.outs = outs;
  l.ranks = ranks;
  for (size_t j = 0; j < outs.size(); ++j) {
    l.col.push_back(l.out);
    l.out += outs[j];
    l.row.push_back(l.rank);
    l.rank += ranks[j];
  }
  return l;
}

#ifndef EDGETUNE_TORCH_CUDA
bool lora_pack_usable(const torch::Tensor&, at::TensorList, at::TensorList) { return false; }
void lora_pack_into(const LoraLayout&, int64_t, at::TensorList, at::TensorList, const std::vector<double>&,
                    torch::Tensor&, torch::Tensor&) {
  fail("lora_linear", "the packing kernel needs a CUDA build of libtorch");
}
void lora_unpack(const LoraLayout&, int64_t, const torch::Tensor&, const torch::Tensor&, const std::vector<double>&,
                 torch::ScalarType, std::vector<torch::Tensor>&, std::vector<torch::Tensor>&) {
  fail("lora_linear", "the packing kernel needs a CUDA build of libtorch");
}
#endif

}  // namespace detail

namespace {

using detail::LoraLayout;

// Keeps the frozen weight's callbacks alive in the autograd context.
struct FrozenHolder : torch::CustomClassHolder {
  explicit FrozenHolder(std::shared_ptr<const FrozenWeight> w) : w(std::move(w)) {}
  std::shared_ptr<const FrozenWeight> w;
};

struct LoraLinearFn : torch::autograd::Function<LoraLinearFn> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x,
                               at::TensorList As, at::TensorList Bs,
                               c10::intrusive_ptr<FrozenHolder> holder, std::vector<int64_t> outs,
                               std::vector<int64_t> ranks, std::vector<double> scales, double dropout,
                               bool output_unused) {
    RECORD_FUNCTION("et::lora_linear", std::vector<c10::IValue>());
    const FrozenWeight& w = *holder->w;
    const LoraLayout l = detail::lora_layout(outs, ranks);
    const auto dt = x.scalar_type();
    torch::Tensor x2 = x.reshape({-1, w.in});
    torch::Tensor y = output_unused ? torch::empty({x2.size(0), l.out}, x2.options()) : w.forward(x2);
    ET_CHECK(y.dim() == 2 && y.size(1) == l.out, "lora_linear", "the frozen weight gave ", y.sizes(), ", expected [",
             x2.size(0), ", ", l.out, "]");
    // As and Bs hold only the members with an adapter, in member order.
    torch::Tensor z, A, BD, xa;
    const bool packed = l.rank > 0 && detail::lora_pack_usable(x2, As, Bs);
    if (packed) {  // one launch lays out A and the block-diagonal, scaled BD
      A = torch::empty({l.rank, w.in}, y.options());
      BD = torch::empty({l.rank, l.out}, y.options());
      detail::lora_pack_into(l, w.in, As, Bs, scales, A, BD);
    } else if (l.rank > 0) {
      std::vector<torch::Tensor> a;
      for (const auto& t : As) a.push_back(t.to(dt));
      A = torch::cat(a, 0);  // [R, in]
      BD = torch::zeros({l.rank, l.out}, y.options());
      size_t k = 0;
      for (size_t j = 0; j < l.outs.size(); ++j)
        if (l.ranks[j] > 0) {
          BD.narrow(0, l.row[j], l.ranks[j]).narrow(1, l.col[j], l.outs[j]).copy_(Bs[k].t() * scales[k]);
          ++k;
        }
    }
    if (l.rank > 0) {
      xa = dropout > 0 ? at::dropout(x2, dropout, /*train=*/true) : x2;  // the adapters' input
      z = at::mm(xa, A.t());
      if (!output_unused) y.addmm_(z, BD);
    }
    ctx->save_for_backward({x2, z, A, BD, xa});
    ctx->saved_data["w"] = c10::IValue::make_capsule(holder);
    ctx->saved_data["outs"] = outs;
    ctx->saved_data["ranks"] = ranks;
    ctx->saved_data["scales"] = scales;
    ctx->saved_data["packed"] = packed;
    ctx->saved_data["factor_dtype"] = static_cast<int64_t>(As.empty() ? dt : As[0].scalar_type());
    ctx->saved_data["layer"] = static_cast<int64_t>(current_layer_tag());
    ctx->saved_data["xshape"] = x.sizes().vec();
    std::vector<int64_t> shape(x.sizes().begin(), x.sizes().end());
    shape.back() = l.out;
    return y.view(shape);
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const torch::Tensor &x2 = saved[0], &z = saved[1], &A = saved[2], &BD = saved[3], &xa = saved[4];
    const auto holder = c10::static_intrusive_pointer_cast<FrozenHolder>(ctx->saved_data["w"].toCapsule());
    const FrozenWeight& w = *holder->w;
    const LoraLayout l = detail::lora_layout(ctx->saved_data["outs"].toIntVector(), ctx->saved_data["ranks"].toIntVector());
    const std::vector<double> scales = ctx->saved_data["scales"].toDoubleVector();
    size_t n = 0;  // members with an adapter
    for (auto r : l.ranks) n += r > 0;
    const torch::Tensor dy = grads[0].reshape({-1, w.out}).to(x2.scalar_type()).contiguous();
    torch::autograd::variable_list out(1 + 2 * n);
    torch::Tensor dz;
    if (l.rank > 0) dz = at::mm(dy, BD.t());  // [M, R]
    if (ctx->needs_input_grad(0)) {
      count_backward(static_cast<int>(ctx->saved_data["layer"].toInt()), w.matrices);
      torch::Tensor dx = w.input_grad(dy);
      if (l.rank > 0) dx.addmm_(dz, A);
      out[0] = dx.view(ctx->saved_data["xshape"].toIntVector());
    }
    if (l.rank > 0) {
      const torch::Tensor dA = at::mm(dz.t(), xa);  // [R, in]
      const torch::Tensor dBD = at::mm(z.t(), dy);  // [R, out]
      if (ctx->saved_data["packed"].toBool()) {  // one launch takes the members' gradients apart
        std::vector<torch::Tensor> dAs, dBs;
        detail::lora_unpack(l, w.in, dA, dBD, scales,
                            static_cast<torch::ScalarType>(ctx->saved_data["factor_dtype"].toInt()), dAs, dBs);
        for (size_t k = 0; k < n; ++k) {
          if (ctx->needs_input_grad(1 + k)) out[1 + k] = dAs[k];
          if (ctx->needs_input_grad(1 + n + k)) out[1 + n + k] = dBs[k];
        }
        out.resize(1 + 2 * n + 6);
        return out;
      }
      size_t k = 0;
      for (size_t j = 0; j < l.outs.size(); ++j) {
        if (l.ranks[j] == 0) continue;
        if (ctx->needs_input_grad(1 + k)) out[1 + k] = dA.narrow(0, l.row[j], l.ranks[j]);
        if (ctx->needs_input_grad(1 + n + k))
          out[1 + n + k] = dBD.narrow(0, l.row[j], l.ranks[j]).narrow(1, l.col[j], l.outs[j]).t() * scales[k];
        ++k;
      }
    }
    out.resize(1 + 2 * n + 6);  // the holder, outs, ranks, scales, dropout rate and output flag take none
    return out;
  }
};

void check_args(const torch::Tensor& x, const FrozenWeight& w, const std::vector<int64_t>& outs,
                const std::vector<LoraFactors>& lora) {
  const char* where = "lora_linear";
  ET_CHECK(x.dim() >= 1 && x.size(-1) == w.in, where, "input has ", x.sizes(), ", the weights expect ", w.in,
           " features");
  ET_CHECK(lora.size() == outs.size(), where, lora.size(), " adapters for ", outs.size(), " members");
  int64_t total = 0;
  for (size_t j = 0; j < outs.size(); ++j) {
    total += outs[j];
    if (!lora[j].defined()) continue;
    ET_CHECK(lora[j].B.defined() && lora[j].A.dim() == 2 && lora[j].B.dim() == 2 && lora[j].A.size(1) == w.in &&
                 lora[j].B.size(0) == outs[j] && lora[j].B.size(1) == lora[j].A.size(0),
             where, "member ", j, ": A ", lora[j].A.sizes(), " and B ", lora[j].B.sizes(), " do not fit ", w.in,
             " -> ", outs[j]);
  }
  ET_CHECK(total == w.out, where, "members add up to ", total, " outputs, the weights have ", w.out);
}

}  // namespace

torch::Tensor lora_linear(const torch::Tensor& x, std::shared_ptr<const FrozenWeight> w,
                          const std::vector<int64_t>& outs, const std::vector<LoraFactors>& lora,
                          OutputValue output) {
  check_args(x, *w, outs, lora);
  const bool unused = output == OutputValue::unused;
  torch::autograd::variable_list As, Bs;
  std::vector<int64_t> ranks;
  std::vector<double> scales;
  double dropout = 0;
  for (const auto& f : lora) {
    if (f.defined()) dropout = std::max(dropout, f.dropout);
    if (f.defined()) {
      As.push_back(f.A);
      Bs.push_back(f.B);
      scales.push_back(f.scale);
    }
    ranks.push_back(f.defined() ? f.A.size(0) : 0);
  }
  if (!torch::GradMode::is_enabled()) dropout = 0;  // dropout only while training
  if (kernel_path() == KernelPath::fast && detail::lora_linear_cpu_usable(x, *w))
    return detail::lora_linear_cpu(x, std::move(w), outs, As, Bs, ranks, scales, dropout, unused);
  return LoraLinearFn::apply(x, at::TensorList(As), at::TensorList(Bs), c10::make_intrusive<FrozenHolder>(std::move(w)),
                             outs, ranks, scales, dropout, unused);
}

torch::Tensor lora_linear_ref(const torch::Tensor& x, const FrozenWeight& w, const std::vector<int64_t>& outs,
                              const std::vector<LoraFactors>& lora) {
  check_args(x, w, outs, lora);
  torch::Tensor x2 = x.reshape({-1, w.in});
  torch::Tensor base = w.forward(x2);
  std::vector<torch::Tensor> parts;
  int64_t col = 0;
  for (size_t j = 0; j < outs.size(); ++j) {
    torch::Tensor y = base.narrow(1, col, outs[j]);
    if (lora[j].defined()) {
      const torch::Tensor xa = lora[j].dropout > 0 && torch::GradMode::is_enabled() ? at::dropout(x2, lora[j].dropout, true) : x2;
      y = y + at::mm(at::mm(xa, lora[j].A.to(x.scalar_type()).t()), (lora[j].B * lora[j].scale).to(x.scalar_type()).t());
    }
    parts.push_back(y);
    col += outs[j];
  }
  std::vector<int64_t> shape(x.sizes().begin(), x.sizes().end());
  shape.back() = w.out;
  return torch::cat(parts, 1).view(shape);
}

}  // namespace et::ops
