// CUDA half of the gated activation op (glu.cpp holds the autograd glue and the CPU path).
// Tensors are contiguous with the same shape and dtype; undefined outputs are "not needed".
#pragma once
#include <torch/types.h>

#include <utility>

#include "ops/glu/glu_ref.h"

namespace et::ops::detail {

#ifdef EDGETUNE_TORCH_CUDA
torch::Tensor glu_forward_cuda(const torch::Tensor& gate, const torch::Tensor& up, GluActivation act);
std::pair<torch::Tensor, torch::Tensor> glu_backward_cuda(const torch::Tensor& dy,
                                                          const torch::Tensor& gate,
                                                          const torch::Tensor& up,
                                                          GluActivation act, bool need_dgate,
                                                          bool need_dup);
torch::Tensor glu_forward_packed_cuda(const torch::Tensor& gu, GluActivation act);
torch::Tensor glu_backward_packed_cuda(const torch::Tensor& dy, const torch::Tensor& gu, GluActivation act);
#endif

}  // namespace et::ops::detail
