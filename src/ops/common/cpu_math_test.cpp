// The CPU kernels' elementary functions against the C library in double precision over their
// whole useful range.
#include <gtest/gtest.h>

#include <cmath>

#include "ops/common/cpu_math.h"

namespace {

using namespace et::ops::cpu;

TEST(CpuMath, ExpSigmoidTanhMatchTheLibrary) {
  double exp_worst = 0, sig_worst = 0, tanh_worst = 0;
  for (float x = -87.f; x <= 88.f; x += 0.003f) {
    const double e = std::exp(static_cast<double>(x));
    exp_worst = std::max(exp_worst, std::fabs(exp_approx(x) - e) / e);
    const double s = 1.0 / (1.0 + std::exp(-static_cast<double>(x)));
    sig_worst = std::max(sig_worst, std::fabs(sigmoid_approx(x) - s) / s);
    if (std::fabs(x) < 20.f) tanh_worst = std::max(tanh_worst, std::fabs(tanh_approx(x) - std::tanh(static_cast<double>(x))));
  }
  EXPECT_LT(exp_worst, 5e-7);
  EXPECT_LT(sig_worst, 1e-6);
  EXPECT_LT(tanh_worst, 3e-7);
  EXPECT_EQ(exp_approx(-1e30f), exp_approx(-87.f));  // clamped, never 0 or NaN
  EXPECT_TRUE(std::isfinite(exp_approx(1e30f)));
  EXPECT_EQ(tanh_approx(30.f), 1.f);
  EXPECT_EQ(tanh_approx(-30.f), -1.f);
}

}  // namespace
