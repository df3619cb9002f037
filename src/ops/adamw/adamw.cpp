// AdamW and the global gradient norm: dispatch, CPU fast path and reference (adamw.h).
#include "ops/adamw/adamw.h"

#include <cmath>

#include "ops/common/parallel.h"
#include "edgetune/core/error.h"
#include "ops/common/kernel_path.h"

namespace et::ops {

namespace {

bool all_float32(const std::vector<torch::Tensor>& ts, const std::vector<torch::Tensor>& grads) {
  for (size_t i = 0; i < ts.size(); ++i)
    if (grads[i].defined() && (ts[i].scalar_type() != torch::kFloat32 || !ts[i].is_contiguous())) return false;
  return true;
}

// The device of the first defined gradient (CPU when none).
torch::Device grads_device(const std::vector<torch::Tensor>& grads) {
  for (const auto& g : grads)
    if (g.defined()) return g.device();
  return torch::kCPU;
}

bool fast_ok(const std::vector<torch::Tensor>& grads, torch::Device d) {
  if (kernel_path() != KernelPath::fast) return false;
#ifdef EDGETUNE_TORCH_CUDA
  if (!(d.is_cpu() || d.is_cuda())) return false;
#else
  if (!d.is_cpu()) return false;
#endif
  for (const auto& g : grads)
    if (g.defined() && g.device() != d) return false;
  return true;
}

void update_cpu(const std::vector<torch::Tensor>& params, const std::vector<torch::Tensor>& grads,
                const std::vector<torch::Tensor>& m, const std::vector<torch::Tensor>& v, const AdamWHyper& h,
                const torch::Tensor& grad_scale) {
  const float scale = grad_scale.defined() ? grad_scale.item<float>() : 1.f;
  const float b1 = static_cast<float>(h.beta1), b2 = static_cast<float>(h.beta2), eps = static_cast<float>(h.eps);
  const float decay = static_cast<float>(1.0 - h.lr * h.weight_decay);
  const float step_size = static_cast<float>(h.lr / (1.0 - std::pow(h.beta1, static_cast<double>(h.step))));
  const float bc2 = static_cast<float>(1.0 - std::pow(h.beta2, static_cast<double>(h.step)));
  for (size_t i = 0; i < params.size(); ++i) {
    if (!grads[i].defined()) continue;
    const torch::Tensor g = grads[i].to(torch::kFloat32).contiguous();
    float* pp = params[i].data_ptr<float>();
    float* mp = m[i].data_ptr<float>();
    float* vp = v[i].data_ptr<float>();
    const float* gp = g.data_ptr<float>();
    at::parallel_for(0, params[i].numel(), 16384, [&](int64_t b, int64_t e) {
      for (int64_t k = b; k < e; ++k) {
        const float gk = gp[k] * scale;
        const float mk = b1 * mp[k] + (1.f - b1) * gk;
        const float vk = b2 * vp[k] + (1.f - b2) * gk * gk;
        mp[k] = mk;
        vp[k] = vk;
        pp[k] = pp[k] * decay - step_size * mk / (std::sqrt(vk / bc2) + eps);
      }
    });
  }
}

torch::Tensor norm_cpu(const std::vector<torch::Tensor>& grads) {
  double total = 0;
  for (const auto& g : grads) {
    if (!g.defined()) continue;
    const torch::Tensor c = g.to(torch::kFloat32).contiguous();
    const float* p = c.data_ptr<float>();
    total += at::parallel_reduce(0, c.numel(), 16384, 0.0, [&](int64_t b, int64_t e, double acc) {
      for (int64_t k = b; k < e; ++k) acc += static_cast<double>(p[k]) * p[k];
      return acc;
    }, std::plus<double>());
  }
  return torch::tensor(static_cast<float>(std::sqrt(total)));
}

}  // namespace

torch::Tensor global_grad_norm_ref(const std::vector<torch::Tensor>& grads) {
  torch::NoGradGuard no_grad;
  torch::Tensor total;
  for (const auto& g : grads) {
    if (!g.defined()) continue;
    torch::Tensor s = g.to(torch::kFloat32).pow(2).sum();
    total = total.defined() ? total + s : s;
  }
  if (!total.defined()) return torch::zeros({}, torch::TensorOptions().dtype(torch::kFloat32).device(grads_device(grads)));
  return total.sqrt();
}

torch::Tensor global_grad_norm(const std::vector<torch::Tensor>& grads) {
  torch::NoGradGuard no_grad;
  const torch::Device d = grads_device(grads);
  if (!fast_ok(grads, d)) return global_grad_norm_ref(grads);
  if (d.is_cpu()) return norm_cpu(grads);
  bool f32 = true;
  for (const auto& g : grads) f32 = f32 && (!g.defined() || (g.scalar_type() == torch::kFloat32 && g.is_contiguous()));
  return f32 ? detail::global_grad_norm_cuda(grads) : global_grad_norm_ref(grads);
}

torch::Tensor clip_scale(const torch::Tensor& norm, double max_norm) {
  if (max_norm <= 0) return torch::ones({}, norm.options().dtype(torch::kFloat32));
  return torch::clamp_max(max_norm / (norm.to(torch::kFloat32) + 1e-6), 1.0);
}

void adamw_update_ref(const std::vector<torch::Tensor>& params, const std::vector<torch::Tensor>& grads,
                      const std::vector<torch::Tensor>& m, const std::vector<torch::Tensor>& v, const AdamWHyper& h,
                      const torch::Tensor& grad_scale) {
  torch::NoGradGuard no_grad;
  const double bc1 = 1.0 - std::pow(h.beta1, static_cast<double>(h.step));
  const double bc2 = 1.0 - std::pow(h.beta2, static_cast<double>(h.step));
  for (size_t i = 0; i < params.size(); ++i) {
    if (!grads[i].defined()) continue;
    torch::Tensor g = grads[i].to(torch::kFloat32);
    if (grad_scale.defined()) g = g * grad_scale.to(g.device(), torch::kFloat32);
    const torch::Tensor& p = params[i];
    torch::Tensor p32 = p.scalar_type() == torch::kFloat32 ? p : p.to(torch::kFloat32);
    if (h.weight_decay != 0) p32.mul_(1.0 - h.lr * h.weight_decay);
    m[i].mul_(h.beta1).add_(g, 1.0 - h.beta1);
    v[i].mul_(h.beta2).addcmul_(g, g, 1.0 - h.beta2);
    torch::Tensor denom = (v[i] / bc2).sqrt_().add_(h.eps);
    p32.addcdiv_(m[i], denom, -h.lr / bc1);
    if (p32.data_ptr() != p.data_ptr()) p.copy_(p32);
  }
}

void adamw_update(const std::vector<torch::Tensor>& params, const std::vector<torch::Tensor>& grads,
                  const std::vector<torch::Tensor>& m, const std::vector<torch::Tensor>& v, const AdamWHyper& h,
                  const torch::Tensor& grad_scale) {
  ET_CHECK(params.size() == grads.size() && params.size() == m.size() && params.size() == v.size(), "adamw",
           "params, grads and moments differ in count");
  ET_CHECK(h.step >= 1, "adamw", "step must be >= 1, got ", h.step);
  torch::NoGradGuard no_grad;
  const torch::Device d = grads_device(grads);
  const bool f32 = all_float32(params, grads) && all_float32(grads, grads) && all_float32(m, grads) && all_float32(v, grads);
  if (!fast_ok(grads, d) || !f32) return adamw_update_ref(params, grads, m, v, h, grad_scale);
  if (d.is_cpu()) return update_cpu(params, grads, m, v, h, grad_scale);
  detail::adamw_update_cuda(params, grads, m, v, h, grad_scale);
}

#ifndef EDGETUNE_TORCH_CUDA
namespace detail {
torch::Tensor global_grad_norm_cuda(const std::vector<torch::Tensor>&) { fail("adamw", "needs a CUDA build of libtorch"); }
void adamw_update_cuda(const std::vector<torch::Tensor>&, const std::vector<torch::Tensor>&,
                       const std::vector<torch::Tensor>&, const std::vector<torch::Tensor>&, const AdamWHyper&,
                       const torch::Tensor&) {
  fail("adamw", "needs a CUDA build of libtorch");
}
}  // namespace detail
#endif

}  // namespace et::ops
