// AdamW with float32 state for every trainable parameter, and the learning-rate schedule.
//
// AdamW (Loshchilov & Hutter), exactly as torch.optim.AdamW: for step t >= 1,
//   p <- p * (1 - lr * wd)
//   m <- b1 m + (1 - b1) g ;  v <- b2 v + (1 - b2) g^2
//   p <- p - lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)
// Parameters may be bfloat16 on the GPU; their moments are always float32.
#pragma once
#include <torch/types.h>

#include <string>
#include <vector>

namespace et {

struct NamedParam {
  std::string name;
  torch::Tensor param;  // a leaf with requires_grad
};

struct AdamWOptions {
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 0.0;
};

class AdamW {
 public:
  AdamW(std::vector<NamedParam> params, AdamWOptions options);
  // One update with learning rate lr; parameters without a gradient are left alone. The
  // gradients are multiplied by grad_scale first (a float32 scalar on their device, or undefined
  // for 1: the clipping factor, kept on the device). One pass over every tensor (ops/adamw).
  void step(double lr, const torch::Tensor& grad_scale = {});
  // Sets every gradient to undefined (frees the memory).
  void zero_grad();
  int64_t step_count() const { return t_; }
  const std::vector<NamedParam>& params() const { return params_; }
  // State tensors for checkpoints: "<name>.exp_avg", "<name>.exp_avg_sq".
  std::vector<std::pair<std::string, torch::Tensor>> state() const;
  void load_state(const std::vector<std::pair<std::string, torch::Tensor>>& state, int64_t step_count);

 private:
  std::vector<NamedParam> params_;
  std::vector<torch::Tensor> m_, v_;
  AdamWOptions o_;
  int64_t t_ = 0;
};

// Scales gradients so their global L2 norm is at most max_norm (if max_norm > 0); returns the norm
// before clipping (as torch.nn.utils.clip_grad_norm_).
double clip_grad_norm(const std::vector<NamedParam>& params, double max_norm);

// The same without touching the gradients or syncing: the global norm and the factor that clips
// them, min(1, max_norm / (norm + 1e-6)), both float32 scalars on the gradients' device (for
// AdamW::step's grad_scale).
struct GradClip {
  torch::Tensor norm, scale;
};
GradClip grad_clip(const std::vector<NamedParam>& params, double max_norm);

// Learning rate at optimizer step `step` (0-based): linear warmup from lr/warmup to lr over
// `warmup` steps, then cosine or linear decay to lr*min_ratio at `total` steps, or constant.
double schedule_lr(const std::string& kind, double lr, int step, int warmup, int total, double min_ratio);

}  // namespace et
