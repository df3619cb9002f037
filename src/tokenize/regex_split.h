// A compiled PCRE2 regular expression in UTF + UCP mode (\s, \w, \d and \p{..} follow Unicode),
// JIT-compiled when PCRE2 has a JIT, and the split behaviors of Hugging Face's tokenizers
// (Isolated, Removed, MergedWithPrevious, MergedWithNext, Contiguous, optionally inverted).
#pragma once
#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace et::tok {

using Span = std::pair<size_t, size_t>;  // [begin, end) byte offsets

class Regex {
 public:
  // `context` names where the pattern comes from, for the error when it does not compile.
  Regex(const std::string& pattern, const std::string& context);
  ~Regex();
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;
  // Non-overlapping matches from left to right. `text` must be valid UTF-8.
  std::vector<Span> find_all(std::string_view text) const;
  // True when the whole of `text` matches.
  bool full_match(std::string_view text) const;
  const std::string& pattern() const { return pattern_; }

 private:
  std::string pattern_;
  void* code_ = nullptr;  // pcre2_code_8
};

// A pattern that matches `literal` exactly.
std::string regex_escape(std::string_view literal);

enum class SplitBehavior { removed, isolated, merged_with_previous, merged_with_next, contiguous };

// Splits [0, size) at the matches: the pieces that remain, empty ones dropped, in order.
// With `invert`, the matches are the pieces and the text between them the delimiters.
std::vector<Span> split_spans(size_t size, const std::vector<Span>& matches, SplitBehavior behavior,
                              bool invert);

}  // namespace et::tok
