// PCRE2 wrapper. Empty matches advance by one character (retrying first with
// PCRE2_NOTEMPTY_ATSTART | PCRE2_ANCHORED, as pcre2demo.c does), so find_all always ends. A match
// that exhausts the JIT stack is redone by the interpreter.
#define PCRE2_CODE_UNIT_WIDTH 8
#include "regex_split.h"

#include <pcre2.h>

#include <algorithm>
#include <memory>

#include "edgetune/core/error.h"
#include "utf8.h"

namespace et::tok {

namespace {

pcre2_code* code_of(void* p) { return static_cast<pcre2_code*>(p); }

struct MatchData {
  pcre2_match_data* md;
  explicit MatchData(pcre2_code* code) : md(pcre2_match_data_create_from_pattern(code, nullptr)) {
    if (!md) throw std::bad_alloc();
  }
  ~MatchData() { pcre2_match_data_free(md); }
};

size_t char_len_at(std::string_view s, size_t pos) {
  char32_t cp;
  size_t n = utf8_decode(s, pos, &cp);
  return n ? n : 1;
}

}  // namespace

Regex::Regex(const std::string& pattern, const std::string& context) : pattern_(pattern) {
  int err = 0;
  PCRE2_SIZE err_off = 0;
  pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                                   PCRE2_UTF | PCRE2_UCP, &err, &err_off, nullptr);
  if (!code) {
    PCRE2_UCHAR buf[256];
    pcre2_get_error_message(err, buf, sizeof buf);
    fail("regex", context, ": pattern '", pattern, "' does not compile at offset ", err_off, ": ",
         reinterpret_cast<const char*>(buf));
  }
  pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);  // optional speed-up; the interpreter is the fallback
  code_ = code;
}

Regex::~Regex() { pcre2_code_free(code_of(code_)); }

std::vector<Span> Regex::find_all(std::string_view text) const {
  std::vector<Span> out;
  MatchData m(code_of(code_));
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  size_t pos = 0;
  uint32_t extra = 0;
  while (pos <= text.size()) {
    int rc = pcre2_match(code_of(code_), subject, text.size(), pos, extra | PCRE2_NO_UTF_CHECK, m.md,
                         nullptr);
    if (rc == PCRE2_ERROR_JIT_STACKLIMIT)  // very long input: the interpreter has no such limit
      rc = pcre2_match(code_of(code_), subject, text.size(), pos,
                       extra | PCRE2_NO_UTF_CHECK | PCRE2_NO_JIT, m.md, nullptr);
    if (rc == PCRE2_ERROR_NOMATCH) {
      if (extra == 0) break;
      // No non-empty match here: step over one character and search normally.
      pos += char_len_at(text, pos);
      extra = 0;
      continue;
    }
    if (rc < 0) {
      PCRE2_UCHAR buf[256];
      pcre2_get_error_message(rc, buf, sizeof buf);
      fail("regex", "matching '", pattern_, "' failed: ", reinterpret_cast<const char*>(buf));
    }
    const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(m.md);
    const size_t b = ov[0], e = ov[1];
    out.emplace_back(b, e);
    pos = e;
    extra = b == e ? (PCRE2_NOTEMPTY_ATSTART | PCRE2_ANCHORED) : 0;
    if (b == e && e == text.size()) break;
  }
  return out;
}

bool Regex::full_match(std::string_view text) const {
  MatchData m(code_of(code_));
  int rc = pcre2_match(code_of(code_), reinterpret_cast<PCRE2_SPTR>(text.data()), text.size(), 0,
                       PCRE2_ANCHORED | PCRE2_ENDANCHORED | PCRE2_NO_UTF_CHECK, m.md, nullptr);
  return rc >= 0;
}

std::string regex_escape(std::string_view literal) {
  std::string out;
  for (char c : literal) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x80 && !((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))) {
      if (u < 0x20 || u == 0x7F) {
        static const char* hex = "0123456789abcdef";
        out += "\\x{";
        out += hex[u >> 4];
        out += hex[u & 15];
        out += "}";
        continue;
      }
      out += '\\';
    }
    out += c;
  }
  return out;
}

std::vector<Span> split_spans(size_t size, const std::vector<Span>& matches, SplitBehavior behavior,
                              bool invert) {
  // Cover [0, size) with (span, is_match) pieces.
  std::vector<std::pair<Span, bool>> pieces;
  size_t prev = 0;
  for (const auto& [b, e] : matches) {
    if (b > prev) pieces.push_back({{prev, b}, invert});
    pieces.push_back({{b, e}, !invert});
    prev = e;
  }
  if (prev < size) pieces.push_back({{prev, size}, invert});

  std::vector<std::pair<Span, bool>> kept;  // (span, remove)
  switch (behavior) {
    case SplitBehavior::isolated:
      for (auto& [s, m] : pieces) kept.push_back({s, false});
      break;
    case SplitBehavior::removed:
      kept = pieces;
      break;
    case SplitBehavior::contiguous: {
      bool previous = false;
      for (auto& [s, m] : pieces) {
        if (m == previous && !kept.empty()) kept.back().first.second = s.second;
        else kept.push_back({s, false});
        previous = m;
      }
      break;
    }
    case SplitBehavior::merged_with_previous: {
      bool previous = false;
      for (auto& [s, m] : pieces) {
        if (m && !previous && !kept.empty()) kept.back().first.second = s.second;
        else kept.push_back({s, false});
        previous = m;
      }
      break;
    }
    case SplitBehavior::merged_with_next: {
      bool previous = false;
      for (auto it = pieces.rbegin(); it != pieces.rend(); ++it) {
        if (it->second && !previous && !kept.empty()) kept.back().first.first = it->first.first;
        else kept.push_back({it->first, false});
        previous = it->second;
      }
      std::reverse(kept.begin(), kept.end());
      break;
    }
  }
  std::vector<Span> out;
  for (auto& [s, remove] : kept)
    if (!remove && s.second > s.first) out.push_back(s);
  return out;
}

}  // namespace et::tok
