// Normalizers: SentencePiece's (see normalize.h) and Hugging Face's Prepend (prefix non-empty
// text), Replace (every non-overlapping match, left to right), NFC and Strip.
#include "normalize.h"

#include "unicode_nfc.h"
#include "utf8.h"

namespace et::tok {

std::string spm_normalize(std::string_view text, const NormalizerStep& step, const VocabIndex* idx) {
  const std::string space = step.escape_whitespaces ? kSpaceSymbol : " ";
  std::string out;
  size_t pos = 0;
  if (step.remove_extra_whitespaces)
    while (pos < text.size() && text[pos] == ' ') ++pos;
  if (pos == text.size()) return out;
  if (step.add_dummy_prefix && !step.whitespace_as_suffix) out += space;
  bool prev_space = step.remove_extra_whitespaces;
  while (pos < text.size()) {
    std::string_view piece;
    size_t consumed = 0;
    int32_t id;
    if (idx && (consumed = idx->match_user_defined(text, pos, &id)) > 0) {
      piece = text.substr(pos, consumed);
    } else {
      char32_t cp;
      consumed = utf8_decode(text, pos, &cp);
      if (consumed == 0) {
        consumed = 1;
        piece = kReplacementUtf8;
      } else {
        piece = text.substr(pos, consumed);
      }
    }
    pos += consumed;
    while (prev_space && !piece.empty() && piece.front() == ' ') piece.remove_prefix(1);
    if (piece.empty()) continue;
    for (char c : piece) {
      if (c == ' ' && step.escape_whitespaces) out += kSpaceSymbol;
      else out += c;
    }
    prev_space = step.remove_extra_whitespaces && piece.back() == ' ';
  }
  if (step.remove_extra_whitespaces) {
    while (out.size() >= space.size() && out.compare(out.size() - space.size(), space.size(), space) == 0)
      out.resize(out.size() - space.size());
  }
  if (step.add_dummy_prefix && step.whitespace_as_suffix) out += space;
  return out;
}

namespace {

std::string replace_all(std::string_view text, const NormalizerStep& step) {
  std::string out;
  if (step.regex) {
    size_t prev = 0;
    for (const auto& [b, e] : step.regex->find_all(text)) {
      out.append(text.substr(prev, b - prev));
      out += step.content;
      prev = e;
    }
    out.append(text.substr(prev));
    return out;
  }
  if (step.text.empty()) return std::string(text);
  size_t prev = 0;
  for (size_t at = text.find(step.text); at != std::string_view::npos;
       at = text.find(step.text, prev)) {
    out.append(text.substr(prev, at - prev));
    out += step.content;
    prev = at + step.text.size();
  }
  out.append(text.substr(prev));
  return out;
}

std::string strip(std::string_view text, bool left, bool right) {
  size_t b = 0, e = text.size();
  if (left) {
    while (b < e) {
      char32_t cp;
      size_t n = utf8_decode(text, b, &cp);
      if (n == 0 || !is_unicode_whitespace(cp)) break;
      b += n;
    }
  }
  if (right) {
    while (e > b) {
      size_t s = e - 1;
      while (s > b && (static_cast<uint8_t>(text[s]) & 0xC0) == 0x80) --s;
      char32_t cp;
      size_t n = utf8_decode(text, s, &cp);
      if (n == 0 || s + n != e || !is_unicode_whitespace(cp)) break;
      e = s;
    }
  }
  return std::string(text.substr(b, e - b));
}

}  // namespace

std::string normalize(std::string_view text, const std::vector<NormalizerStep>& steps,
                      const VocabIndex* idx) {
  std::string s(text);
  for (const auto& step : steps) {
    switch (step.kind) {
      case NormalizerStep::Kind::sentencepiece: s = spm_normalize(s, step, idx); break;
      case NormalizerStep::Kind::prepend:
        if (!s.empty()) s = step.text + s;
        break;
      case NormalizerStep::Kind::replace: s = replace_all(s, step); break;
      case NormalizerStep::Kind::nfc: s = nfc_normalize(s); break;
      case NormalizerStep::Kind::strip: s = strip(s, step.left, step.right); break;
    }
  }
  return s;
}

}  // namespace et::tok
