// The CPU fast path of the fused LoRA linear group (lora_linear_cpu.h; the sums in lora_linear.h).
#include "ops/lora_linear/lora_linear_cpu.h"

#include <ATen/record_function.h>
#include <torch/csrc/autograd/custom_function.h>

#include "edgetune/core/error.h"
#include "ops/common/backward_counter.h"
#include "ops/lora_linear/lora_pack.h"
#include "ops/nf4_matmul/nf4_matmul.h"

namespace et::ops::detail {

namespace {

struct FrozenHolder : torch::CustomClassHolder {
  explicit FrozenHolder(std::shared_ptr<const FrozenWeight> w) : w(std::move(w)) {}
  std::shared_ptr<const FrozenWeight> w;
};

torch::Tensor f32(const torch::Tensor& t) { return t.to(torch::kFloat32).contiguous(); }

struct LoraLinearCpuFn : torch::autograd::Function<LoraLinearCpuFn> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x, at::TensorList As,
                               at::TensorList Bs, c10::intrusive_ptr<FrozenHolder> holder, std::vector<int64_t> outs,
                               std::vector<int64_t> ranks, std::vector<double> scales, double dropout,
                               bool output_unused) {
    RECORD_FUNCTION("et::lora_linear_cpu", std::vector<c10::IValue>());
    const FrozenWeight& w = *holder->w;
    const LoraLayout l = lora_layout(outs, ranks);
    const torch::Tensor x2 = x.reshape({-1, w.in}).contiguous();
    const int64_t M = x2.size(0);
    torch::Tensor y = torch::empty({M, l.out}, x2.options());
    torch::Tensor A, z, xa;
    std::vector<torch::Tensor> B;  // per adapted member, [out_j, r_j]
    if (l.rank > 0) {
      std::vector<torch::Tensor> a;
      for (const auto& t : As) a.push_back(f32(t));
      for (size_t i = 0; i < Bs.size(); ++i)  // s_i B_i (a new tensor: B_i may be the parameter itself)
        B.push_back(scales[i] == 1.0 ? f32(Bs[i]) : f32(Bs[i]) * scales[i]);
      A = torch::cat(a, 0);  // [R, in]
      xa = dropout > 0 ? at::dropout(x2, dropout, /*train=*/true) : x2;
      z = torch::empty({M, l.rank}, x2.options());
      nf4_matmul_into(xa, dense_weight(A), torch::Tensor(), z);
    }
    size_t k = 0;
    for (size_t j = 0; j < outs.size() && !output_unused; ++j) {
      std::vector<MatmulTerm> terms{{x2, false, w.cpu_members[j], true}};
      if (ranks[j] > 0) terms.push_back({z.narrow(1, l.row[j], ranks[j]), false, dense_weight(B[k++]), true});
      torch::Tensor cols = y.narrow(1, l.col[j], outs[j]);
      nf4_matmul_terms_into(terms, w.cpu_bias[j], cols, false);
    }
    std::vector<torch::Tensor> saved{xa, z, A};  // x itself is not needed: the weight is frozen
    saved.insert(saved.end(), B.begin(), B.end());  // scaled
    ctx->saved_data["scales"] = scales;
    ctx->save_for_backward(saved);
    ctx->saved_data["w"] = c10::IValue::make_capsule(holder);
    ctx->saved_data["outs"] = outs;
    ctx->saved_data["ranks"] = ranks;
    ctx->saved_data["layer"] = static_cast<int64_t>(current_layer_tag());
    ctx->saved_data["xshape"] = x.sizes().vec();
    std::vector<int64_t> shape(x.sizes().begin(), x.sizes().end());
    shape.back() = l.out;
    return y.view(shape);
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    RECORD_FUNCTION("et::lora_linear_cpu_backward", std::vector<c10::IValue>());
    const auto saved = ctx->get_saved_variables();
    const torch::Tensor &xa = saved[0], &z = saved[1], &A = saved[2];
    const auto holder = c10::static_intrusive_pointer_cast<FrozenHolder>(ctx->saved_data["w"].toCapsule());
    const FrozenWeight& w = *holder->w;
    const std::vector<int64_t> outs = ctx->saved_data["outs"].toIntVector(), ranks = ctx->saved_data["ranks"].toIntVector();
    const LoraLayout l = lora_layout(outs, ranks);
    size_t n = 0;  // members with an adapter
    for (auto r : ranks) n += r > 0;
    const torch::Tensor dy = f32(grads[0].reshape({-1, w.out}));
    const int64_t M = dy.size(0);
    torch::autograd::variable_list out(1 + 2 * n);
    torch::Tensor dz;
    if (l.rank > 0) {  // dZ_j = dY_j (s_j B_j)
      dz = torch::empty({M, l.rank}, dy.options());
      size_t k = 0;
      for (size_t j = 0; j < outs.size(); ++j) {
        if (ranks[j] == 0) continue;
        torch::Tensor cols = dz.narrow(1, l.row[j], ranks[j]);
        nf4_matmul_t_into(dy.narrow(1, l.col[j], outs[j]), dense_weight(saved[3 + k++]), cols, false);
      }
    }
    if (ctx->needs_input_grad(0)) {  // dx = sum_j dY_j W_j + dZ A
      count_backward(static_cast<int>(ctx->saved_data["layer"].toInt()), w.matrices);
      torch::Tensor dx = torch::empty({M, w.in}, dy.options());
      for (size_t j = 0; j < outs.size(); ++j) {
        std::vector<MatmulTerm> terms{{dy.narrow(1, l.col[j], outs[j]), false, w.cpu_members[j], false}};
        if (j == 0 && l.rank > 0) terms.push_back({dz, false, dense_weight(A), false});
        nf4_matmul_terms_into(terms, torch::Tensor(), dx, j > 0);
      }
      out[0] = dx.view(ctx->saved_data["xshape"].toIntVector());
    }
    if (l.rank > 0) {
      size_t k = 0;
      const std::vector<double> scales = ctx->saved_data["scales"].toDoubleVector();
      bool need_dA = false;
      for (size_t i = 0; i < n; ++i) need_dA = need_dA || ctx->needs_input_grad(1 + i);
      torch::Tensor dA;
      if (need_dA) {  // dA = dZ^T drop(x)
        dA = torch::empty({l.rank, w.in}, dy.options());
        nf4_matmul_terms_into({{dz, true, dense_weight(xa), false}}, torch::Tensor(), dA, false);
      }
      for (size_t j = 0; j < outs.size(); ++j) {
        if (ranks[j] == 0) continue;
        if (ctx->needs_input_grad(1 + k)) out[1 + k] = dA.narrow(0, l.row[j], ranks[j]);
        if (ctx->needs_input_grad(1 + n + k)) {  // dB_j = s_j dY_j^T Z_j
          torch::Tensor dB = torch::empty({outs[j], ranks[j]}, dy.options());
          nf4_matmul_terms_into({{dy.narrow(1, l.col[j], outs[j]), true, dense_weight(z.narrow(1, l.row[j], ranks[j])), false}},
                                torch::Tensor(), dB, false);
          out[1 + n + k] = scales[k] == 1.0 ? dB : dB.mul_(scales[k]);
        }
        ++k;
      }
    }
    out.resize(1 + 2 * n + 6);  // the holder, outs, ranks, scales, dropout rate and output flag take none
    return out;
  }
};

}  // namespace

bool lora_linear_cpu_usable(const torch::Tensor& x, const FrozenWeight& w) {
  return x.is_cpu() && x.scalar_type() == torch::kFloat32 && !w.cpu_members.empty() &&
         w.cpu_members.size() == w.cpu_bias.size();
}

torch::Tensor lora_linear_cpu(const torch::Tensor& x, std::shared_ptr<const FrozenWeight> w,
                              const std::vector<int64_t>& outs, const torch::autograd::variable_list& As,
                              const torch::autograd::variable_list& Bs, const std::vector<int64_t>& ranks,
                              const std::vector<double>& scales, double dropout, bool output_unused) {
  ET_CHECK(w->cpu_members.size() == outs.size(), "lora_linear", "the frozen weight lists ", w->cpu_members.size(),
           " CPU members for ", outs.size(), " members");
  for (size_t j = 0; j < outs.size(); ++j)
    ET_CHECK(w->cpu_members[j].rows == outs[j] && w->cpu_members[j].cols == w->in, "lora_linear", "CPU member ", j,
             " is [", w->cpu_members[j].rows, ", ", w->cpu_members[j].cols, "], expected [", outs[j], ", ", w->in, "]");
  ET_CHECK(scales.size() == Bs.size(), "lora_linear", scales.size(), " scales for ", Bs.size(), " adapters");
  return LoraLinearCpuFn::apply(x, at::TensorList(As), at::TensorList(Bs), c10::make_intrusive<FrozenHolder>(std::move(w)),
                                outs, ranks, scales, dropout, output_unused);
}

}  // namespace et::ops::detail
