// RoPE through the shared harness: the fast paths (CPU loops, CUDA kernel) against the reference
// at odd sizes and every dtype, the reference's backward against finite differences, and the
// rotation against a hand-computed case.
#include <gtest/gtest.h>

#include <cmath>

#include "ops/common/op_harness.h"
#include "ops/rope/rope.h"

namespace {

using namespace et::ops::test;

torch::Tensor inv_freq(int64_t d, double theta = 10000.0) {
  auto e = torch::arange(0, d, 2, torch::kInt64).to(torch::kFloat32) / static_cast<double>(d);
  return torch::reciprocal(torch::pow(theta, e));
}

OpCheck rope_check() {
  return {"rope",
          [](const std::vector<torch::Tensor>& x) { return std::vector<torch::Tensor>{et::ops::rope(x[0], x[1], x[2])}; },
          [](const std::vector<torch::Tensor>& x) {
            return std::vector<torch::Tensor>{et::ops::rope_ref(x[0], x[1], x[2])};
          }};
}

OpCase rope_case(int64_t n, int64_t heads, int64_t d, int64_t max_pos) {
  torch::manual_seed(n * 7 + heads + d);
  return {"tokens=" + std::to_string(n) + " heads=" + std::to_string(heads) + " head_dim=" + std::to_string(d),
          {torch::randn({n, heads, d}), torch::randint(0, max_pos, {n}, torch::kInt64), inv_freq(d)},
          {true, false, false},
          {false, false, true}};
}

TEST(Rope, FastPathsMatchTheReferenceAtOddSizes) {
  for (const auto& dev : devices())
    for (int64_t n : odd_sizes())
      for (auto [heads, d] : std::vector<std::pair<int64_t, int64_t>>{{1, 2}, {3, 64}, {2, 6}})
        for (auto dt : {torch::kFloat32, torch::kBFloat16, torch::kFloat16})
          expect_matches_reference(rope_check(), rope_case(n, heads, d, 9000), dt, dev);
}

TEST(Rope, ReferenceBackwardMatchesFiniteDifferences) {
  for (int64_t n : {1, 31, 33}) expect_reference_gradients_match_finite_differences(rope_check(), rope_case(n, 2, 8, 300));
}

TEST(Rope, RotatesEachPairByItsPositionTimesFrequency) {
  // head_dim 4, one token at position 3, inv_freq (1, 0.5): pair 0 turns by 3 rad, pair 1 by 1.5.
  auto x = torch::tensor({1.f, 2.f, 3.f, 4.f}).view({1, 1, 4});
  auto y = et::ops::rope(x, torch::tensor({int64_t{3}}), torch::tensor({1.f, 0.5f}));
  const float c0 = std::cos(3.f), s0 = std::sin(3.f), c1 = std::cos(1.5f), s1 = std::sin(1.5f);
  const float want[4] = {1 * c0 - 3 * s0, 2 * c1 - 4 * s1, 3 * c0 + 1 * s0, 4 * c1 + 2 * s1};
  for (int i = 0; i < 4; ++i) EXPECT_NEAR(y.view({4})[i].item<float>(), want[i], 1e-6) << i;
}

OpCheck qkv_check(int64_t hq, int64_t hkv) {
  return {"rope_qkv",
          [=](const std::vector<torch::Tensor>& x) { return et::ops::rope_qkv(x[0], hq, hkv, x[1], x[2]); },
          [=](const std::vector<torch::Tensor>& x) { return et::ops::rope_qkv_ref(x[0], hq, hkv, x[1], x[2]); }};
}

TEST(Rope, QkvSplitMatchesTheReferenceAtOddSizes) {
  for (const auto& dev : devices())
    for (int64_t n : odd_sizes())
      for (auto [hq, hkv] : std::vector<std::pair<int64_t, int64_t>>{{1, 1}, {4, 2}, {3, 1}})
        for (auto dt : {torch::kFloat32, torch::kBFloat16}) {
          torch::manual_seed(n + hq);
          const int64_t d = 8;
          expect_matches_reference(qkv_check(hq, hkv),
                                   {"tokens=" + std::to_string(n) + " hq=" + std::to_string(hq) + " hkv=" + std::to_string(hkv),
                                    {torch::randn({n, (hq + 2 * hkv) * d}), torch::randint(0, 5000, {n}, torch::kInt64), inv_freq(d)},
                                    {true, false, false},
                                    {false, false, true}},
                                   dt, dev);
        }
}

TEST(Rope, RejectsMismatchedPositions) {
  EXPECT_THROW(et::ops::rope(torch::randn({3, 1, 4}), torch::zeros({2}, torch::kInt64), inv_freq(4)), std::exception);
}

}  // namespace
