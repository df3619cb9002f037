// RMSNorm on CUDA tensors: hands the tensors' device pointers to the raw launchers (rmsnorm.cu) on
// the current stream. Built only against a CUDA libtorch (EDGETUNE_TORCH_CUDA).
#ifdef EDGETUNE_TORCH_CUDA
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include "edgetune/core/error.h"
#include "ops/rmsnorm/rmsnorm_cuda.h"
#include "rmsnorm_impl.h"

namespace et::ops::detail {

namespace {

et::cuda::ElemType elem_type(torch::ScalarType t) {
  switch (t) {
    case torch::kFloat32:
      return et::cuda::ElemType::f32;
    case torch::kBFloat16:
      return et::cuda::ElemType::bf16;
    case torch::kFloat16:
      return et::cuda::ElemType::f16;
    default:
      et::fail("rmsnorm", "dtype ", c10::toString(t), " has no CUDA kernel");
  }
}

// The kernels take the weight in x's dtype or in float32.
torch::Tensor weight_for(const torch::Tensor& w, const torch::Tensor& x) {
  if (w.scalar_type() == x.scalar_type() || w.scalar_type() == torch::kFloat32) return w.contiguous();
  return w.to(torch::kFloat32).contiguous();
}

}  // namespace

std::pair<torch::Tensor, torch::Tensor> rmsnorm_forward_cuda(const torch::Tensor& x,
                                                             const torch::Tensor& w, double eps,
                                                             double offset) {
  c10::cuda::CUDAGuard guard(x.device());
  torch::Tensor wc = weight_for(w, x);
  torch::Tensor y = torch::empty_like(x);
  torch::Tensor rstd = torch::empty({x.size(0)}, x.options().dtype(torch::kFloat32));
  et::cuda::rmsnorm_forward(x.data_ptr(), elem_type(x.scalar_type()), wc.data_ptr(),
                            elem_type(wc.scalar_type()), y.data_ptr(), rstd.data_ptr<float>(),
                            x.size(0), x.size(1), static_cast<float>(eps),
                            static_cast<float>(offset), c10::cuda::getCurrentCUDAStream().stream());
  return {y, rstd};
}

std::pair<torch::Tensor, torch::Tensor> rmsnorm_backward_cuda(const torch::Tensor& dy,
                                                              const torch::Tensor& x,
                                                              const torch::Tensor& w,
                                                              const torch::Tensor& rstd,
                                                              double offset, bool need_dx,
                                                              bool need_dw) {
  c10::cuda::CUDAGuard guard(x.device());
  torch::Tensor wc = weight_for(w, x);
  torch::Tensor dyc = dy.to(x.scalar_type()).contiguous();
  torch::Tensor dx = need_dx ? torch::empty_like(x) : torch::Tensor();
  torch::Tensor dw = need_dw ? torch::empty_like(wc) : torch::Tensor();
  torch::Tensor work;
  if (need_dw)
    work = torch::empty({et::cuda::rmsnorm_backward_partials(x.size(0)), x.size(1)},
                        x.options().dtype(torch::kFloat32));
  et::cuda::rmsnorm_backward(dyc.data_ptr(), x.data_ptr(), elem_type(x.scalar_type()),
                             wc.data_ptr(), elem_type(wc.scalar_type()), rstd.data_ptr<float>(),
                             need_dx ? dx.data_ptr() : nullptr, need_dw ? dw.data_ptr() : nullptr,
                             need_dw ? work.data_ptr<float>() : nullptr, x.size(0), x.size(1),
                             static_cast<float>(offset), c10::cuda::getCurrentCUDAStream().stream());
  if (need_dw && dw.scalar_type() != w.scalar_type()) dw = dw.to(w.scalar_type());
  return {dx, dw};
}

}  // namespace et::ops::detail
#endif
