// Packed sequences: two sequences in one row, with segment ids and positions restarting at 0,
// give the same logits as running each alone; batched rows equal single rows.
#include <gtest/gtest.h>

#include "edgetune/core/error.h"
#include "edgetune/model/forward.h"
#include "model_test_util.h"

using namespace et::model;
using namespace et::test;

class Packed : public ::testing::TestWithParam<std::string> {};

TEST_P(Packed, SegmentsDoNotAttendAcrossEachOther) {
  const std::string fam = GetParam();
  Model m = load_model(golden_dir(fam));
  torch::Tensor ids = read_golden(fam, "input_ids");
  torch::Tensor a = ids[0].slice(0, 0, 12), b = ids[1].slice(0, 0, 9), c = ids[1].slice(0, 9, 13);
  torch::NoGradGuard ng;
  torch::Tensor packed = torch::cat({a, b, c}).unsqueeze(0);
  ForwardInputs in;
  in.positions = torch::cat({torch::arange(12), torch::arange(9), torch::arange(4)}).unsqueeze(0);
  in.segment_ids = torch::cat({torch::full({12}, 0, torch::kInt64), torch::full({9}, 1, torch::kInt64),
                               torch::full({4}, 2, torch::kInt64)})
                       .unsqueeze(0);
  torch::Tensor lp = forward(m, packed, in)[0];
  torch::Tensor la = forward(m, a.unsqueeze(0))[0], lb = forward(m, b.unsqueeze(0))[0],
                lc = forward(m, c.unsqueeze(0))[0];
  EXPECT_LT(max_abs_diff(lp.slice(0, 0, 12), la), 1e-5);
  EXPECT_LT(max_abs_diff(lp.slice(0, 12, 21), lb), 1e-5);
  EXPECT_LT(max_abs_diff(lp.slice(0, 21, 25), lc), 1e-5);
  // Without segment ids the second sequence sees the first and its logits change.
  ForwardInputs no_seg;
  no_seg.positions = in.positions;
  EXPECT_GT(max_abs_diff(forward(m, packed, no_seg)[0].slice(0, 12, 21), lb), 1e-3);
}

TEST_P(Packed, BatchRowsEqualSingleRows) {
  const std::string fam = GetParam();
  Model m = load_model(golden_dir(fam));
  torch::Tensor ids = read_golden(fam, "input_ids");
  torch::NoGradGuard ng;
  torch::Tensor both = forward(m, ids);
  for (int64_t r = 0; r < ids.size(0); ++r)
    EXPECT_LT(max_abs_diff(both[r], forward(m, ids[r].unsqueeze(0))[0]), 1e-5) << r;
}

INSTANTIATE_TEST_SUITE_P(Families, Packed, ::testing::ValuesIn(golden_families()),
                         [](const auto& info) { return info.param; });

TEST(Packed, BadInputsAreErrors) {
  Model m = load_model(golden_dir("llama"));
  torch::Tensor ids = read_golden("llama", "input_ids");
  ForwardInputs in;
  in.segment_ids = torch::zeros({2, 7}, torch::kInt64);
  EXPECT_THROW(forward(m, ids, in), et::Error);
  in = {};
  in.positions = torch::zeros({1, 20}, torch::kInt64);
  EXPECT_THROW(forward(m, ids, in), et::Error);
  EXPECT_THROW(forward(m, torch::full({1, 3}, 128, torch::kInt64)), et::Error);  // vocab is 128
  EXPECT_THROW(forward(m, torch::full({1, 3}, -1, torch::kInt64)), et::Error);
  EXPECT_THROW(forward_layers(m, embed(m, ids), 2, 9), et::Error);
}
