// The per-row cross-entropy pass on CUDA tensors: pointers to the raw launcher, current stream.
#include "ops/common/torch_glue.h"
#include "ops/cross_entropy/cross_entropy.h"
#include "ops/cross_entropy/cross_entropy_cuda.h"

namespace et::ops::detail {

void cross_entropy_rows_cuda(torch::Tensor& z, const torch::Tensor& targets, double softcap, torch::Tensor& loss,
                             bool want_grad) {
  c10::cuda::CUDAGuard guard(z.device());
  ET_CHECK(z.dim() == 2 && z.stride(1) == 1, "cross_entropy", "logits must be rows of contiguous values");
  ET_CHECK(loss.is_contiguous() && loss.scalar_type() == torch::kFloat32, "cross_entropy", "bad loss buffer");
  const torch::Tensor t = targets.to(z.device(), torch::kInt64).contiguous();
  et::cuda::cross_entropy_rows(z.data_ptr(), elem_type(z.scalar_type(), "cross_entropy"), z.size(0), z.size(1),
                               z.stride(0), t.data_ptr<int64_t>(), static_cast<float>(softcap),
                               loss.data_ptr<float>(), want_grad, current_stream());
}

}  // namespace et::ops::detail
