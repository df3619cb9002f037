// Call confidence and the coverage table against hand-worked values: which tokens overlap a call's
// span (tokens whose text is held back count where they end), the lowest probability among them,
// and the accuracy of the most confident 50%, 80%, 100% with ties kept in their order.
#include <gtest/gtest.h>

#include <cmath>

#include "edgetune/core/error.h"
#include "edgetune/eval/confidence.h"

namespace et {
namespace {

TEST(Confidence, LowestProbabilityOfTheTokensOverlappingTheSpan) {
  // Text "ab<c>d": tokens "ab" [0,2), "<c" [2,4), a held-back byte at 4 (spans nothing), ">" [4,5),
  // "d" [5,6).
  const std::vector<size_t> ends = {2, 4, 4, 5, 6};
  const std::vector<double> lp = {std::log(0.1), std::log(0.9), std::log(0.5), std::log(0.8), std::log(0.2)};
  // The call "<c>" is [2, 5): tokens 1, 2 (at 4, inside) and 3.
  EXPECT_NEAR(span_confidence(ends, lp, 2, 5), 0.5, 1e-12);
  // [2, 4): token 1 only; the empty token at 4 lies at the end, outside.
  EXPECT_NEAR(span_confidence(ends, lp, 2, 4), 0.9, 1e-12);
  // A span that cuts into a token counts the token.
  EXPECT_NEAR(span_confidence(ends, lp, 1, 3), 0.1, 1e-12);
  // The whole text.
  EXPECT_NEAR(span_confidence(ends, lp, 0, 7), 0.1, 1e-12);
  // No token overlaps an empty span past the text: certain.
  EXPECT_DOUBLE_EQ(span_confidence(ends, lp, 9, 9), 1.0);
  EXPECT_THROW(span_confidence({1}, {}, 0, 1), Error);
}

TEST(Confidence, CoverageKeepsTheMostConfidentFirst) {
  // 10 calls; sorted by confidence: 0.99 T, 0.95 T, 0.9 F, 0.9 T (tie: the earlier index first),
  // 0.8 T, 0.7 F, 0.6 T, 0.5 F, 0.4 F, 0.1 F.
  const std::vector<double> conf = {0.5, 0.9, 0.99, 0.1, 0.9, 0.7, 0.95, 0.4, 0.8, 0.6};
  const std::vector<bool> ok = {false, false, true, false, true, false, true, false, true, true};
  const auto t = coverage_table(conf, ok);
  ASSERT_EQ(t.size(), 3u);
  EXPECT_EQ(t[0].items, 5);  // 0.99 0.95 0.9(F) 0.9(T) 0.8: 4 of 5
  EXPECT_DOUBLE_EQ(t[0].accuracy, 0.8);
  EXPECT_DOUBLE_EQ(t[0].min_confidence, 0.8);
  EXPECT_EQ(t[1].items, 8);  // + 0.7 F, 0.6 T, 0.5 F: 5 of 8
  EXPECT_DOUBLE_EQ(t[1].accuracy, 5.0 / 8);
  EXPECT_DOUBLE_EQ(t[1].min_confidence, 0.5);
  EXPECT_EQ(t[2].items, 10);
  EXPECT_DOUBLE_EQ(t[2].accuracy, 0.5);
  EXPECT_DOUBLE_EQ(t[2].min_confidence, 0.1);
  // Odd counts round up: half of 3 keeps 2.
  const auto odd = coverage_table({0.2, 0.9, 0.5}, {true, false, true}, {0.5});
  ASSERT_EQ(odd.size(), 1u);
  EXPECT_EQ(odd[0].items, 2);
  EXPECT_DOUBLE_EQ(odd[0].accuracy, 0.5);
  // Nothing to rank: empty rows, no division by zero.
  const auto none = coverage_table({}, {});
  ASSERT_EQ(none.size(), 3u);
  EXPECT_EQ(none[2].items, 0);
  EXPECT_DOUBLE_EQ(none[2].accuracy, 0.0);
  EXPECT_THROW(coverage_table({0.5}, {}), Error);
  const auto j = coverage_json(t);
  ASSERT_EQ(j.size(), 3u);
  EXPECT_DOUBLE_EQ(j[0]["coverage"].get<double>(), 0.5);
  EXPECT_EQ(j[1]["items"], 8);
}

}  // namespace
}  // namespace et
