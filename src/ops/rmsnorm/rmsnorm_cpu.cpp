// RMSNorm on CPU tensors: the reference loops run on ranges of rows from all threads. Inputs are
// widened to float32 once; the reference rounds y to x's precision itself (the Llama intermediate
// rounding included), so the final cast back to x's dtype is exact. The weight gradient is summed
// per fixed chunk of rows and then across chunks, so it does not depend on thread timing.

#include <algorithm>

#include "ops/common/parallel.h"
#include "ops/rmsnorm/rmsnorm_ref.h"
#include "rmsnorm_impl.h"

namespace et::ops::detail {

namespace {

Precision precision_of(torch::ScalarType t) {
  return t == torch::kBFloat16 ? Precision::bf16 : t == torch::kFloat16 ? Precision::f16 : Precision::f32;
}

torch::Tensor as_f32(const torch::Tensor& t) { return t.to(torch::kFloat32).contiguous(); }

}  // namespace

std::pair<torch::Tensor, torch::Tensor> rmsnorm_forward_cpu(const torch::Tensor& x,
                                                            const torch::Tensor& w, double eps,
                                                            double offset) {
  const int64_t rows = x.size(0), cols = x.size(1);
  torch::Tensor xf = as_f32(x), wf = as_f32(w);
  torch::Tensor y = torch::empty({rows, cols}, torch::kFloat32);
  torch::Tensor rstd = torch::empty({rows}, torch::kFloat32);
  const float* xp = xf.data_ptr<float>();
  const float* wp = wf.data_ptr<float>();
  float* yp = y.data_ptr<float>();
  float* rp = rstd.data_ptr<float>();
  const Precision prec = precision_of(x.scalar_type());
  const int64_t grain = std::max<int64_t>(1, 16384 / std::max<int64_t>(cols, 1));
  at::parallel_for(0, rows, grain, [&](int64_t r0, int64_t r1) {
    rmsnorm_forward_ref(xp + r0 * cols, wp, r1 - r0, cols, static_cast<float>(eps),
                        static_cast<float>(offset), prec, yp + r0 * cols, rp + r0);
  });
  return {y.to(x.scalar_type()), rstd};
}

std::pair<torch::Tensor, torch::Tensor> rmsnorm_backward_cpu(const torch::Tensor& dy,
                                                             const torch::Tensor& x,
                                                             const torch::Tensor& w,
                                                             const torch::Tensor& rstd,
                                                             double offset, bool need_dx,
                                                             bool need_dw) {
  const int64_t rows = x.size(0), cols = x.size(1);
  torch::Tensor dyf = as_f32(dy), xf = as_f32(x), wf = as_f32(w), rf = as_f32(rstd);
  torch::Tensor dx = need_dx ? torch::empty({rows, cols}, torch::kFloat32) : torch::Tensor();
  // Rows split into a fixed number of chunks, each with its own dweight partial sum.
  const int64_t chunks = std::max<int64_t>(1, std::min<int64_t>(rows, 64));
  torch::Tensor partial = need_dw ? torch::zeros({chunks, cols}, torch::kFloat32) : torch::Tensor();
  const float* dyp = dyf.data_ptr<float>();
  const float* xp = xf.data_ptr<float>();
  const float* wp = wf.data_ptr<float>();
  const float* rp = rf.data_ptr<float>();
  float* dxp = need_dx ? dx.data_ptr<float>() : nullptr;
  float* pp = need_dw ? partial.data_ptr<float>() : nullptr;
  at::parallel_for(0, chunks, 1, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      const int64_t r0 = rows * c / chunks, r1 = rows * (c + 1) / chunks;
      rmsnorm_backward_ref(dyp + r0 * cols, xp + r0 * cols, wp, rp + r0, r1 - r0, cols,
                           static_cast<float>(offset), dxp ? dxp + r0 * cols : nullptr,
                           pp ? pp + c * cols : nullptr);
    }
  });
  torch::Tensor dw = need_dw ? partial.sum(0).to(w.scalar_type()) : torch::Tensor();
  return {need_dx ? dx.to(x.scalar_type()) : torch::Tensor(), dw};
}

}  // namespace et::ops::detail
