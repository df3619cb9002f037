// The harness must catch what it is for: a fast path whose forward or backward is wrong, and a
// reference whose backward is not the derivative of its forward.
#include <gtest/gtest-spi.h>
#include <gtest/gtest.h>
#include <torch/csrc/autograd/custom_function.h>

#include "ops/common/op_harness.h"

namespace {

using namespace et::ops::test;

std::vector<torch::Tensor> good(const std::vector<torch::Tensor>& x) { return {x[0] * x[1] + torch::exp(x[0])}; }

// exp(x) with the backward of x * 1.001: a bug an eyeball would miss.
struct WrongBackward : torch::autograd::Function<WrongBackward> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x) {
    ctx->save_for_backward({x});
    return torch::exp(x);
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list g) {
    return {g[0] * torch::exp(ctx->get_saved_variables()[0]) * 1.001};
  }
};

OpCase make_case(int64_t n) {
  torch::manual_seed(3);
  return {"n=" + std::to_string(n), {torch::randn({n, 5}), torch::randn({n, 5})}, {true, true}, {}};
}

TEST(OpHarness, ACorrectFastPathPasses) {
  const OpCheck op{"good", good, good};
  for (int64_t n : odd_sizes()) {
    EXPECT_TRUE(reference_mismatches(op, make_case(n), torch::kFloat32, torch::kCPU, default_tolerance(torch::kFloat32)).empty());
    expect_reference_gradients_match_finite_differences(op, make_case(n));
  }
}

TEST(OpHarness, AWrongForwardIsCaught) {
  const OpCheck op{"off", [](const std::vector<torch::Tensor>& x) { return std::vector<torch::Tensor>{good(x)[0] * 1.001}; },
                   good};
  EXPECT_FALSE(reference_mismatches(op, make_case(33), torch::kFloat32, torch::kCPU, default_tolerance(torch::kFloat32)).empty());
}

TEST(OpHarness, AWrongBackwardIsCaughtAgainstTheReferenceAndByFiniteDifferences) {
  const OpFn wrong = [](const std::vector<torch::Tensor>& x) {
    return std::vector<torch::Tensor>{x[0] * x[1] + WrongBackward::apply(x[0])};
  };
  const auto bad = reference_mismatches({"wrong", wrong, good}, make_case(31), torch::kFloat32, torch::kCPU,
                                        default_tolerance(torch::kFloat32));
  ASSERT_EQ(bad.size(), 1u);
  EXPECT_NE(bad[0].find("gradient of input 0"), std::string::npos) << bad[0];
  // As a reference, the same op fails the finite-difference check.
  ::testing::TestPartResultArray failures;
  {
    ::testing::ScopedFakeTestPartResultReporter reporter(
        ::testing::ScopedFakeTestPartResultReporter::INTERCEPT_ONLY_CURRENT_THREAD, &failures);
    expect_reference_gradients_match_finite_differences({"wrong", wrong, wrong}, make_case(31));
  }
  EXPECT_GT(failures.size(), 0);
}

TEST(OpHarness, BFloat16RoundingIsWithinItsToleranceButFloat32RoundingOfItIsNot) {
  const OpFn rounded = [](const std::vector<torch::Tensor>& x) {
    return std::vector<torch::Tensor>{good(x)[0].to(torch::kBFloat16).to(x[0].scalar_type())};
  };
  const OpCheck op{"rounded", rounded, good};
  EXPECT_TRUE(reference_mismatches(op, make_case(4097), torch::kBFloat16, torch::kCPU, default_tolerance(torch::kBFloat16)).empty());
  EXPECT_FALSE(reference_mismatches(op, make_case(4097), torch::kFloat32, torch::kCPU, default_tolerance(torch::kFloat32)).empty());
}

}  // namespace
