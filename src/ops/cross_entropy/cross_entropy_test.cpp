#include <gtest/gtest.h>
#include <torch/torch.h>

#include "edgetune/kernels/cross_entropy.h"

namespace et::kernels {
namespace {

// Reference: full logits + torch's cross_entropy (sum reduction).
torch::Tensor reference(const torch::Tensor& h, const torch::Tensor& w, const torch::Tensor& y, double cap) {
  auto z = torch::matmul(h, w.t());
  if (cap > 0) z = torch::tanh(z / cap) * cap;
  return torch::nn::functional::cross_entropy(
      z, y, torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum));
}

TEST(ChunkedCrossEntropy, ForwardMatchesFullLogitsOddSizes) {
  torch::manual_seed(0);
  for (double cap : {0.0, 5.0}) {
    for (int64_t chunk : {1, 7, 33, 1000}) {
      auto h = torch::randn({33, 31});
      auto w = torch::randn({97, 31});
      auto y = torch::randint(0, 97, {33}, torch::kLong);
      auto a = chunked_cross_entropy(h, w, y, cap, chunk);
      auto b = reference(h, w, y, cap);
      EXPECT_NEAR(a.item<double>(), b.item<double>(), 1e-3 * std::abs(b.item<double>())) << cap << " " << chunk;
    }
  }
}

TEST(ChunkedCrossEntropy, BackwardMatchesFiniteDifferences) {
  torch::manual_seed(1);
  for (double cap : {0.0, 3.0}) {
    auto h = torch::randn({9, 5}, torch::kDouble).requires_grad_(true);
    auto w = torch::randn({13, 5}, torch::kDouble).requires_grad_(true);
    auto y = torch::randint(0, 13, {9}, torch::kLong);
    auto loss = chunked_cross_entropy(h, w, y, cap, 4) * 0.7;
    loss.backward();
    const double eps = 1e-6;
    for (auto* t : {&h, &w}) {
      auto grad = t->grad().clone();
      auto flat = t->detach().view(-1);
      for (int64_t i = 0; i < flat.numel(); i += 3) {
        double orig = flat[i].item<double>();
        torch::NoGradGuard g;
        flat[i] = orig + eps;
        double lp = (reference(h, w, y, cap) * 0.7).item<double>();
        flat[i] = orig - eps;
        double lm = (reference(h, w, y, cap) * 0.7).item<double>();
        flat[i] = orig;
        EXPECT_NEAR(grad.view(-1)[i].item<double>(), (lp - lm) / (2 * eps), 1e-6) << "cap " << cap << " i " << i;
      }
    }
  }
}

TEST(ChunkedCrossEntropy, FrozenWeightGetsNoGradient) {
  auto h = torch::randn({4, 3}).requires_grad_(true);
  auto w = torch::randn({6, 3});
  auto y = torch::tensor({0, 5, 2, 1}, torch::kLong);
  chunked_cross_entropy(h, w, y).backward();
  EXPECT_TRUE(h.grad().defined());
  EXPECT_FALSE(w.grad().defined());
  EXPECT_THROW(chunked_cross_entropy(h, w, torch::tensor({0, 6, 2, 1}, torch::kLong)), std::exception);
}

}  // namespace
}  // namespace et::kernels
