// Packing and batching: packed conversations restart their positions, get their own segment ids,
// never have a target on their first token or on padding; rows are filled greedily without
// splitting a conversation; the seeded order is a permutation; a BatchStream restored to a saved
// position yields exactly the batches the uninterrupted stream yields.
#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>
#include <set>

#include "edgetune/data/examples.h"

using namespace et;

namespace {

// Example i: ids 100*i+1 .. 100*i+len, every token a target.
TokenizedExample make(int i, int len) {
  TokenizedExample ex;
  for (int t = 0; t < len; ++t) {
    ex.ids.push_back(100 * i + t + 1);
    ex.target.push_back(1);
  }
  ex.target[0] = 0;
  ex.source = "ex" + std::to_string(i);
  return ex;
}

}  // namespace

TEST(Packing, PositionsRestartAndFirstTokensAreNeverTargets) {
  std::vector<TokenizedExample> ex = {make(0, 5), make(1, 4), make(2, 6)};
  ex[1].target[0] = 1;  // even if an example claims its first token, packing drops it
  auto rows = pack_examples(ex, {0, 1, 2}, 10, /*pack=*/true, /*pad_id=*/-7);
  ASSERT_EQ(rows.size(), 2u);
  // Row 0: example 0 (5 tokens) + example 1 (4) + 1 pad; row 1: example 2 (6) + 4 pads.
  EXPECT_EQ(rows[0].ids, (std::vector<int32_t>{1, 2, 3, 4, 5, 101, 102, 103, 104, -7}));
  EXPECT_EQ(rows[0].positions, (std::vector<int32_t>{0, 1, 2, 3, 4, 0, 1, 2, 3, 0}));
  EXPECT_EQ(rows[0].segments, (std::vector<int32_t>{0, 0, 0, 0, 0, 1, 1, 1, 1, -1}));
  EXPECT_EQ(rows[0].target, (std::vector<uint8_t>{0, 1, 1, 1, 1, 0, 1, 1, 1, 0}));
  EXPECT_EQ(rows[0].example, (std::vector<int32_t>{0, 0, 0, 0, 0, 1, 1, 1, 1, -1}));
  EXPECT_EQ(rows[1].ids, (std::vector<int32_t>{201, 202, 203, 204, 205, 206, -7, -7, -7, -7}));
  EXPECT_EQ(rows[1].positions, (std::vector<int32_t>{0, 1, 2, 3, 4, 5, 0, 0, 0, 0}));
  EXPECT_EQ(rows[1].segments, (std::vector<int32_t>{0, 0, 0, 0, 0, 0, -1, -1, -1, -1}));
  EXPECT_EQ(rows[1].target, (std::vector<uint8_t>{0, 1, 1, 1, 1, 1, 0, 0, 0, 0}));
}

TEST(Packing, OrderLongExamplesAndUnpackedRows) {
  std::vector<TokenizedExample> ex = {make(0, 3), make(1, 12), make(2, 2)};
  // Order 2, 0, 1: [2 (2) + 0 (3)] then 1 truncated to 8.
  auto rows = pack_examples(ex, {2, 0, 1}, 8, true, 0);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].ids, (std::vector<int32_t>{201, 202, 1, 2, 3, 0, 0, 0}));
  EXPECT_EQ(rows[0].example, (std::vector<int32_t>{2, 2, 0, 0, 0, -1, -1, -1}));
  EXPECT_EQ(rows[1].ids, (std::vector<int32_t>{101, 102, 103, 104, 105, 106, 107, 108}));
  EXPECT_EQ(rows[1].positions, (std::vector<int32_t>{0, 1, 2, 3, 4, 5, 6, 7}));
  // Unpacked: one example per row, not padded.
  auto flat = pack_examples(ex, {0, 1, 2}, 8, false, 0);
  ASSERT_EQ(flat.size(), 3u);
  EXPECT_EQ(flat[0].ids.size(), 3u);
  EXPECT_EQ(flat[1].ids.size(), 8u);
  EXPECT_EQ(flat[2].segments, (std::vector<int32_t>{0, 0}));
  EXPECT_EQ(flat[2].target, (std::vector<uint8_t>{0, 1}));
}

TEST(Packing, BatchesPadToTheLongestRow) {
  std::vector<TokenizedExample> ex = {make(0, 3), make(1, 5), make(2, 2)};
  auto rows = pack_examples(ex, {0, 1, 2}, 8, false, 0);
  Batch b = make_batch(rows, 1, 2, -1);
  EXPECT_EQ(b.rows, 2);
  EXPECT_EQ(b.len, 5);
  EXPECT_EQ(b.ids, (std::vector<int32_t>{101, 102, 103, 104, 105, 201, 202, -1, -1, -1}));
  EXPECT_EQ(b.segments, (std::vector<int32_t>{0, 0, 0, 0, 0, 0, 0, -1, -1, -1}));
  EXPECT_EQ(b.target, (std::vector<uint8_t>{0, 1, 1, 1, 1, 0, 1, 0, 0, 0}));
  EXPECT_EQ(b.example, (std::vector<int32_t>{1, 1, 1, 1, 1, 2, 2, -1, -1, -1}));
  EXPECT_EQ(b.num_targets, 5);
}

TEST(Packing, ShuffledOrderIsASeededPermutation) {
  for (size_t n : {size_t{1}, size_t{2}, size_t{17}, size_t{400}}) {
    auto a = shuffled_order(n, 3, 0);
    std::vector<size_t> sorted = a;
    std::sort(sorted.begin(), sorted.end());
    std::vector<size_t> iota(n);
    std::iota(iota.begin(), iota.end(), 0);
    EXPECT_EQ(sorted, iota);
    EXPECT_EQ(shuffled_order(n, 3, 0), a);
    if (n >= 17) {
      EXPECT_NE(shuffled_order(n, 3, 1), a);
      EXPECT_NE(shuffled_order(n, 4, 0), a);
    }
  }
}

TEST(Packing, StreamCoversEveryRowOncePerEpoch) {
  std::vector<TokenizedExample> ex;
  for (int i = 0; i < 10; ++i) ex.push_back(make(i, 3 + i % 4));
  BatchStream s(ex, 3, 64, /*pack=*/false, 0, 5);
  ASSERT_EQ(s.rows_per_epoch(), 10u);
  std::multiset<int32_t> firsts;
  for (int k = 0; k < 3; ++k) {  // 3 batches of 3 rows; the 10th row is the dropped partial batch
    Batch b = s.next();
    EXPECT_EQ(b.rows, 3);
    EXPECT_EQ(s.epoch(), 0u);
    for (int r = 0; r < b.rows; ++r) firsts.insert(b.ids[static_cast<size_t>(r * b.len)]);
  }
  EXPECT_EQ(std::set<int32_t>(firsts.begin(), firsts.end()).size(), 9u);
  s.next();
  EXPECT_EQ(s.epoch(), 1u);
  EXPECT_EQ(s.cursor(), 3u);
}

TEST(Packing, RestoredStreamYieldsTheSameBatches) {
  std::vector<TokenizedExample> ex;
  for (int i = 0; i < 23; ++i) ex.push_back(make(i, 2 + (i * 7) % 9));
  for (bool pack : {true, false}) {
    BatchStream a(ex, 2, 16, pack, 0, 11);
    std::vector<Batch> all;
    uint64_t epoch_at = 0;
    size_t cursor_at = 0;
    for (int k = 0; k < 40; ++k) {
      if (k == 13) {
        epoch_at = a.epoch();
        cursor_at = a.cursor();
      }
      all.push_back(a.next());
    }
    EXPECT_GT(a.epoch(), 1u) << "the run crosses epochs";
    BatchStream b(ex, 2, 16, pack, 0, 11);
    b.restore(epoch_at, cursor_at);
    for (int k = 13; k < 40; ++k) {
      Batch x = b.next();
      EXPECT_EQ(x.ids, all[k].ids) << k;
      EXPECT_EQ(x.positions, all[k].positions) << k;
      EXPECT_EQ(x.segments, all[k].segments) << k;
      EXPECT_EQ(x.target, all[k].target) << k;
    }
  }
}
