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

// A layer run only at some query positions (what the loss reads of the last layer) equals the whole
// layer at those positions: packed rows, restarting positions, each layer of the model (Gemma 3's
// sliding ones included), repeated and out-of-order queries, one and several rows.
TEST_P(Packed, LayerAtQueryPositionsEqualsTheWholeLayerThere) {
  const std::string fam = GetParam();
  Model m = load_model(golden_dir(fam));
  torch::Tensor ids = read_golden(fam, "input_ids");
  const int64_t B = ids.size(0), T = ids.size(1);
  ASSERT_GE(T, 13);
  torch::NoGradGuard ng;
  ForwardInputs in;
  in.positions = torch::cat({torch::arange(9), torch::arange(T - 9)}).unsqueeze(0).expand({B, T}).contiguous();
  in.segment_ids = torch::cat({torch::zeros({9}, torch::kInt64), torch::ones({T - 9}, torch::kInt64)})
                       .unsqueeze(0).expand({B, T}).contiguous();
  torch::Tensor queries = torch::tensor({0L, 3L, 8L, 9L, 12L, T - 1, 3L}, torch::kInt64).unsqueeze(0).repeat({B, 1});
  queries[B - 1][1] = T - 2;
  torch::Tensor x = embed(m, ids);
  for (int l = 0; l < static_cast<int>(m.config.num_layers); ++l) {
    torch::Tensor whole = forward_layers(m, x, l, l + 1, in);
    torch::Tensor at = forward_layer_at(m, x, l, queries, in);
    ASSERT_EQ(at.sizes(), (std::vector<int64_t>{B, queries.size(1), m.config.hidden_size}));
    EXPECT_LT(max_abs_diff(at, gather_positions(whole, queries)), 1e-5) << "layer " << l;
    ForwardInputs one = in;
    one.positions = in.positions.slice(0, 0, 1);
    one.segment_ids = in.segment_ids.slice(0, 0, 1);
    EXPECT_LT(max_abs_diff(forward_layer_at(m, x.slice(0, 0, 1), l, queries.slice(0, 0, 1), one),
                           gather_positions(whole, queries).slice(0, 0, 1)),
              1e-5)
        << "layer " << l << ", one row";
    x = whole;
  }
  EXPECT_THROW(forward_layer_at(m, x, 0, queries.to(torch::kInt32), in), et::Error);
  EXPECT_THROW(forward_layer_at(m, x, 0, queries.slice(0, 0, 1), in), et::Error);
  EXPECT_THROW(forward_layer_at(m, x, static_cast<int>(m.config.num_layers), queries, in), et::Error);
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
