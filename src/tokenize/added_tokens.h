// Splitting text around added tokens before the model sees it, as Hugging Face's
// AddedVocabulary does: leftmost-longest matches, a single_word token only between non-word
// characters, lstrip / rstrip swallowing the neighbouring whitespace.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tokenizer_spec.h"

namespace et::tok {

struct Segment {
  std::string text;      // text to encode (when id < 0)
  int32_t id = -1;       // an added token
  bool at_start = false; // text that begins at offset 0 of the original input
};

class AddedTokenMatcher {
 public:
  AddedTokenMatcher() = default;
  // `patterns[i]` is the text to look for for tokens[i] (its content, or its normalized form).
  AddedTokenMatcher(const std::vector<AddedToken>& tokens, const std::vector<std::string>& patterns);
  bool empty() const { return count_ == 0; }
  // Splits `text` at the tokens that apply (special ones only with parse_special). Text pieces
  // inherit at_start when they begin at offset 0 and `at_start` is set.
  std::vector<Segment> split(std::string_view text, bool at_start, bool parse_special) const;

 private:
  struct Entry {
    std::string pattern;
    AddedToken token;
  };
  std::vector<std::vector<Entry>> by_first_byte_ = std::vector<std::vector<Entry>>(256);
  size_t count_ = 0;
};

}  // namespace et::tok
