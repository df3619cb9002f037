// The torch-level entry points on CUDA tensors (built only against a CUDA libtorch): the RMSNorm
// autograd op against the same op on the CPU, and nf4_dequantize on GPU buffers against the CPU.
#ifdef EDGETUNE_TORCH_CUDA
#include <gtest/gtest.h>

#include "ops/common/cuda_test_util.h"
#include "ops/glu/glu.h"
#include "ops/rmsnorm/rmsnorm.h"
#include "edgetune/quant/nf4.h"

namespace {

TEST(TorchGlueCuda, RmsNormForwardAndGradientsMatchTheCpu) {
  ET_REQUIRE_CUDA();
  torch::manual_seed(0);
  for (torch::Dtype dt : {torch::kFloat32, torch::kBFloat16}) {
    for (double offset : {0.0, 1.0}) {
      torch::Tensor x = torch::randn({3, 5, 4099}).to(dt);
      torch::Tensor w = (torch::randn({4099}) * 0.2 + 0.7).to(dt);
      torch::Tensor dy = torch::randn({3, 5, 4099}).to(dt);
      torch::Tensor xc = x.clone().requires_grad_(true), wc = w.clone().requires_grad_(true);
      torch::Tensor yc = et::ops::rmsnorm(xc, wc, 1e-6, offset);
      yc.backward(dy);
      torch::Tensor xg = x.cuda().requires_grad_(true), wg = w.cuda().requires_grad_(true);
      torch::Tensor yg = et::ops::rmsnorm(xg, wg, 1e-6, offset);
      yg.backward(dy.cuda());
      const double rel = dt == torch::kFloat32 ? 1e-5 : 1.0 / 64;
      EXPECT_TRUE(torch::allclose(yg.cpu().to(torch::kFloat32), yc.to(torch::kFloat32), rel, 1e-5));
      EXPECT_TRUE(torch::allclose(xg.grad().cpu().to(torch::kFloat32), xc.grad().to(torch::kFloat32), rel, 1e-4));
      EXPECT_TRUE(torch::allclose(wg.grad().cpu().to(torch::kFloat32), wc.grad().to(torch::kFloat32), rel, 1e-3));
      EXPECT_EQ(yg.scalar_type(), dt);
      EXPECT_EQ(wg.grad().scalar_type(), dt);
    }
  }
}

TEST(TorchGlueCuda, Nf4DequantizeOnTheGpuEqualsTheCpu) {
  ET_REQUIRE_CUDA();
  torch::manual_seed(1);
  const et::quant::Nf4Weight w = et::quant::nf4_quantize(torch::randn({257, 129}), "w");
  const et::quant::Nf4Weight wg = w.to(torch::Device(torch::kCUDA, 0));
  EXPECT_TRUE(wg.packed.is_cuda());
  for (torch::Dtype dt : {torch::kFloat32, torch::kBFloat16, torch::kFloat16}) {
    torch::Tensor cpu = et::quant::nf4_dequantize(w, dt, torch::kCPU);
    torch::Tensor gpu = et::quant::nf4_dequantize(wg, dt, torch::Device(torch::kCUDA, 0));
    torch::Tensor moved = et::quant::nf4_dequantize(w, dt, torch::Device(torch::kCUDA, 0));
    EXPECT_TRUE(gpu.is_cuda());
    EXPECT_TRUE(torch::equal(gpu.cpu(), cpu)) << c10::toString(dt);
    EXPECT_TRUE(torch::equal(moved.cpu(), cpu)) << c10::toString(dt);
  }
}

TEST(TorchGlueCuda, GluForwardAndGradientsMatchTheCpu) {
  ET_REQUIRE_CUDA();
  torch::manual_seed(2);
  for (torch::Dtype dt : {torch::kFloat32, torch::kBFloat16}) {
    for (auto act : {et::ops::GluActivation::silu, et::ops::GluActivation::gelu_tanh}) {
      torch::Tensor g = (torch::randn({7, 1031}) * 3).to(dt), u = torch::randn({7, 1031}).to(dt);
      torch::Tensor dy = torch::randn({7, 1031}).to(dt);
      torch::Tensor gc = g.clone().requires_grad_(true), uc = u.clone().requires_grad_(true);
      torch::Tensor yc = et::ops::glu(gc, uc, act);
      yc.backward(dy);
      torch::Tensor gg = g.cuda().requires_grad_(true), ug = u.cuda().requires_grad_(true);
      torch::Tensor yg = et::ops::glu(gg, ug, act);
      yg.backward(dy.cuda());
      const double rel = dt == torch::kFloat32 ? 1e-5 : 1.0 / 64;
      auto f32 = [](const torch::Tensor& t) { return t.cpu().to(torch::kFloat32); };
      EXPECT_TRUE(torch::allclose(f32(yg), f32(yc), rel, 1e-5));
      EXPECT_TRUE(torch::allclose(f32(gg.grad()), f32(gc.grad()), rel, 1e-5));
      EXPECT_TRUE(torch::allclose(f32(ug.grad()), f32(uc.grad()), rel, 1e-5));
    }
  }
}

}  // namespace
#endif
