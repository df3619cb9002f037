#include "edgetune/train/optimizer.h"

#include <cmath>

#include "edgetune/core/error.h"

namespace et {

AdamW::AdamW(std::vector<NamedParam> params, AdamWOptions options) : params_(std::move(params)), o_(options) {
  for (const auto& p : params_) {
    ET_CHECK(p.param.defined() && p.param.requires_grad(), "adamw", "parameter '", p.name, "' is not trainable");
    auto opts = p.param.options().dtype(torch::kFloat32);
    m_.push_back(torch::zeros(p.param.sizes(), opts));
    v_.push_back(torch::zeros(p.param.sizes(), opts));
  }
}

void AdamW::step(double lr) {
  ++t_;
  const double bc1 = 1.0 - std::pow(o_.beta1, static_cast<double>(t_));
  const double bc2 = 1.0 - std::pow(o_.beta2, static_cast<double>(t_));
  torch::NoGradGuard no_grad;
  for (size_t i = 0; i < params_.size(); ++i) {
    torch::Tensor p = params_[i].param;
    torch::Tensor g = p.grad();
    if (!g.defined()) continue;
    torch::Tensor g32 = g.to(torch::kFloat32);
    torch::Tensor p32 = p.scalar_type() == torch::kFloat32 ? p : p.to(torch::kFloat32);
    if (o_.weight_decay != 0) p32.mul_(1.0 - lr * o_.weight_decay);
    m_[i].mul_(o_.beta1).add_(g32, 1.0 - o_.beta1);
    v_[i].mul_(o_.beta2).addcmul_(g32, g32, 1.0 - o_.beta2);
    torch::Tensor denom = (v_[i] / bc2).sqrt_().add_(o_.eps);
    p32.addcdiv_(m_[i], denom, -lr / bc1);
    if (p32.data_ptr() != p.data_ptr()) p.copy_(p32);
  }
}

void AdamW::zero_grad() {
  for (auto& p : params_) p.param.mutable_grad() = torch::Tensor();
}

std::vector<std::pair<std::string, torch::Tensor>> AdamW::state() const {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (size_t i = 0; i < params_.size(); ++i) {
    out.emplace_back(params_[i].name + ".exp_avg", m_[i]);
    out.emplace_back(params_[i].name + ".exp_avg_sq", v_[i]);
  }
  return out;
}

void AdamW::load_state(const std::vector<std::pair<std::string, torch::Tensor>>& state, int64_t step_count) {
  torch::NoGradGuard no_grad;
  for (size_t i = 0; i < params_.size(); ++i) {
    for (const auto& kv : state) {
      if (kv.first == params_[i].name + ".exp_avg" || kv.first == params_[i].name + ".exp_avg_sq") {
        torch::Tensor& dst = kv.first.back() == 'q' ? v_[i] : m_[i];
        ET_CHECK(kv.second.sizes() == dst.sizes(), "adamw", "state '", kv.first, "' has shape ", kv.second.sizes(),
                 ", parameter needs ", dst.sizes());
        dst.copy_(kv.second);
      }
    }
  }
  t_ = step_count;
}

double clip_grad_norm(const std::vector<NamedParam>& params, double max_norm) {
  torch::NoGradGuard no_grad;
  double sq = 0;
  for (const auto& p : params) {
    const auto& g = p.param.grad();
    if (g.defined()) sq += g.to(torch::kFloat32).pow(2).sum().item<double>();
  }
  const double norm = std::sqrt(sq);
  if (max_norm > 0 && norm > max_norm) {
    const double scale = max_norm / (norm + 1e-6);
    for (const auto& p : params) {
      auto g = p.param.grad();
      if (g.defined()) g.mul_(scale);
    }
  }
  return norm;
}

double schedule_lr(const std::string& kind, double lr, int step, int warmup, int total, double min_ratio) {
  if (warmup > 0 && step < warmup) return lr * (step + 1) / warmup;
  if (kind == "constant") return lr;
  const int decay_steps = std::max(1, total - warmup);
  double progress = std::min(1.0, static_cast<double>(step - warmup) / decay_steps);
  const double floor = lr * min_ratio;
  if (kind == "linear") return floor + (lr - floor) * (1.0 - progress);
  if (kind == "cosine") return floor + (lr - floor) * 0.5 * (1.0 + std::cos(M_PI * progress));
  fail("schedule", "unknown schedule '", kind, "' (cosine, linear, constant)");
}

}  // namespace et
