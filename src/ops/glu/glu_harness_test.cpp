// The gated activation through the shared harness: glu (gate and up apart) and glu_packed (gate and
// up side by side, as the fused gate/up projection writes them) against the same formula in torch
// ops, at odd sizes, every dtype and device; the reference's backward against finite differences.
#include <gtest/gtest.h>

#include "ops/common/op_harness.h"
#include "ops/glu/glu.h"

namespace {

using namespace et::ops;
using namespace et::ops::test;

torch::Tensor act_ref(const torch::Tensor& g, GluActivation a) {
  if (a == GluActivation::silu) return g * torch::sigmoid(g);
  return 0.5 * g * (1 + torch::tanh(0.7978845608028654 * (g + 0.044715 * g * g * g)));
}

OpCheck packed_check(GluActivation a) {
  return {"glu_packed",
          [a](const std::vector<torch::Tensor>& x) { return std::vector<torch::Tensor>{glu_packed(x[0], a)}; },
          [a](const std::vector<torch::Tensor>& x) {
            const int64_t f = x[0].size(-1) / 2;
            return std::vector<torch::Tensor>{act_ref(x[0].narrow(-1, 0, f), a) * x[0].narrow(-1, f, f)};
          }};
}

OpCheck split_check(GluActivation a) {
  return {"glu", [a](const std::vector<torch::Tensor>& x) { return std::vector<torch::Tensor>{glu(x[0], x[1], a)}; },
          [a](const std::vector<torch::Tensor>& x) { return std::vector<torch::Tensor>{act_ref(x[0], a) * x[1]}; }};
}

TEST(GluHarness, BothLayoutsMatchTheReferenceAtOddSizes) {
  for (const auto& dev : devices())
    for (auto a : {GluActivation::silu, GluActivation::gelu_tanh})
      for (int64_t rows : odd_sizes())
        for (int64_t f : {int64_t{1}, int64_t{31}, int64_t{64}})
          for (auto dt : {torch::kFloat32, torch::kBFloat16, torch::kFloat16}) {
            torch::manual_seed(rows + f);
            expect_matches_reference(packed_check(a), {"rows=" + std::to_string(rows) + " f=" + std::to_string(f),
                                                       {torch::randn({rows, 2 * f}) * 2}, {true}, {}},
                                     dt, dev);
            expect_matches_reference(split_check(a), {"rows=" + std::to_string(rows) + " f=" + std::to_string(f),
                                                      {torch::randn({rows, f}) * 2, torch::randn({rows, f})}, {true, true}, {}},
                                     dt, dev);
          }
}

TEST(GluHarness, ReferenceBackwardMatchesFiniteDifferences) {
  for (auto a : {GluActivation::silu, GluActivation::gelu_tanh}) {
    expect_reference_gradients_match_finite_differences(packed_check(a), {"rows=3 f=5", {torch::randn({3, 10})}, {true}, {}});
    expect_reference_gradients_match_finite_differences(split_check(a),
                                                        {"rows=3 f=5", {torch::randn({3, 5}), torch::randn({3, 5})}, {true, true}, {}});
  }
}

}  // namespace
