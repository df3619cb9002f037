// Gated activation on CUDA tensors: the tensors' device pointers go to the raw launchers in
// glu.cu on the current stream. Built only against a CUDA libtorch (EDGETUNE_TORCH_CUDA).
#ifdef EDGETUNE_TORCH_CUDA
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include "edgetune/core/error.h"
#include "ops/glu/glu_cuda.h"
#include "glu_impl.h"

namespace et::ops::detail {

namespace {

et::cuda::ElemType elem_type(torch::ScalarType t) {
  if (t == torch::kFloat32) return et::cuda::ElemType::f32;
  if (t == torch::kBFloat16) return et::cuda::ElemType::bf16;
  ET_CHECK(t == torch::kFloat16, "glu", "dtype ", c10::toString(t), " has no CUDA kernel");
  return et::cuda::ElemType::f16;
}

et::cuda::GluAct cuda_act(GluActivation a) {
  return a == GluActivation::silu ? et::cuda::GluAct::silu : et::cuda::GluAct::gelu_tanh;
}

}  // namespace

torch::Tensor glu_forward_cuda(const torch::Tensor& gate, const torch::Tensor& up, GluActivation act) {
  c10::cuda::CUDAGuard guard(gate.device());
  torch::Tensor y = torch::empty_like(gate);
  et::cuda::glu_forward(gate.data_ptr(), up.data_ptr(), y.data_ptr(), elem_type(gate.scalar_type()),
                        gate.numel(), cuda_act(act), c10::cuda::getCurrentCUDAStream().stream());
  return y;
}

std::pair<torch::Tensor, torch::Tensor> glu_backward_cuda(const torch::Tensor& dy,
                                                          const torch::Tensor& gate,
                                                          const torch::Tensor& up,
                                                          GluActivation act, bool need_dgate,
                                                          bool need_dup) {
  c10::cuda::CUDAGuard guard(gate.device());
  torch::Tensor dyc = dy.to(gate.scalar_type()).contiguous();
  torch::Tensor dgate = need_dgate ? torch::empty_like(gate) : torch::Tensor();
  torch::Tensor dup = need_dup ? torch::empty_like(up) : torch::Tensor();
  et::cuda::glu_backward(dyc.data_ptr(), gate.data_ptr(), up.data_ptr(),
                         need_dgate ? dgate.data_ptr() : nullptr, need_dup ? dup.data_ptr() : nullptr,
                         elem_type(gate.scalar_type()), gate.numel(), cuda_act(act),
                         c10::cuda::getCurrentCUDAStream().stream());
  return {dgate, dup};
}

torch::Tensor glu_forward_packed_cuda(const torch::Tensor& gu, GluActivation act) {
  c10::cuda::CUDAGuard guard(gu.device());
  const int64_t f = gu.size(-1) / 2, rows = gu.numel() / std::max<int64_t>(1, gu.size(-1));
  std::vector<int64_t> shape(gu.sizes().begin(), gu.sizes().end());
  shape.back() = f;
  torch::Tensor y = torch::empty(shape, gu.options());
  et::cuda::glu_forward_packed(gu.data_ptr(), y.data_ptr(), elem_type(gu.scalar_type()), rows, f, cuda_act(act),
                               c10::cuda::getCurrentCUDAStream().stream());
  return y;
}

torch::Tensor glu_backward_packed_cuda(const torch::Tensor& dy, const torch::Tensor& gu, GluActivation act) {
  c10::cuda::CUDAGuard guard(gu.device());
  const torch::Tensor dyc = dy.to(gu.scalar_type()).contiguous();
  torch::Tensor dgu = torch::empty_like(gu);
  const int64_t f = gu.size(-1) / 2, rows = gu.numel() / std::max<int64_t>(1, gu.size(-1));
  et::cuda::glu_backward_packed(dyc.data_ptr(), gu.data_ptr(), dgu.data_ptr(), elem_type(gu.scalar_type()), rows, f,
                                cuda_act(act), c10::cuda::getCurrentCUDAStream().stream());
  return dgu;
}

}  // namespace et::ops::detail
#endif
