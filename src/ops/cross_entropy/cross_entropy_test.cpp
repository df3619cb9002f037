// The chunked cross-entropy through the shared harness: every form (gradient in the forward for a
// frozen head, recompute for a trainable one; the CUDA row kernel on a GPU) against the whole-logits
// reference at odd sizes and chunkings, with and without softcapping; the reference's backward
// against finite differences; bad targets.
#include <gtest/gtest.h>

#include "ops/common/op_harness.h"
#include "ops/cross_entropy/cross_entropy.h"

namespace {

using namespace et::ops::test;
using et::ops::chunked_cross_entropy;

OpCheck ce_check(double cap, int64_t chunk) {
  return {"cross_entropy cap=" + std::to_string(cap) + " chunk=" + std::to_string(chunk),
          [=](const std::vector<torch::Tensor>& x) {
            return std::vector<torch::Tensor>{chunked_cross_entropy(x[0], x[1], x[2], cap, chunk)};
          },
          [=](const std::vector<torch::Tensor>& x) {
            return std::vector<torch::Tensor>{et::ops::cross_entropy_ref(x[0], x[1], x[2], cap)};
          }};
}

OpCase ce_case(int64_t n, int64_t hidden, int64_t vocab, bool train_head) {
  torch::manual_seed(n + vocab);
  return {"rows=" + std::to_string(n) + " hidden=" + std::to_string(hidden) + " vocab=" + std::to_string(vocab) +
              (train_head ? " trainable head" : " frozen head"),
          {torch::randn({n, hidden}), torch::randn({vocab, hidden}) * 0.3, torch::randint(0, vocab, {n}, torch::kLong)},
          {true, train_head, false},
          {}};
}

TEST(CrossEntropy, EveryFormMatchesTheReferenceAtOddSizes) {
  for (const auto& dev : devices())
    for (auto dt : {torch::kFloat32, torch::kBFloat16})
      for (double cap : {0.0, 5.0})
        for (bool train_head : {false, true})
          for (auto [n, vocab] : std::vector<std::pair<int64_t, int64_t>>{{1, 97}, {31, 4096}, {33, 4097}, {4097, 97}})
            for (int64_t chunk : {int64_t{0}, int64_t{7}})
              expect_matches_reference(ce_check(cap, chunk), ce_case(n, 31, vocab, train_head), dt, dev);
}

TEST(CrossEntropy, ReferenceBackwardMatchesFiniteDifferences) {
  for (double cap : {0.0, 3.0}) expect_reference_gradients_match_finite_differences(ce_check(cap, 4), ce_case(9, 5, 13, true));
}

TEST(CrossEntropy, FrozenHeadGetsNoGradientAndBadTargetsAreRefused) {
  auto h = torch::randn({4, 3}).requires_grad_(true);
  auto w = torch::randn({6, 3});
  auto y = torch::tensor({0, 5, 2, 1}, torch::kLong);
  chunked_cross_entropy(h, w, y).backward();
  EXPECT_TRUE(h.grad().defined());
  EXPECT_FALSE(w.grad().defined());
  EXPECT_THROW(chunked_cross_entropy(h, w, torch::tensor({0, 6, 2, 1}, torch::kLong)), std::exception);
}

TEST(CrossEntropy, WithoutGradientsOnlyTheLossIsComputed) {
  auto h = torch::randn({33, 7});
  auto w = torch::randn({50, 7});
  auto y = torch::randint(0, 50, {33}, torch::kLong);
  torch::NoGradGuard g;
  EXPECT_NEAR(chunked_cross_entropy(h, w, y, 0.0, 8).item<double>(), et::ops::cross_entropy_ref(h, w, y).item<double>(),
              1e-4);
}

// The chunk size: whole 128-row tiles on CUDA, never more rows than the batch's tiles, about 512 MB
// of bf16 logits (Llama's vocabulary: 2048 rows), a quarter of that with unified memory.
TEST(CrossEntropy, ChunksAreWholeTilesWithinTheirMemory) {
  using et::ops::cross_entropy_chunk_rows;
  for (int64_t vocab : {int64_t{32000}, int64_t{128256}, int64_t{151936}, int64_t{262144}, int64_t{7}})
    for (int64_t n : {int64_t{1}, int64_t{129}, int64_t{16384}})
      for (bool unified : {false, true}) {
        const int64_t rows = cross_entropy_chunk_rows(vocab, n, true, unified);
        EXPECT_EQ(rows % 128, 0) << vocab << " " << n;
        EXPECT_LE(rows, (n + 127) / 128 * 128) << vocab << " " << n;
        EXPECT_TRUE(rows == 128 || rows * vocab <= (int64_t{unified ? 64 : 256} << 20)) << vocab << " " << n;
      }
  EXPECT_EQ(cross_entropy_chunk_rows(128256, 16384, true), 2048);
  EXPECT_EQ(cross_entropy_chunk_rows(128256, 16384, true, true), 512);
  EXPECT_GE(cross_entropy_chunk_rows(32000, 5, false), 5);  // the CPU: rows of float32 logits, not tiles
}

}  // namespace
