// AdamW over many tensors in one pass, and the global gradient norm used for clipping, without a
// host sync: the norm and the clipping factor stay on the device and the update reads them there.
//
//   norm = sqrt(sum over tensors and elements of g^2)
//   scale = min(1, max_norm / (norm + 1e-6))          (1 when max_norm <= 0; torch's clip_grad_norm_)
//   per element, with g <- g * scale and t the step (>= 1), exactly torch.optim.AdamW:
//   p <- p (1 - lr wd);  m <- b1 m + (1 - b1) g;  v <- b2 v + (1 - b2) g^2
//   p <- p - (lr / (1 - b1^t)) m / (sqrt(v / (1 - b2^t)) + eps)
//
// Fast paths: on CUDA one launch for the norm's partial sums (plus one to finish them) and one for
// the update of every tensor, over a table of (tensor, chunk) pairs (multi-tensor apply); on the
// CPU one threaded loop per tensor. The reference is the same update in torch ops, tensor by tensor.
// The fast paths take float32 parameters, gradients and moments; other dtypes use the reference.
#pragma once
#include <torch/types.h>

#include <vector>

namespace et::ops {

struct AdamWHyper {
  double lr = 1e-3, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 0.0;
  int64_t step = 1;  // the step being taken, from 1
};

// The global L2 norm of `grads` (defined tensors, one device) as a float32 scalar on that device.
torch::Tensor global_grad_norm(const std::vector<torch::Tensor>& grads);
// min(1, max_norm / (norm + 1e-6)) as a float32 scalar on norm's device; 1 when max_norm <= 0.
torch::Tensor clip_scale(const torch::Tensor& norm, double max_norm);

// Updates params, exp_avg and exp_avg_sq in place (gradients times grad_scale, a float32 device
// scalar, or undefined for 1). All lists have one entry per parameter; entries whose gradient is
// undefined are skipped.
void adamw_update(const std::vector<torch::Tensor>& params, const std::vector<torch::Tensor>& grads,
                  const std::vector<torch::Tensor>& exp_avg, const std::vector<torch::Tensor>& exp_avg_sq,
                  const AdamWHyper& h, const torch::Tensor& grad_scale);

// The references (torch ops, tensor by tensor).
torch::Tensor global_grad_norm_ref(const std::vector<torch::Tensor>& grads);
void adamw_update_ref(const std::vector<torch::Tensor>& params, const std::vector<torch::Tensor>& grads,
                      const std::vector<torch::Tensor>& exp_avg, const std::vector<torch::Tensor>& exp_avg_sq,
                      const AdamWHyper& h, const torch::Tensor& grad_scale);

namespace detail {
torch::Tensor global_grad_norm_cuda(const std::vector<torch::Tensor>& grads);
void adamw_update_cuda(const std::vector<torch::Tensor>& params, const std::vector<torch::Tensor>& grads,
                       const std::vector<torch::Tensor>& exp_avg, const std::vector<torch::Tensor>& exp_avg_sq,
                       const AdamWHyper& h, const torch::Tensor& grad_scale);
}  // namespace detail

}  // namespace et::ops
