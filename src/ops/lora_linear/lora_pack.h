// The torch side of the LoRA group's factor packing (lora_pack_cuda.h for the layout): the group's
// layout, and the packing and unpacking of its factors on the GPU in one launch each. Used by
// lora_linear.cpp; CUDA libtorch builds only (elsewhere lora_pack_usable is false).
#pragma once
#include <torch/types.h>

#include <vector>

namespace et::ops::detail {

// Per member: width and first column in Y, rank and first row in the stacked A.
struct LoraLayout {
  std::vector<int64_t> outs, col, ranks, row;
  int64_t out = 0, rank = 0;
};
LoraLayout lora_layout(const std::vector<int64_t>& outs, const std::vector<int64_t>& ranks);

// True when the kernels take the group: CUDA tensors, at most 8 members with an adapter, contiguous
// factors of one dtype, float32 / bfloat16 / float16.
bool lora_pack_usable(const torch::Tensor& x, at::TensorList As, at::TensorList Bs);

// A [R, in] and BD [R, out] (allocated by the caller, the GEMMs' dtype) from the members' factors.
void lora_pack_into(const LoraLayout& l, int64_t in, at::TensorList As, at::TensorList Bs,
                    const std::vector<double>& scales, torch::Tensor& A, torch::Tensor& BD);

// The members' gradients (dtype `factors`) from the group's dA [R, in] and dBD [R, out].
void lora_unpack(const LoraLayout& l, int64_t in, const torch::Tensor& dA, const torch::Tensor& dBD,
                 const std::vector<double>& scales, torch::ScalarType factors, std::vector<torch::Tensor>& dAs,
                 std::vector<torch::Tensor>& dBs);

}  // namespace et::ops::detail
