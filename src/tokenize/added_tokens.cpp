// See added_tokens.h. Matching scans left to right and takes the longest pattern at the first
// position where one matches; after a match (kept or rejected by single_word) the scan resumes at
// its end, like the non-overlapping iteration of Hugging Face's Aho-Corasick matcher.
// single_word: the characters just before and after must not be word characters (\w).
// lstrip: the token also takes the whitespace run before it (not reaching into the previous
// token); rstrip: the whitespace run after it (where the next token may still begin).
#include "added_tokens.h"

#include <algorithm>

#include "regex_split.h"
#include "utf8.h"

namespace et::tok {

namespace {

const Regex& word_char() {
  static const Regex r("\\w", "added tokens");
  return r;
}

// Start of the character that ends at `end`.
size_t prev_char_start(std::string_view s, size_t end) {
  size_t b = end - 1;
  while (b > 0 && (static_cast<uint8_t>(s[b]) & 0xC0) == 0x80 && end - b < 4) --b;
  return b;
}

bool char_before_is_word(std::string_view s, size_t pos) {
  if (pos == 0) return false;
  size_t b = prev_char_start(s, pos);
  return word_char().full_match(s.substr(b, pos - b));
}

bool char_after_is_word(std::string_view s, size_t pos) {
  if (pos >= s.size()) return false;
  char32_t cp;
  size_t n = utf8_decode(s, pos, &cp);
  if (n == 0) return false;
  return word_char().full_match(s.substr(pos, n));
}

bool whitespace_char_at(std::string_view s, size_t pos, size_t* len) {
  char32_t cp;
  size_t n = utf8_decode(s, pos, &cp);
  if (n == 0 || !is_unicode_whitespace(cp)) return false;
  *len = n;
  return true;
}

}  // namespace

AddedTokenMatcher::AddedTokenMatcher(const std::vector<AddedToken>& tokens,
                                     const std::vector<std::string>& patterns) {
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (patterns[i].empty()) continue;
    by_first_byte_[static_cast<uint8_t>(patterns[i][0])].push_back({patterns[i], tokens[i]});
    ++count_;
  }
  for (auto& list : by_first_byte_)
    std::stable_sort(list.begin(), list.end(), [](const Entry& a, const Entry& b) {
      return a.pattern.size() > b.pattern.size();
    });
}

std::vector<Segment> AddedTokenMatcher::split(std::string_view text, bool at_start,
                                              bool parse_special) const {
  std::vector<Segment> out;
  size_t done = 0;  // end of the last emitted piece
  size_t pos = 0;
  auto emit_text = [&](size_t b, size_t e) {
    if (e > b) out.push_back({std::string(text.substr(b, e - b)), -1, at_start && b == 0});
  };
  while (pos < text.size()) {
    const Entry* hit = nullptr;
    for (const Entry& en : by_first_byte_[static_cast<uint8_t>(text[pos])]) {
      if (text.compare(pos, en.pattern.size(), en.pattern) == 0) {
        hit = &en;
        break;
      }
    }
    if (!hit) {
      ++pos;
      continue;
    }
    size_t start = pos, stop = pos + hit->pattern.size();
    pos = stop;
    const AddedToken& t = hit->token;
    if (t.special && !parse_special) continue;  // stays text; nothing else matches inside it
    if (t.single_word && (char_before_is_word(text, start) || char_after_is_word(text, stop)))
      continue;
    if (t.lstrip) {
      while (start > done) {
        size_t b = prev_char_start(text, start), n;
        if (!whitespace_char_at(text, b, &n) || b + n != start) break;
        start = b;
      }
    }
    if (t.rstrip) {
      size_t n;
      while (stop < text.size() && whitespace_char_at(text, stop, &n)) stop += n;
    }
    // The scan goes on from the end of the match, not of the stripped whitespace, so a token may
    // start inside the whitespace its predecessor took (Hugging Face does the same).
    emit_text(done, start);
    out.push_back({std::string(text.substr(start, stop - start)), t.id, false});
    done = stop;
  }
  emit_text(done, text.size());
  return out;
}

}  // namespace et::tok
