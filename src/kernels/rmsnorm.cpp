#include "edgetune/kernels/rmsnorm.h"

namespace et::kernels {

torch::Tensor rmsnorm(const torch::Tensor& x, const torch::Tensor& weight, double eps, double offset) {
  auto xf = x.to(torch::kFloat32);
  auto inv = torch::rsqrt(xf.pow(2).mean(-1, /*keepdim=*/true) + eps);
  auto w = weight.to(torch::kFloat32) + offset;
  return (xf * inv * w).to(x.scalar_type());
}

}  // namespace et::kernels
