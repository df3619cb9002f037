// CUDA RMSNorm forward and backward against the CPU reference (rmsnorm_ref.h), for float32,
// bfloat16 (with a bfloat16 or float32 weight) and float16, Llama and Gemma offsets, odd row
// lengths (31, 33), rows longer than a block (4099) and the vectorized path (2048).
// Tolerances: rstd 1e-5 relative; y bit-exact given the kernel's rstd, and within four ulps of
// the CPU reference in 16-bit types (the Llama path rounds twice); gradients 1e-5 relative in
// float32, two ulps of the output type in 16-bit types (2^-7 relative for bfloat16, 2^-10 for
// float16), plus 1e-5 of the largest magnitude since their sums cancel.
#include <random>

#include "ops/common/cuda_test_util.h"
#include "edgetune/core/dtype.h"
#include "ops/rmsnorm/rmsnorm_cuda.h"
#include "ops/rmsnorm/rmsnorm_ref.h"

namespace {

using et::cuda::ElemType;
using et::ops::Precision;
using et::test::all_close;
using et::test::DeviceBuffer;

float round_elem(float v, ElemType t) {
  return t == ElemType::bf16 ? et::bf16_to_f32(et::f32_to_bf16(v))
         : t == ElemType::f16 ? et::f16_to_f32(et::f32_to_f16(v))
                              : v;
}

// Host values -> device bytes of type t.
void upload_as(DeviceBuffer& buf, const std::vector<float>& v, ElemType t) {
  if (t == ElemType::f32) return buf.upload(v);
  std::vector<uint16_t> bits(v.size());
  for (size_t i = 0; i < v.size(); ++i)
    bits[i] = t == ElemType::bf16 ? et::f32_to_bf16(v[i]) : et::f32_to_f16(v[i]);
  buf.upload(bits);
}

std::vector<float> download_as(const DeviceBuffer& buf, size_t n, ElemType t) {
  if (t == ElemType::f32) return buf.download<float>(n);
  std::vector<uint16_t> bits = buf.download<uint16_t>(n);
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i)
    v[i] = t == ElemType::bf16 ? et::bf16_to_f32(bits[i]) : et::f16_to_f32(bits[i]);
  return v;
}

size_t elem_size(ElemType t) { return t == ElemType::f32 ? 4 : 2; }

double out_rel(ElemType t) { return t == ElemType::bf16 ? 1.0 / 128 : t == ElemType::f16 ? 1.0 / 1024 : 1e-5; }

struct Case {
  int64_t rows, cols;
  ElemType xt, wt;
  float offset;
};

std::string name_of(const Case& c) {
  return std::to_string(c.rows) + "x" + std::to_string(c.cols) + " x=" +
         et::cuda::elem_type_name(c.xt) + " w=" + et::cuda::elem_type_name(c.wt) +
         " offset=" + std::to_string(c.offset);
}

void run_case(const Case& c) {
  SCOPED_TRACE(name_of(c));
  const size_t n = static_cast<size_t>(c.rows * c.cols);
  const float eps = 1e-6f;
  std::mt19937 rng(static_cast<unsigned>(c.rows * 131 + c.cols));
  std::normal_distribution<float> n01(0.f, 1.f);
  std::vector<float> x(n), w(c.cols), dy(n);
  for (auto& v : x) v = round_elem(n01(rng) * 2.f, c.xt);
  for (auto& v : w) v = round_elem(0.5f + 0.3f * n01(rng), c.wt);
  for (auto& v : dy) v = round_elem(n01(rng), c.xt);

  const Precision prec = c.xt == ElemType::bf16 ? Precision::bf16
                         : c.xt == ElemType::f16 ? Precision::f16
                                                 : Precision::f32;
  std::vector<float> y_ref(n), rstd_ref(c.rows), dx_ref(n), dw_ref(c.cols, 0.f);
  et::ops::rmsnorm_forward_ref(x.data(), w.data(), c.rows, c.cols, eps, c.offset, prec,
                                   y_ref.data(), rstd_ref.data());
  et::ops::rmsnorm_backward_ref(dy.data(), x.data(), w.data(), rstd_ref.data(), c.rows, c.cols,
                                    c.offset, dx_ref.data(), dw_ref.data());

  DeviceBuffer dx_in(n * elem_size(c.xt)), dw_in(c.cols * elem_size(c.wt)), ddy(n * elem_size(c.xt));
  DeviceBuffer dy_out(n * elem_size(c.xt)), drstd(c.rows * 4), ddx(n * elem_size(c.xt));
  DeviceBuffer ddw(c.cols * elem_size(c.wt));
  DeviceBuffer work(et::cuda::rmsnorm_backward_partials(c.rows) * c.cols * 4);
  upload_as(dx_in, x, c.xt);
  upload_as(dw_in, w, c.wt);
  upload_as(ddy, dy, c.xt);

  et::cuda::rmsnorm_forward(dx_in.as<void>(), c.xt, dw_in.as<void>(), c.wt, dy_out.as<void>(),
                            drstd.as<float>(), c.rows, c.cols, eps, c.offset, nullptr);
  et::cuda::rmsnorm_backward(ddy.as<void>(), dx_in.as<void>(), c.xt, dw_in.as<void>(), c.wt,
                             drstd.as<float>(), ddx.as<void>(), ddw.as<void>(), work.as<float>(),
                             c.rows, c.cols, c.offset, nullptr);
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);

  const std::vector<float> rstd = drstd.download<float>(c.rows);
  EXPECT_TRUE(all_close(rstd, rstd_ref, 1e-5, 0));
  // Given the kernel's own rstd, every output is one fixed sequence of float32 roundings, so it
  // must match bit for bit: Llama y = T(w * T(x*r)), Gemma y = T(x*r * (offset + w)). (Against
  // y_ref, computed with the CPU's rstd, the Llama double rounding can move a value by 2 ulps.)
  const std::vector<float> y = download_as(dy_out, n, c.xt);
  int64_t mismatches = 0, first = -1;
  for (int64_t r = 0; r < c.rows; ++r)
    for (int64_t j = 0; j < c.cols; ++j) {
      const size_t i = static_cast<size_t>(r * c.cols + j);
      const float xhat = x[i] * rstd[r];
      const float want = c.offset == 0.f ? round_elem(w[j] * round_elem(xhat, c.xt), c.xt)
                                         : round_elem(xhat * (c.offset + w[j]), c.xt);
      if (y[i] != want && mismatches++ == 0) first = static_cast<int64_t>(i);
    }
  EXPECT_EQ(mismatches, 0) << "first at " << first << ": got " << y[first];
  EXPECT_TRUE(all_close(y, y_ref, 2 * out_rel(c.xt), 1e-6));
  EXPECT_TRUE(all_close(download_as(ddx, n, c.xt), dx_ref, out_rel(c.xt), 1e-5));
  EXPECT_TRUE(all_close(download_as(ddw, c.cols, c.wt), dw_ref, out_rel(c.wt), 1e-5));
}

TEST(RmsNormCuda, MatchesCpuReference) {
  ET_REQUIRE_CUDA();
  // 31, 33: scalar, in registers; 4099: odd and long -> the scalar looping kernels; 2048, 4096:
  // 16-byte vectors in registers; 6144: 4 (float32) or 2 (16-bit) vectors per thread in
  // registers; 12288 and 40000: the vectorized looping kernels.
  const std::vector<std::pair<int64_t, int64_t>> sizes = {
      {1, 31}, {7, 33}, {3, 4099}, {64, 2048}, {5, 4096}, {2, 6144}, {2, 12288}, {2, 40000}};
  const std::vector<std::pair<ElemType, ElemType>> types = {
      {ElemType::f32, ElemType::f32},
      {ElemType::bf16, ElemType::bf16},
      {ElemType::bf16, ElemType::f32},
      {ElemType::f16, ElemType::f16}};
  for (auto [rows, cols] : sizes)
    for (auto [xt, wt] : types)
      for (float offset : {0.f, 1.f}) run_case({rows, cols, xt, wt, offset});
}

TEST(RmsNormCuda, ManyRowsReduceTheWeightGradientAcrossBlocks) {
  ET_REQUIRE_CUDA();
  // 1500 rows > 512 partial sums: several rows per block before the final reduction.
  run_case({1500, 96, ElemType::f32, ElemType::f32, 0.f});
  run_case({1500, 96, ElemType::bf16, ElemType::bf16, 1.f});
}

TEST(RmsNormCuda, BackwardWithoutWeightGradientAndEmptyInput) {
  ET_REQUIRE_CUDA();
  const int64_t rows = 4, cols = 40;
  std::vector<float> x(rows * cols, 1.5f), w(cols, 1.f), dy(rows * cols, 1.f);
  DeviceBuffer dx_in(x.size() * 4), dw_in(cols * 4), ddy(x.size() * 4), drstd(rows * 4), ddx(x.size() * 4);
  dx_in.upload(x);
  dw_in.upload(w);
  ddy.upload(dy);
  et::cuda::rmsnorm_forward(dx_in.as<void>(), ElemType::f32, dw_in.as<void>(), ElemType::f32,
                            ddx.as<void>(), drstd.as<float>(), rows, cols, 0.f, 0.f, nullptr);
  // A constant row normalizes to 1 (rstd = 1/1.5); with dy = w = 1 the gradient is 0.
  et::cuda::rmsnorm_backward(ddy.as<void>(), dx_in.as<void>(), ElemType::f32, dw_in.as<void>(),
                             ElemType::f32, drstd.as<float>(), ddx.as<void>(), nullptr, nullptr,
                             rows, cols, 0.f, nullptr);
  for (float v : ddx.download<float>(x.size())) ASSERT_NEAR(v, 0.f, 1e-6f);
  for (float v : drstd.download<float>(rows)) ASSERT_NEAR(v, 1.f / 1.5f, 1e-6f);
  // Zero rows is a no-op, not an invalid launch.
  et::cuda::rmsnorm_forward(dx_in.as<void>(), ElemType::f32, dw_in.as<void>(), ElemType::f32,
                            ddx.as<void>(), drstd.as<float>(), 0, cols, 1e-6f, 0.f, nullptr);
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
}

}  // namespace
