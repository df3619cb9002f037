#include "edgetune/train/optimizer.h"

#include <cmath>

#include "edgetune/core/error.h"
#include "ops/adamw/adamw.h"

namespace et {

AdamW::AdamW(std::vector<NamedParam> params, AdamWOptions options) : params_(std::move(params)), o_(options) {
  for (const auto& p : params_) {
    ET_CHECK(p.param.defined() && p.param.requires_grad(), "adamw", "parameter '", p.name, "' is not trainable");
    auto opts = p.param.options().dtype(torch::kFloat32);
    m_.push_back(torch::zeros(p.param.sizes(), opts));
    v_.push_back(torch::zeros(p.param.sizes(), opts));
  }
}

void AdamW::step(double lr, const torch::Tensor& grad_scale) {
  ++t_;
  std::vector<torch::Tensor> p, g;
  for (const auto& np : params_) {
    p.push_back(np.param);
    g.push_back(np.param.grad());
  }
  ops::adamw_update(p, g, m_, v_, {lr, o_.beta1, o_.beta2, o_.eps, o_.weight_decay, t_}, grad_scale);
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
  const GradClip c = grad_clip(params, max_norm);
  torch::NoGradGuard no_grad;
  const double norm = c.norm.item<double>();
  if (max_norm > 0 && norm > max_norm)
    for (const auto& p : params) {
      auto g = p.param.grad();
      if (g.defined()) g.mul_(c.scale.to(g.device(), g.scalar_type()));
    }
  return norm;
}

GradClip grad_clip(const std::vector<NamedParam>& params, double max_norm) {
  std::vector<torch::Tensor> g;
  for (const auto& p : params) g.push_back(p.param.grad());
  GradClip c;
  c.norm = ops::global_grad_norm(g);
  c.scale = ops::clip_scale(c.norm, max_norm);
  return c;
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
