// RoPE on CUDA tensors: the tensors' pointers to the raw launcher on the current stream.
#include "ops/common/torch_glue.h"
#include "ops/rope/rope.h"
#include "ops/rope/rope_cuda.h"

namespace et::ops::detail {

torch::Tensor rope_rotate_cuda(const torch::Tensor& x, const torch::Tensor& positions, const torch::Tensor& inv_freq,
                               bool inverse) {
  c10::cuda::CUDAGuard guard(x.device());
  const torch::Tensor xc = x.contiguous();
  const torch::Tensor p = positions.to(x.device(), torch::kInt64).contiguous();
  const torch::Tensor f = inv_freq.to(x.device(), torch::kFloat32).contiguous();
  torch::Tensor y = torch::empty_like(xc);
  et::cuda::rope_rotate(xc.data_ptr(), y.data_ptr(), elem_type(x.scalar_type(), "rope"), p.data_ptr<int64_t>(),
                        f.data_ptr<float>(), x.size(0), x.size(1), x.size(2), inverse, current_stream());
  return y;
}

}  // namespace et::ops::detail
