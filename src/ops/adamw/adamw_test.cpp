// Multi-tensor AdamW and the global gradient norm: the fast paths (CPU loop, CUDA multi-tensor
// kernels) against the tensor-by-tensor reference over several steps, on tensors of odd sizes (one
// spanning several CUDA chunks), with and without clipping; and the update against the AdamW rule
// written out in double for one element.
#include <gtest/gtest.h>

#include <cmath>

#include "ops/adamw/adamw.h"
#include "ops/common/kernel_path.h"
#include "ops/common/op_harness.h"

namespace {

using namespace et::ops;
using et::ops::test::devices;
using et::ops::test::relative_error;

struct State {
  std::vector<torch::Tensor> p, g, m, v;
};

State make_state(torch::Device d, uint64_t seed) {
  torch::manual_seed(seed);
  State s;
  for (int64_t n : {int64_t{1}, int64_t{31}, int64_t{33}, int64_t{4097}, int64_t{65536 * 2 + 3}}) {
    s.p.push_back(torch::randn({n}).to(d));
    s.g.push_back((torch::randn({n}) * 3).to(d));
    s.m.push_back(torch::zeros({n}).to(d));
    s.v.push_back(torch::zeros({n}).to(d));
  }
  s.g[2] = torch::Tensor();  // a parameter without a gradient is left alone
  return s;
}

State clone(const State& s) {
  State c;
  auto cp = [](const std::vector<torch::Tensor>& v) {
    std::vector<torch::Tensor> o;
    for (const auto& t : v) o.push_back(t.defined() ? t.clone() : t);
    return o;
  };
  c.p = cp(s.p), c.g = cp(s.g), c.m = cp(s.m), c.v = cp(s.v);
  return c;
}

TEST(AdamW, FastPathsMatchTheReferenceOverSteps) {
  for (const auto& dev : devices()) {
    State fast = make_state(dev, 1), ref = clone(fast);
    const torch::Tensor untouched = fast.p[2].clone();
    for (int64_t step = 1; step <= 4; ++step) {
      AdamWHyper h{1e-2, 0.9, 0.95, 1e-6, 0.1, step};
      const torch::Tensor nf = global_grad_norm(fast.g), nr = global_grad_norm_ref(ref.g);
      EXPECT_LT(relative_error(nf, nr), 1e-5) << dev.str() << " step " << step;
      const torch::Tensor sf = clip_scale(nf, 5.0), sr = clip_scale(nr, 5.0);
      EXPECT_LT(sf.item<float>(), 1.f);  // the gradients are clipped
      adamw_update(fast.p, fast.g, fast.m, fast.v, h, sf);
      adamw_update_ref(ref.p, ref.g, ref.m, ref.v, h, sr);
      for (size_t i = 0; i < fast.p.size(); ++i) {
        EXPECT_LT(relative_error(fast.p[i], ref.p[i]), 1e-5) << dev.str() << " step " << step << " tensor " << i;
        EXPECT_LT(relative_error(fast.m[i], ref.m[i]), 1e-5) << dev.str() << " tensor " << i;
        EXPECT_LT(relative_error(fast.v[i], ref.v[i]), 1e-5) << dev.str() << " tensor " << i;
      }
    }
    EXPECT_TRUE(torch::equal(fast.p[2], untouched));
  }
}

TEST(AdamW, OneElementFollowsTheRuleInDouble) {
  for (const auto& dev : devices()) {
    auto p = torch::tensor({0.5f}).to(dev), g = torch::tensor({-2.0f}).to(dev);
    auto m = torch::tensor({0.1f}).to(dev), v = torch::tensor({0.3f}).to(dev);
    const double lr = 0.01, b1 = 0.9, b2 = 0.99, eps = 1e-8, wd = 0.05, s = 0.25;
    adamw_update({p}, {g}, {m}, {v}, {lr, b1, b2, eps, wd, 3}, torch::tensor(float(s)).to(dev));
    const double gs = -2.0 * s, mm = b1 * 0.1 + (1 - b1) * gs, vv = b2 * 0.3 + (1 - b2) * gs * gs;
    const double want = 0.5 * (1 - lr * wd) - lr / (1 - std::pow(b1, 3)) * mm / (std::sqrt(vv / (1 - std::pow(b2, 3))) + eps);
    EXPECT_NEAR(p.item<double>(), want, 1e-6) << dev.str();
    EXPECT_NEAR(m.item<double>(), mm, 1e-6) << dev.str();
    EXPECT_NEAR(v.item<double>(), vv, 1e-6) << dev.str();
  }
}

TEST(AdamW, ClipScaleIsOneUnderTheLimitAndWithoutIt) {
  EXPECT_FLOAT_EQ(clip_scale(torch::tensor(0.5f), 1.0).item<float>(), 1.f);
  EXPECT_FLOAT_EQ(clip_scale(torch::tensor(50.f), 0.0).item<float>(), 1.f);
  EXPECT_NEAR(clip_scale(torch::tensor(4.f), 1.0).item<float>(), 0.25f, 1e-6);
}

}  // namespace
