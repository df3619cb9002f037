// A CPU batch with padding runs its layers on its tokens only (to_tensors' BatchTokens): the
// compaction by hand on a small batch, and the loss and every adapter gradient equal to the run
// over the padded rows (same model, same batch, tokens dropped), with and without gradient
// checkpointing and the gradient cut, on the fast kernel path.
#include <gtest/gtest.h>
#include <torch/types.h>

#include <random>

#include "edgetune/adapt/adapters.h"
#include "edgetune/adapt/plan.h"
#include "edgetune/core/file_io.h"
#include "edgetune/model/model.h"
#include "edgetune/train/causal_lm_loss.h"
#include "ops/common/kernel_path.h"
#include "random_adapters.h"
#include "test_util.h"

using namespace et;

namespace {

// Row 0: conversations of 5 and 4 tokens, then 3 of padding; row 1: one of 10, then 2 of padding.
// Targets: the last 3 tokens of each conversation.
Batch padded_batch(int64_t vocab) {
  Batch b;
  b.rows = 2;
  b.len = 12;
  const std::vector<std::vector<int>> runs{{5, 4, -3}, {10, -2}};
  std::mt19937 rng(5);
  std::uniform_int_distribution<int32_t> id(0, static_cast<int32_t>(vocab - 1));
  for (const auto& row : runs) {
    int32_t seg = 0;
    for (int n : row) {
      const bool pad = n < 0;
      for (int t = 0; t < std::abs(n); ++t) {
        b.ids.push_back(pad ? 0 : id(rng));
        b.positions.push_back(pad ? 0 : t);
        b.segments.push_back(pad ? -1 : seg);
        b.example.push_back(pad ? -1 : seg);
        b.target.push_back(!pad && t >= n - 3);
        b.num_targets += !pad && t >= n - 3;
      }
      if (!pad) ++seg;
    }
  }
  return b;
}

TEST(BatchTokens, KeepsTheTokensAndMapsTheLossRows) {
  const BatchTensors t = to_tensors(padded_batch(50), torch::kCPU);
  ASSERT_TRUE(t.tokens);
  std::vector<int64_t> keep;
  for (int64_t i = 0; i < 9; ++i) keep.push_back(i);
  for (int64_t i = 12; i < 22; ++i) keep.push_back(i);
  EXPECT_TRUE(torch::equal(t.tokens->keep, torch::tensor(keep)));
  EXPECT_EQ(t.tokens->varlen->cu, (std::vector<int32_t>{0, 5, 9, 19}));
  // targets: flat 2-4 and 6-8 in row 0, 19-21 in row 1; the loss reads t for target t + 1:
  // row 0 at 1-3 and 5-7, row 1 at 18-20, which are token rows 15-17
  EXPECT_TRUE(torch::equal(t.tokens->loss_rows, torch::tensor({1, 2, 3, 5, 6, 7, 15, 16, 17}, torch::kLong)));
  EXPECT_TRUE(torch::equal(t.tokens->positions, torch::tensor({0, 1, 2, 3, 4, 0, 1, 2, 3, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, torch::kLong).unsqueeze(0)));
  // no padding: nothing to drop
  Batch full = padded_batch(50);
  for (auto& s : full.segments) s = std::max(s, 0);
  EXPECT_FALSE(to_tensors(full, torch::kCPU).tokens);
}

TEST(BatchTokens, LossAndGradientsEqualTheRunOverPaddedRows) {
  ops::KernelPathScope fast(ops::KernelPath::fast);
  model::LoadOptions lo;
  lo.quantize_nf4 = true;
  model::Model m = model::load_model(path_join(test::source_dir(), "tests/golden/llama"), lo);
  AdapterOptions ao;
  ao.rank = 2;
  ao.alpha = 4;
  const AdapterSet a = test::attach_random_adapters(m, plan_all(m, ao), 3);
  const BatchTensors with = to_tensors(padded_batch(m.config.vocab_size), torch::kCPU);
  ASSERT_TRUE(with.tokens);
  BatchTensors without = with;
  without.tokens = nullptr;
  for (int cut : {0, 1})
    for (bool ckpt : {false, true}) {
      LossOptions o;
      o.cut_layer = cut;
      o.grad_checkpoint = ckpt;
      std::vector<torch::Tensor> grads[2];
      double loss[2];
      for (int k = 0; k < 2; ++k) {
        for (auto& kv : a.named_parameters()) kv.second.mutable_grad() = torch::Tensor();
        torch::Tensor l = causal_lm_loss_sum(m, k == 0 ? with : without, o);
        l.backward();
        loss[k] = l.item<double>();
        for (auto& kv : a.named_parameters()) grads[k].push_back(kv.second.grad().defined() ? kv.second.grad().clone() : torch::Tensor());
      }
      EXPECT_NEAR(loss[0], loss[1], 1e-5 * std::fabs(loss[1])) << "cut " << cut << " checkpointing " << ckpt;
      for (size_t i = 0; i < grads[0].size(); ++i) {
        ASSERT_EQ(grads[0][i].defined(), grads[1][i].defined()) << i;
        if (!grads[0][i].defined()) continue;
        // norm-wise: the sums over rows run in another order (float32 rounding)
        const double err = (grads[0][i] - grads[1][i]).norm().item<double>() / grads[1][i].norm().item<double>();
        EXPECT_LT(err, 1e-5) << a.named_parameters()[i].first << " cut " << cut << " checkpointing " << ckpt;
        EXPECT_GT(grads[1][i].abs().max().item<double>(), 0) << a.named_parameters()[i].first;
      }
    }
}

}  // namespace
