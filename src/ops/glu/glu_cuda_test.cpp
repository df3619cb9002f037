// CUDA gated activation (SwiGLU / GeGLU-tanh) forward and backward against the CPU reference
// (glu_ref.h) for float32, bfloat16 and float16, odd sizes and unaligned buffers. Tolerances:
// float32 1e-5 relative (the GPU's expf/tanhf are within 2 ulps of the CPU's); 16-bit types two
// ulps of their type (2^-7 relative for bfloat16, 2^-10 for float16: the activation is rounded
// before the product, so one ulp there can become two); plus 1e-6 of the largest magnitude for
// values near zero.
#include <random>

#include "ops/common/cuda_test_util.h"
#include "edgetune/core/dtype.h"
#include "ops/glu/glu_cuda.h"
#include "ops/glu/glu_ref.h"

namespace {

using et::cuda::ElemType;
using et::ops::GluActivation;
using et::test::all_close;
using et::test::DeviceBuffer;

float round_elem(float v, ElemType t) {
  return t == ElemType::bf16 ? et::bf16_to_f32(et::f32_to_bf16(v))
         : t == ElemType::f16 ? et::f16_to_f32(et::f32_to_f16(v))
                              : v;
}

size_t esize(ElemType t) { return t == ElemType::f32 ? 4 : 2; }

void upload_as(DeviceBuffer& buf, const std::vector<float>& v, ElemType t, size_t shift) {
  if (t == ElemType::f32) return buf.upload(v, shift * 4);
  std::vector<uint16_t> bits(v.size());
  for (size_t i = 0; i < v.size(); ++i)
    bits[i] = t == ElemType::bf16 ? et::f32_to_bf16(v[i]) : et::f32_to_f16(v[i]);
  buf.upload(bits, shift * 2);
}

std::vector<float> download_as(const DeviceBuffer& buf, size_t n, ElemType t, size_t shift) {
  if (t == ElemType::f32) return buf.download<float>(n, shift * 4);
  std::vector<uint16_t> bits = buf.download<uint16_t>(n, shift * 2);
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i)
    v[i] = t == ElemType::bf16 ? et::bf16_to_f32(bits[i]) : et::f16_to_f32(bits[i]);
  return v;
}

void run_case(int64_t n, ElemType t, GluActivation act, size_t shift) {
  SCOPED_TRACE("n " + std::to_string(n) + " " + et::cuda::elem_type_name(t) +
               (act == GluActivation::silu ? " silu" : " gelu_tanh") + " offset " + std::to_string(shift));
  std::mt19937 rng(static_cast<unsigned>(n));
  std::normal_distribution<float> n01(0.f, 1.f);
  std::vector<float> g(n), u(n), dy(n);
  for (auto& v : g) v = round_elem(3.f * n01(rng), t);
  for (auto& v : u) v = round_elem(n01(rng), t);
  for (auto& v : dy) v = round_elem(n01(rng), t);
  const auto prec = t == ElemType::bf16 ? et::ops::Precision::bf16
                    : t == ElemType::f16 ? et::ops::Precision::f16
                                         : et::ops::Precision::f32;
  std::vector<float> y_ref(n), dg_ref(n), du_ref(n);
  et::ops::glu_forward_ref(g.data(), u.data(), n, act, prec, y_ref.data());
  et::ops::glu_backward_ref(dy.data(), g.data(), u.data(), n, act, dg_ref.data(), du_ref.data());

  const size_t bytes = (n + shift) * esize(t);
  DeviceBuffer dg_in(bytes), du_in(bytes), ddy(bytes), dy_out(bytes), ddg(bytes), ddu(bytes);
  upload_as(dg_in, g, t, shift);
  upload_as(du_in, u, t, shift);
  upload_as(ddy, dy, t, shift);
  const size_t off = shift * esize(t);
  const auto cact = act == GluActivation::silu ? et::cuda::GluAct::silu : et::cuda::GluAct::gelu_tanh;
  et::cuda::glu_forward(dg_in.as<void>(off), du_in.as<void>(off), dy_out.as<void>(off), t, n, cact, nullptr);
  et::cuda::glu_backward(ddy.as<void>(off), dg_in.as<void>(off), du_in.as<void>(off), ddg.as<void>(off),
                         ddu.as<void>(off), t, n, cact, nullptr);
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  const double rel = t == ElemType::bf16 ? 1.0 / 128 : t == ElemType::f16 ? 1.0 / 1024 : 1e-5;
  EXPECT_TRUE(all_close(download_as(dy_out, n, t, shift), y_ref, rel, 1e-6));
  EXPECT_TRUE(all_close(download_as(ddg, n, t, shift), dg_ref, rel, 1e-6));
  EXPECT_TRUE(all_close(download_as(ddu, n, t, shift), du_ref, rel, 1e-6));
}

TEST(GluCuda, MatchesCpuReference) {
  ET_REQUIRE_CUDA();
  for (int64_t n : {1, 31, 33, 4099, 64 * 2048 + 3})
    for (ElemType t : {ElemType::f32, ElemType::bf16, ElemType::f16})
      for (GluActivation a : {GluActivation::silu, GluActivation::gelu_tanh}) run_case(n, t, a, 0);
}

TEST(GluCuda, UnalignedBuffersGiveTheSameResults) {
  ET_REQUIRE_CUDA();
  for (ElemType t : {ElemType::f32, ElemType::bf16}) run_case(4099, t, GluActivation::silu, 1);
}

}  // namespace
