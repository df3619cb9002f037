// adapters.trainable_tokens: `auto` finds exactly the training targets whose embedding row points
// the way another token's does (two rows made parallel here), not the targets with rows of their
// own nor collapsed rows that are never targets; ids and pieces resolve as given, anything else
// is an error naming the entry.
#include <gtest/gtest.h>

#include <algorithm>

#include "edgetune/core/error.h"
#include "edgetune/core/file_io.h"
#include "edgetune/model/model.h"
#include "edgetune/tokenize/tokenizer.h"
#include "edgetune/train/trainable_tokens.h"
#include "test_util.h"

using namespace et;

namespace {

TokenizedExample targets_example(const std::vector<int32_t>& ids) {
  TokenizedExample ex;
  ex.ids = ids;
  ex.target.assign(ids.size(), 1);
  ex.target[0] = 0;  // the first token is never predicted
  return ex;
}

model::Model collapsed_rows_model() {
  model::Model m = model::load_model(path_join(path_join(test::source_dir(), "tests/golden"), "qwen2"));
  torch::NoGradGuard g;
  m.embed_tokens[7].copy_(m.embed_tokens[3] * 2.5);  // 3 and 7 collapsed onto one direction
  m.embed_tokens[30].copy_(m.embed_tokens[29]);      // so are 29 and 30, but they are never targets
  return m;
}

}  // namespace

TEST(TrainableTokens, AutoFindsTheTargetsWhoseRowsCollapsed) {
  const model::Model m = collapsed_rows_model();
  const std::vector<TokenizedExample> data = {targets_example({29, 3, 11, 12}), targets_example({30, 7, 13})};
  EXPECT_EQ(indistinct_target_tokens(m, data), (std::vector<int64_t>{3, 7}));
  // The first call only starts conversations with 29 and 30; as a target, 29 is found.
  EXPECT_EQ(indistinct_target_tokens(m, {targets_example({1, 29, 4})}), (std::vector<int64_t>{29}));
  EXPECT_TRUE(indistinct_target_tokens(m, {targets_example({29, 11, 12})}).empty());
}

// On the real story model: `<` (a piece it never saw) has a collapsed row, `\n` (<0x0A>) and the
// word piece "the" do not.
TEST(TrainableTokens, IdsPiecesAndAutoResolveOnTheStoryModel) {
  ET_REQUIRE_SHARED(dir, "models/stories260K");
  const model::Model m = model::load_model(dir);
  const auto tok = load_tokenizer(dir);
  const auto lt = tok->piece_to_id("<"), nl = tok->piece_to_id("<0x0A>"), the = tok->piece_to_id("\xe2\x96\x81the");
  ASSERT_TRUE(lt && nl && the);
  const std::vector<TokenizedExample> data = {targets_example({1, *lt, *nl, *the})};
  EXPECT_EQ(indistinct_target_tokens(m, data), (std::vector<int64_t>{*lt}));
  std::vector<int64_t> want = {*lt, 20, *the};
  std::sort(want.begin(), want.end());
  EXPECT_EQ(resolve_trainable_tokens({"auto", "20", "\xe2\x96\x81the", std::to_string(*lt)}, m, *tok, data), want);
  for (const std::string bad : {"999999", "no-such-piece-here", "-1"}) {
    try {
      resolve_trainable_tokens({bad}, m, *tok, data);
      FAIL() << "accepted " << bad;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(bad), std::string::npos) << e.what();
    }
  }
}
