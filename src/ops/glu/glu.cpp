// The differentiable gated activation op: a torch::autograd::Function with the analytic backward
// (derivation in glu.cu). CPU tensors run on chunks from all threads: float32 through the
// vectorized loops (glu_cpu.h), other dtypes through the reference loops (widened to float32 once;
// the reference rounds to the dtype where transformers does, so the cast back is exact); CUDA
// tensors the CUDA kernels; other devices the same math in torch ops.
#include "ops/glu/glu.h"

#include <torch/csrc/autograd/custom_function.h>

#include "ops/common/parallel.h"
#include "edgetune/core/error.h"
#include "ops/common/kernel_path.h"
#include "glu_impl.h"
#include "ops/glu/glu_cpu.h"

namespace et::ops {

namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

constexpr int64_t kGrain = 32768;

Precision precision_of(torch::ScalarType t) {
  return t == torch::kBFloat16 ? Precision::bf16 : t == torch::kFloat16 ? Precision::f16 : Precision::f32;
}

torch::Tensor forward_cpu(const torch::Tensor& gate, const torch::Tensor& up, GluActivation act) {
  torch::Tensor g = gate.to(torch::kFloat32).contiguous(), u = up.to(torch::kFloat32).contiguous();
  torch::Tensor y = torch::empty_like(g);
  const float* gp = g.data_ptr<float>();
  const float* upp = u.data_ptr<float>();
  float* yp = y.data_ptr<float>();
  const Precision prec = precision_of(gate.scalar_type());
  at::parallel_for(0, g.numel(), kGrain, [&](int64_t b, int64_t e) {
    if (prec == Precision::f32)
      cpu::glu_forward_f32(gp + b, upp + b, e - b, act, yp + b);
    else
      glu_forward_ref(gp + b, upp + b, e - b, act, prec, yp + b);
  });
  return y.to(gate.scalar_type());
}

std::pair<torch::Tensor, torch::Tensor> backward_cpu(const torch::Tensor& dy, const torch::Tensor& gate,
                                                     const torch::Tensor& up, GluActivation act,
                                                     bool need_dgate, bool need_dup) {
  torch::Tensor d = dy.to(torch::kFloat32).contiguous();
  torch::Tensor g = gate.to(torch::kFloat32).contiguous(), u = up.to(torch::kFloat32).contiguous();
  torch::Tensor dg = need_dgate ? torch::empty_like(g) : torch::Tensor();
  torch::Tensor du = need_dup ? torch::empty_like(u) : torch::Tensor();
  const float* dp = d.data_ptr<float>();
  const float* gp = g.data_ptr<float>();
  const float* upp = u.data_ptr<float>();
  float* dgp = need_dgate ? dg.data_ptr<float>() : nullptr;
  float* dup = need_dup ? du.data_ptr<float>() : nullptr;
  const bool f32 = gate.scalar_type() == torch::kFloat32;
  at::parallel_for(0, g.numel(), kGrain, [&](int64_t b, int64_t e) {
    if (f32)
      cpu::glu_backward_f32(dp + b, gp + b, upp + b, e - b, act, dgp ? dgp + b : nullptr, dup ? dup + b : nullptr);
    else
      glu_backward_ref(dp + b, gp + b, upp + b, e - b, act, dgp ? dgp + b : nullptr, dup ? dup + b : nullptr);
  });
  return {need_dgate ? dg.to(gate.scalar_type()) : dg, need_dup ? du.to(up.scalar_type()) : du};
}

struct GluFunction : torch::autograd::Function<GluFunction> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& gate,
                               const torch::Tensor& up, int64_t act_code) {
    const auto act = static_cast<GluActivation>(act_code);
    torch::Tensor g = gate.contiguous(), u = up.contiguous();
    ctx->save_for_backward({g, u});
    ctx->saved_data["act"] = act_code;
#ifdef EDGETUNE_TORCH_CUDA
    if (g.is_cuda()) return detail::glu_forward_cuda(g, u, act);
#endif
    return forward_cpu(g, u, act);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const variable_list saved = ctx->get_saved_variables();
    const auto act = static_cast<GluActivation>(ctx->saved_data["act"].toInt());
    const bool need_dgate = ctx->needs_input_grad(0), need_dup = ctx->needs_input_grad(1);
    const torch::Tensor dy = grads[0].contiguous();
    std::pair<torch::Tensor, torch::Tensor> r;
#ifdef EDGETUNE_TORCH_CUDA
    if (saved[0].is_cuda())
      r = detail::glu_backward_cuda(dy, saved[0], saved[1], act, need_dgate, need_dup);
    else
#endif
      r = backward_cpu(dy, saved[0], saved[1], act, need_dgate, need_dup);
    return {r.first, r.second, torch::Tensor()};
  }
};

// The same math in torch ops (devices without our kernels), differentiated by autograd.
torch::Tensor glu_torch_ops(const torch::Tensor& gate, const torch::Tensor& up, GluActivation act) {
  const torch::Tensor g = gate.to(torch::kFloat32);
  const torch::Tensor a = act == GluActivation::silu
                              ? g / (1 + torch::exp(-g))
                              : 0.5 * g * (1 + torch::tanh(0.7978845608028654 * (g + 0.044715 * g.pow(3))));
  return a.to(gate.scalar_type()) * up;
}

// Packed gate/up on the CPU: the loops per row (gate and up are each contiguous within a row).
torch::Tensor forward_packed_cpu(const torch::Tensor& gu, GluActivation act) {
  const torch::Tensor g = gu.to(torch::kFloat32).contiguous();
  const int64_t f = gu.size(-1) / 2, rows = gu.numel() / std::max<int64_t>(1, gu.size(-1));
  torch::Tensor y = torch::empty({rows, f}, g.options());
  const float* gp = g.data_ptr<float>();
  float* yp = y.data_ptr<float>();
  const Precision prec = precision_of(gu.scalar_type());
  at::parallel_for(0, rows, std::max<int64_t>(1, kGrain / std::max<int64_t>(1, f)), [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      if (prec == Precision::f32)
        cpu::glu_forward_f32(gp + r * 2 * f, gp + r * 2 * f + f, f, act, yp + r * f);
      else
        glu_forward_ref(gp + r * 2 * f, gp + r * 2 * f + f, f, act, prec, yp + r * f);
    }
  });
  std::vector<int64_t> shape(gu.sizes().begin(), gu.sizes().end());
  shape.back() = f;
  return y.to(gu.scalar_type()).view(shape);
}

torch::Tensor backward_packed_cpu(const torch::Tensor& dy, const torch::Tensor& gu, GluActivation act) {
  const torch::Tensor g = gu.to(torch::kFloat32).contiguous(), d = dy.to(torch::kFloat32).contiguous();
  const int64_t f = gu.size(-1) / 2, rows = gu.numel() / std::max<int64_t>(1, gu.size(-1));
  torch::Tensor dg = torch::empty_like(g);
  const float* gp = g.data_ptr<float>();
  const float* dp = d.data_ptr<float>();
  float* op = dg.data_ptr<float>();
  const bool f32 = gu.scalar_type() == torch::kFloat32;
  at::parallel_for(0, rows, std::max<int64_t>(1, kGrain / std::max<int64_t>(1, f)), [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      if (f32)
        cpu::glu_backward_f32(dp + r * f, gp + r * 2 * f, gp + r * 2 * f + f, f, act, op + r * 2 * f, op + r * 2 * f + f);
      else
        glu_backward_ref(dp + r * f, gp + r * 2 * f, gp + r * 2 * f + f, f, act, op + r * 2 * f, op + r * 2 * f + f);
    }
  });
  return dg.to(gu.scalar_type()).view(gu.sizes());
}

struct GluPackedFunction : torch::autograd::Function<GluPackedFunction> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& gu, int64_t act_code) {
    const auto act = static_cast<GluActivation>(act_code);
    torch::Tensor g = gu.contiguous();
    ctx->save_for_backward({g});
    ctx->saved_data["act"] = act_code;
#ifdef EDGETUNE_TORCH_CUDA
    if (g.is_cuda()) return detail::glu_forward_packed_cuda(g, act);
#endif
    return forward_packed_cpu(g, act);
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const torch::Tensor g = ctx->get_saved_variables()[0];
    const auto act = static_cast<GluActivation>(ctx->saved_data["act"].toInt());
#ifdef EDGETUNE_TORCH_CUDA
    if (g.is_cuda()) return {detail::glu_backward_packed_cuda(grads[0], g, act), torch::Tensor()};
#endif
    return {backward_packed_cpu(grads[0], g, act), torch::Tensor()};
  }
};

}  // namespace

torch::Tensor glu_packed(const torch::Tensor& gu, GluActivation act) {
  ET_CHECK(gu.defined() && gu.dim() >= 1 && gu.size(-1) % 2 == 0, "glu", "packed gate/up must have an even last ",
           "dimension, got ", gu.sizes());
  const int64_t f = gu.size(-1) / 2;
  const auto t = gu.scalar_type();
  bool kernels = gu.is_cpu();
#ifdef EDGETUNE_TORCH_CUDA
  kernels = kernels || gu.is_cuda();
#endif
  const bool dtype_ok = t == torch::kFloat32 || t == torch::kBFloat16 || t == torch::kFloat16;
  if (!kernels || !dtype_ok || gu.numel() == 0 || ops::kernel_path() == ops::KernelPath::reference)
    return glu(gu.narrow(-1, 0, f), gu.narrow(-1, f, f), act);
  return GluPackedFunction::apply(gu, static_cast<int64_t>(act));
}

torch::Tensor glu(const torch::Tensor& gate, const torch::Tensor& up, GluActivation act) {
  const char* where = "glu";
  ET_CHECK(gate.defined() && up.defined(), where, "undefined gate or up");
  ET_CHECK(gate.sizes() == up.sizes(), where, "gate has shape ", gate.sizes(), " but up has ", up.sizes());
  ET_CHECK(gate.scalar_type() == up.scalar_type(), where, "gate is ", c10::toString(gate.scalar_type()),
           " but up is ", c10::toString(up.scalar_type()));
  const auto t = gate.scalar_type();
  ET_CHECK(t == torch::kFloat32 || t == torch::kBFloat16 || t == torch::kFloat16, where, "dtype ",
           c10::toString(t), " is not supported (float32, bfloat16, float16)");
  ET_CHECK(gate.device() == up.device(), where, "gate is on ", gate.device().str(), " but up is on ",
           up.device().str());
  bool kernels = gate.is_cpu();
#ifdef EDGETUNE_TORCH_CUDA
  kernels = kernels || gate.is_cuda();
#endif
  if (!kernels || gate.numel() == 0 || ops::kernel_path() == ops::KernelPath::reference) return glu_torch_ops(gate, up, act);
  return GluFunction::apply(gate, up, static_cast<int64_t>(act));
}

}  // namespace et::ops
