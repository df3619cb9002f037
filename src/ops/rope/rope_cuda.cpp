// RoPE on CUDA tensors: the tensors' pointers to the raw launcher on the current stream.
#include "ops/common/torch_glue.h"
#include "ops/rope/rope.h"
#include "ops/rope/rope_cuda.h"

namespace et::ops::detail {

void rope_rotate_cuda_into(const torch::Tensor& x, torch::Tensor& y, const torch::Tensor& positions,
                           const torch::Tensor& inv_freq, bool inverse) {
  c10::cuda::CUDAGuard guard(x.device());
  const torch::Tensor p = positions.to(x.device(), torch::kInt64).contiguous();
  const torch::Tensor f = inv_freq.to(x.device(), torch::kFloat32).contiguous();
  ET_CHECK(x.stride(2) == 1 && x.stride(1) == x.size(2) && y.stride(2) == 1 && y.stride(1) == y.size(2) &&
               x.scalar_type() == y.scalar_type() && x.sizes() == y.sizes(),
           "rope", "tokens must hold their heads contiguously");
  et::cuda::rope_rotate(x.data_ptr(), x.stride(0), y.data_ptr(), y.stride(0), elem_type(x.scalar_type(), "rope"),
                        p.data_ptr<int64_t>(), f.data_ptr<float>(), x.size(0), x.size(1), x.size(2), inverse,
                        current_stream());
}

torch::Tensor rope_rotate_cuda(const torch::Tensor& x, const torch::Tensor& positions, const torch::Tensor& inv_freq,
                               bool inverse) {
  const torch::Tensor xc = x.contiguous();
  torch::Tensor y = torch::empty_like(xc);
  rope_rotate_cuda_into(xc, y, positions, inv_freq, inverse);
  return y;
}

}  // namespace et::ops::detail
