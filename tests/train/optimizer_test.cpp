#include <gtest/gtest.h>
#include <torch/types.h>
#include <torch/utils.h>

#include <cmath>

#include "edgetune/train/optimizer.h"

namespace et {
namespace {

// Scalar AdamW in double precision, straight from the update rule, as the reference.
struct ScalarAdamW {
  double m = 0, v = 0;
  int t = 0;
  double step(double p, double g, double lr, double b1, double b2, double eps, double wd) {
    ++t;
    p *= 1 - lr * wd;
    m = b1 * m + (1 - b1) * g;
    v = b2 * v + (1 - b2) * g * g;
    double mh = m / (1 - std::pow(b1, t)), vh = v / (1 - std::pow(b2, t));
    return p - lr * mh / (std::sqrt(vh) + eps);
  }
};

TEST(AdamW, MatchesScalarReferenceOverSteps) {
  torch::manual_seed(0);
  auto w = torch::randn({5, 3}, torch::kFloat32).requires_grad_(true);
  AdamWOptions o{0.9, 0.95, 1e-6, 0.1};
  AdamW opt({{"w", w}}, o);
  std::vector<double> ref(15);
  auto init = w.detach().clone();
  for (int i = 0; i < 15; ++i) ref[i] = init.view(-1)[i].item<double>();
  std::vector<ScalarAdamW> st(15);
  for (int s = 0; s < 6; ++s) {
    auto loss = (w * w * w).sum() + (w * (s + 1)).sum();  // dL/dw = 3w^2 + s + 1
    opt.zero_grad();
    loss.backward();
    auto g = w.grad().clone();
    const double lr = 0.01 * (s + 1);
    opt.step(lr);
    for (int i = 0; i < 15; ++i) ref[i] = st[i].step(ref[i], g.view(-1)[i].item<double>(), lr, 0.9, 0.95, 1e-6, 0.1);
  }
  for (int i = 0; i < 15; ++i) EXPECT_NEAR(w.view(-1)[i].item<double>(), ref[i], 1e-5) << i;
  EXPECT_EQ(opt.step_count(), 6);
}

TEST(AdamW, StateRoundTripContinuesIdentically) {
  torch::manual_seed(1);
  auto a = torch::randn({4}).requires_grad_(true);
  auto b = a.detach().clone().requires_grad_(true);
  AdamW oa({{"p", a}}, {});
  for (int s = 0; s < 3; ++s) {
    oa.zero_grad();
    (a * a).sum().backward();
    oa.step(0.1);
  }
  {
    torch::NoGradGuard g;
    b.copy_(a);
  }
  AdamW ob({{"p", b}}, {});
  ob.load_state(oa.state(), oa.step_count());
  for (auto* pair : {&oa, &ob}) {
    pair->zero_grad();
    auto& p = pair == &oa ? a : b;
    (p * p * p).sum().backward();
    pair->step(0.05);
  }
  EXPECT_TRUE(torch::equal(a, b));
}

TEST(ClipGradNorm, ScalesToMaxNorm) {
  auto w = torch::zeros({2}).requires_grad_(true);
  w.mutable_grad() = torch::tensor({3.0f, 4.0f});
  double n = clip_grad_norm({{"w", w}}, 1.0);
  EXPECT_NEAR(n, 5.0, 1e-6);
  EXPECT_NEAR(w.grad().norm().item<double>(), 1.0, 1e-5);
  n = clip_grad_norm({{"w", w}}, 10.0);  // below the limit: untouched
  EXPECT_NEAR(w.grad().norm().item<double>(), 1.0, 1e-5);
}

TEST(Schedule, WarmupCosineLinearConstant) {
  EXPECT_DOUBLE_EQ(schedule_lr("cosine", 1.0, 0, 4, 14, 0.0), 0.25);
  EXPECT_DOUBLE_EQ(schedule_lr("cosine", 1.0, 3, 4, 14, 0.0), 1.0);
  EXPECT_NEAR(schedule_lr("cosine", 1.0, 4, 4, 14, 0.0), 1.0, 1e-12);   // decay starts at the peak
  EXPECT_NEAR(schedule_lr("cosine", 1.0, 9, 4, 14, 0.0), 0.5, 1e-12);   // halfway: cos(pi/2)
  EXPECT_NEAR(schedule_lr("cosine", 1.0, 14, 4, 14, 0.1), 0.1, 1e-12);  // floor
  EXPECT_NEAR(schedule_lr("linear", 2.0, 9, 4, 14, 0.0), 1.0, 1e-12);
  EXPECT_DOUBLE_EQ(schedule_lr("constant", 3.0, 100, 0, 10, 0.0), 3.0);
  EXPECT_THROW(schedule_lr("step", 1.0, 5, 0, 10, 0.0), std::exception);
}

}  // namespace
}  // namespace et
