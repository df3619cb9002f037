// Gated activation (SwiGLU / GeGLU-tanh) on the CPU: analytic gradients against central finite
// differences of a double-precision forward written here, and the op against torch's own
// silu / gelu(approximate="tanh") times up, the formulas transformers' MLPs use.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <random>

#include "edgetune/core/error.h"
#include "ops/glu/glu.h"

namespace {

using et::ops::glu;
using et::ops::GluActivation;

double act_double(double g, GluActivation a) {
  if (a == GluActivation::silu) return g / (1 + std::exp(-g));
  const double pi = 3.14159265358979323846;
  return 0.5 * g * (1 + std::tanh(std::sqrt(2 / pi) * (g + 0.044715 * g * g * g)));
}

class GluGrad : public ::testing::TestWithParam<GluActivation> {};

TEST_P(GluGrad, MatchesFiniteDifferencesInDouble) {
  const GluActivation act = GetParam();
  const int64_t n = 257;
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> wide(-6.f, 6.f);
  std::normal_distribution<float> n01(0.f, 1.f);
  std::vector<float> g(n), u(n), c(n);
  for (auto& v : g) v = wide(rng);
  for (auto& v : u) v = n01(rng);
  for (auto& v : c) v = n01(rng);
  g[0] = 0.f;

  // d/dg and d/du of sum(c * act(g) * u), element by element (the op is element-wise).
  std::vector<float> dg_fd(n), du_fd(n);
  for (int64_t i = 0; i < n; ++i) {
    const double h = 1e-6 * std::max(1.0, std::fabs(double(g[i])));
    dg_fd[i] = static_cast<float>(c[i] * u[i] * (act_double(g[i] + h, act) - act_double(g[i] - h, act)) / (2 * h));
    du_fd[i] = static_cast<float>(c[i] * act_double(g[i], act));
  }
  torch::Tensor gt = torch::from_blob(g.data(), {n}).clone().requires_grad_(true);
  torch::Tensor ut = torch::from_blob(u.data(), {n}).clone().requires_grad_(true);
  torch::Tensor ct = torch::from_blob(c.data(), {n}).clone();
  (glu(gt, ut, act) * ct).sum().backward();
  torch::Tensor want_g = torch::from_blob(dg_fd.data(), {n}), want_u = torch::from_blob(du_fd.data(), {n});
  EXPECT_TRUE(torch::allclose(gt.grad(), want_g, 1e-5, 1e-5)) << (gt.grad() - want_g).abs().max().item<float>();
  EXPECT_TRUE(torch::allclose(ut.grad(), want_u, 1e-5, 1e-6)) << (ut.grad() - want_u).abs().max().item<float>();
  // The raw reference agrees with the op it backs.
  std::vector<float> dg(n), du(n);
  et::ops::glu_backward_ref(c.data(), g.data(), u.data(), n, act, dg.data(), du.data());
  EXPECT_TRUE(torch::allclose(torch::from_blob(dg.data(), {n}), want_g, 1e-5, 1e-5));
}

INSTANTIATE_TEST_SUITE_P(SiluAndGeluTanh, GluGrad,
                         ::testing::Values(GluActivation::silu, GluActivation::gelu_tanh));

torch::Tensor torch_glu(const torch::Tensor& g, const torch::Tensor& u, GluActivation a) {
  return (a == GluActivation::silu ? torch::silu(g) : torch::gelu(g, "tanh")) * u;
}

TEST(Glu, MatchesTorchActivationsInFloat32AndBfloat16) {
  torch::manual_seed(0);
  for (GluActivation a : {GluActivation::silu, GluActivation::gelu_tanh}) {
    torch::Tensor g = torch::randn({33, 129}) * 3, u = torch::randn({33, 129});
    EXPECT_TRUE(torch::allclose(glu(g, u, a), torch_glu(g, u, a), 1e-5, 1e-6));
    // bfloat16: act(gate) computed in float32 and rounded, then times up rounded (what torch's
    // CUDA kernels and its CPU kernels from 2.x do; torch 1.13's CPU bfloat16 silu/gelu lose
    // precision inside, so the reference takes the activation of the float32 gate). torch's
    // exp/tanh may differ from ours in the last float32 bits, which can move a value sitting on a
    // rounding boundary by one bfloat16 ulp: allow 1% of elements one ulp apart.
    torch::Tensor gb = g.to(torch::kBFloat16), ub = u.to(torch::kBFloat16);
    torch::Tensor gf = gb.to(torch::kFloat32);
    torch::Tensor act_b = (a == GluActivation::silu ? torch::silu(gf) : torch::gelu(gf, "tanh")).to(torch::kBFloat16);
    torch::Tensor ours = glu(gb, ub, a), ref = act_b * ub;
    ASSERT_EQ(ours.scalar_type(), torch::kBFloat16);
    // (Near zero, e.g. gelu(-6) ~ -1e-8, ulps are tiny: there the bound is absolute, 1e-6.)
    torch::Tensor o = ours.to(torch::kFloat32), r = ref.to(torch::kFloat32);
    EXPECT_TRUE(((o - r).abs() <= r.abs() / 256 + 1e-6).all().item<bool>());
    EXPECT_LT(o.ne(r).sum().item<int64_t>(), g.numel() / 100);
  }
}

TEST(Glu, GradientsMatchAutogradThroughTorchOps) {
  torch::manual_seed(1);
  for (GluActivation a : {GluActivation::silu, GluActivation::gelu_tanh}) {
    torch::Tensor g = (torch::randn({4, 77}) * 3).requires_grad_(true);
    torch::Tensor u = torch::randn({4, 77}, torch::requires_grad());
    torch::Tensor c = torch::randn({4, 77});
    (glu(g, u, a) * c).sum().backward();
    torch::Tensor g2 = g.detach().clone().requires_grad_(true), u2 = u.detach().clone().requires_grad_(true);
    (torch_glu(g2, u2, a) * c).sum().backward();
    EXPECT_TRUE(torch::allclose(g.grad(), g2.grad(), 1e-5, 1e-6));
    EXPECT_TRUE(torch::allclose(u.grad(), u2.grad(), 1e-5, 1e-6));
  }
}

TEST(Glu, FrozenUpGetsNoGradientAndBadInputsAreRejected) {
  torch::Tensor g = torch::randn({3, 5}, torch::requires_grad()), u = torch::randn({3, 5});
  glu(g, u, GluActivation::silu).sum().backward();
  EXPECT_TRUE(g.grad().defined());
  EXPECT_FALSE(u.grad().defined());
  std::string msg;
  try {
    glu(torch::randn({3, 5}), torch::randn({3, 6}), GluActivation::silu);
  } catch (const et::Error& e) {
    msg = e.what();
  }
  EXPECT_NE(msg.find("[glu] gate has shape [3, 5] but up has [3, 6]"), std::string::npos) << msg;
}

}  // namespace
