// Path spelling: normalization folds "." and "x/.." lexically, relative paths resolve against a
// given folder, absolute ones stay as written, "~/" expands to $HOME.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>

#include "edgetune/core/paths.h"

namespace et {
namespace {

TEST(Paths, NormalizeFoldsDotsAndSlashes) {
  EXPECT_EQ(normalize_path("a/./b/../c"), "a/c");
  EXPECT_EQ(normalize_path("/a//b/"), "/a/b");
  EXPECT_EQ(normalize_path("../x/../../y"), "../../y");
  EXPECT_EQ(normalize_path("/../a"), "/a");
  EXPECT_EQ(normalize_path("a/.."), ".");
  EXPECT_EQ(normalize_path(""), ".");
  EXPECT_EQ(normalize_path("/"), "/");
}

TEST(Paths, ResolveAgainstAFolder) {
  EXPECT_EQ(resolve_path("data/train.jsonl", "/work/recipes"), "/work/recipes/data/train.jsonl");
  EXPECT_EQ(resolve_path("../data/train.jsonl", "/work/recipes"), "/work/data/train.jsonl");
  EXPECT_EQ(resolve_path("/abs/x", "/work/recipes"), "/abs/x");
  EXPECT_EQ(resolve_path("", "/work"), "");
  const char* home = std::getenv("HOME");
  if (home && *home) {
    EXPECT_EQ(resolve_path("~/m", "/work"), normalize_path(std::string(home) + "/m"));
  }
}

TEST(Paths, AbsoluteUsesTheCurrentFolder) {
  char buf[4096];
  ASSERT_NE(::getcwd(buf, sizeof buf), nullptr);
  EXPECT_EQ(absolute_path("x/y"), normalize_path(std::string(buf) + "/x/y"));
  EXPECT_EQ(absolute_path("."), normalize_path(buf));
  EXPECT_TRUE(is_absolute_path(absolute_path("z")));
}

}  // namespace
}  // namespace et
