// Split behaviors (the examples of Hugging Face's Split pre-tokenizer documentation), the BPE
// merge loop on a hand-worked example, and added-token splitting rules.
#include <gtest/gtest.h>

#include "added_tokens.h"
#include "bpe_merge.h"
#include "edgetune/core/error.h"
#include "regex_split.h"

namespace et::tok {
namespace {

std::vector<std::string> pieces(const std::string& text, SplitBehavior b, bool invert = false) {
  Regex dash("-", "test");
  std::vector<std::string> out;
  for (auto [s, e] : split_spans(text.size(), dash.find_all(text), b, invert)) out.push_back(text.substr(s, e - s));
  return out;
}

// tokenizers' docs for Split: "the-final--countdown" with the pattern "-".
TEST(Split, DocumentedBehaviors) {
  using V = std::vector<std::string>;
  const std::string t = "the-final--countdown";
  EXPECT_EQ(pieces(t, SplitBehavior::removed), (V{"the", "final", "countdown"}));
  EXPECT_EQ(pieces(t, SplitBehavior::isolated), (V{"the", "-", "final", "-", "-", "countdown"}));
  EXPECT_EQ(pieces(t, SplitBehavior::merged_with_previous), (V{"the-", "final-", "-", "countdown"}));
  EXPECT_EQ(pieces(t, SplitBehavior::merged_with_next), (V{"the", "-final", "-", "-countdown"}));
  EXPECT_EQ(pieces(t, SplitBehavior::contiguous), (V{"the", "-", "final", "--", "countdown"}));
  // Inverted: the matches are kept, the rest removed.
  EXPECT_EQ(pieces(t, SplitBehavior::removed, true), (V{"-", "-", "-"}));
}

TEST(Regex, UnicodeClassesAndEmptyMatches) {
  Regex letters("\\p{L}+", "test");
  const std::string s = "ab 12 \xD0\xBD\xD0\xB5";  // "ab 12 не"
  auto m = letters.find_all(s);
  ASSERT_EQ(m.size(), 2u);
  EXPECT_EQ(s.substr(m[1].first, m[1].second - m[1].first), "\xD0\xBD\xD0\xB5");
  // Empty matches advance one character: Python's re.finditer("x*", "abx") also yields
  // "", "", "x", "" (and must not loop).
  Regex maybe("x*", "test");
  EXPECT_EQ(maybe.find_all("abx"), (std::vector<Span>{{0, 0}, {1, 1}, {2, 3}, {3, 3}}));
  EXPECT_THROW(Regex("(", "test"), Error);
  EXPECT_TRUE(Regex("\\w", "test").full_match("\xC3\xA9"));  // é is a word character with UCP
}

// Word "abcd" with merges (rank): (b,c)=0 -> bc, (a,b)=1, (bc,d)=2 -> bcd, (a,bcd)=3 -> abcd.
// (b,c) outranks (a,b), then (bc,d), then (a,bcd): a single symbol.
TEST(BpeMerge, RankOrderAndLeftmostTies) {
  std::vector<BpeSymbol> syms = {{0, 1, 0}, {1, 2, 1}, {2, 3, 2}, {3, 4, 3}};  // a b c d
  auto rank = [](const BpeSymbol& l, const BpeSymbol& r, double* rk, int32_t* id) {
    struct M { int32_t a, b; double r; int32_t out; };
    static const M merges[] = {{1, 2, 0, 10}, {0, 1, 1, 11}, {10, 3, 2, 12}, {0, 12, 3, 13}};
    for (const auto& m : merges)
      if (m.a == l.id && m.b == r.id) { *rk = m.r; *id = m.out; return true; }
    return false;
  };
  auto out = bpe_merge(syms, rank);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].id, 13);
  // Ties: "aaa" with (a,a) -> A merges the leftmost pair first, leaving A a.
  std::vector<BpeSymbol> aaa = {{0, 1, 0}, {1, 2, 0}, {2, 3, 0}};
  auto tie = [](const BpeSymbol& l, const BpeSymbol& r, double* rk, int32_t* id) {
    if (l.id == 0 && r.id == 0) { *rk = 0; *id = 1; return true; }
    return false;
  };
  auto t = bpe_merge(aaa, tie);
  ASSERT_EQ(t.size(), 2u);
  EXPECT_EQ(t[0].id, 1);
  EXPECT_EQ(t[0].end, 2u);
  EXPECT_EQ(t[1].id, 0);
  // Frozen symbols never merge.
  aaa[1].frozen = true;
  EXPECT_EQ(bpe_merge(aaa, tie).size(), 3u);
}

AddedToken tok(const std::string& c, int32_t id, bool special, bool l = false, bool r = false, bool sw = false) {
  AddedToken t;
  t.content = c;
  t.id = id;
  t.special = special;
  t.lstrip = l;
  t.rstrip = r;
  t.single_word = sw;
  return t;
}

std::string show(const std::vector<Segment>& segs) {
  std::string s;
  for (const auto& g : segs) s += g.id >= 0 ? "[" + std::to_string(g.id) + ":" + g.text + "]" : "(" + g.text + ")";
  return s;
}

TEST(AddedTokens, LeftmostLongestAndFlags) {
  std::vector<AddedToken> toks = {tok("<s>", 1, true), tok("<s>x", 2, true), tok("<sep>", 3, false, true, true),
                                  tok("ab", 4, false, false, false, true)};
  std::vector<std::string> pats;
  for (auto& t : toks) pats.push_back(t.content);
  AddedTokenMatcher m(toks, pats);
  // Longest at the leftmost position wins.
  EXPECT_EQ(show(m.split("a<s>xb<s>", true, true)), "(a)[2:<s>x](b)[1:<s>]");
  // Special tokens are text unless parse_special; non-special ones always split.
  EXPECT_EQ(show(m.split("a<s>b <sep>  c", true, false)), "(a<s>b)[3: <sep>  ](c)");
  // lstrip / rstrip swallow the whitespace around, never past the previous token.
  EXPECT_EQ(show(m.split("<sep> <sep>", true, true)), "[3:<sep> ][3:<sep>]");
  // single_word: "ab" only between non-word characters.
  EXPECT_EQ(show(m.split("cab ab, abc", true, true)), "(cab )[4:ab](, abc)");
  // A token may begin inside the whitespace that rstrip gave its predecessor; the scan resumes
  // at the end of the match (checked against tokenizers 0.23).
  std::vector<AddedToken> two = {tok("<sep>", 3, false, true, true), tok(" ab", 5, false)};
  AddedTokenMatcher m2(two, {"<sep>", " ab"});
  EXPECT_EQ(show(m2.split("x <sep>\n ab", true, true)), "(x)[3: <sep>\n ][5: ab]");
  // Text pieces remember whether they start the input.
  auto segs = m.split("x<sep>y", true, true);
  EXPECT_TRUE(segs[0].at_start);
  EXPECT_FALSE(segs[2].at_start);
}

}  // namespace
}  // namespace et::tok
