// Device-specific halves of the RMSNorm op (rmsnorm.cpp holds the autograd glue). Tensors are
// 2-D [rows, cols] and contiguous; outputs come back in x's dtype (y, dx), weight's dtype (dw)
// and float32 (rstd). An undefined tensor stands for "not needed".
#pragma once
#include <torch/types.h>

#include <utility>

namespace et::ops::detail {

std::pair<torch::Tensor, torch::Tensor> rmsnorm_forward_cpu(const torch::Tensor& x,
                                                            const torch::Tensor& w, double eps,
                                                            double offset);
std::pair<torch::Tensor, torch::Tensor> rmsnorm_backward_cpu(const torch::Tensor& dy,
                                                             const torch::Tensor& x,
                                                             const torch::Tensor& w,
                                                             const torch::Tensor& rstd,
                                                             double offset, bool need_dx,
                                                             bool need_dw);
#ifdef EDGETUNE_TORCH_CUDA
std::pair<torch::Tensor, torch::Tensor> rmsnorm_forward_cuda(const torch::Tensor& x,
                                                             const torch::Tensor& w, double eps,
                                                             double offset);
std::pair<torch::Tensor, torch::Tensor> rmsnorm_backward_cuda(const torch::Tensor& dy,
                                                              const torch::Tensor& x,
                                                              const torch::Tensor& w,
                                                              const torch::Tensor& rstd,
                                                              double offset, bool need_dx,
                                                              bool need_dw);
#endif

}  // namespace et::ops::detail
