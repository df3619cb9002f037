// Hugging Face pre-tokenizers as steps over a list of words:
//   Split       regex matches cut each word according to the split behavior;
//   Metaspace   ' ' -> replacement, the replacement prepended (always / only at the start of the
//               input / never) unless already there, then a split before each replacement;
//   ByteLevel   optional ' ' prefix, optional split with GPT-2's pattern, bytes -> characters;
//   Digits      numbers kept together (or one digit per word).
#include "pretokenize.h"

#include <memory>

#include "byte_level.h"

namespace et::tok {

const char* gpt2_pattern() {
  return "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";
}

namespace {

const Regex& gpt2_regex() {
  static const Regex r(gpt2_pattern(), "GPT-2 pre-tokenizer");
  return r;
}

const Regex& digits_regex() {
  static const Regex r("\\p{N}", "Digits pre-tokenizer");
  return r;
}

void split_word(const Word& w, const Regex& re, SplitBehavior behavior, bool invert,
                std::vector<Word>& out) {
  for (const auto& [b, e] : split_spans(w.text.size(), re.find_all(w.text), behavior, invert))
    out.push_back({w.text.substr(b, e - b), w.at_start && b == 0});
}

std::string replace_spaces(const std::string& s, const std::string& rep) {
  std::string out;
  for (char c : s) {
    if (c == ' ') out += rep;
    else out += c;
  }
  return out;
}

void metaspace(const Word& w, const PreTokenizerStep& st, std::vector<Word>& out) {
  Word x{replace_spaces(w.text, st.replacement), w.at_start};
  const bool starts = x.text.compare(0, st.replacement.size(), st.replacement) == 0;
  const bool prepend = st.prepend == PreTokenizerStep::Prepend::always ||
                       (st.prepend == PreTokenizerStep::Prepend::first && w.at_start);
  if (prepend && !starts) x.text = st.replacement + x.text;
  if (!st.split) {
    out.push_back(std::move(x));
    return;
  }
  // MergedWithNext on the replacement: each word starts at a replacement.
  size_t begin = 0;
  for (size_t at = x.text.find(st.replacement, st.replacement.size() > 0 ? 1 : 0);
       at != std::string::npos; at = x.text.find(st.replacement, at + st.replacement.size())) {
    if (at > begin) {
      out.push_back({x.text.substr(begin, at - begin), x.at_start && begin == 0});
      begin = at;
    }
  }
  if (begin < x.text.size()) out.push_back({x.text.substr(begin), x.at_start && begin == 0});
}

}  // namespace

std::vector<Word> pre_tokenize(std::string text, bool at_start,
                               const std::vector<PreTokenizerStep>& steps) {
  std::vector<Word> words;
  if (!text.empty()) words.push_back({std::move(text), at_start});
  for (const auto& st : steps) {
    std::vector<Word> next;
    for (const Word& w : words) {
      switch (st.kind) {
        case PreTokenizerStep::Kind::split:
          split_word(w, *st.regex, st.behavior, st.invert, next);
          break;
        case PreTokenizerStep::Kind::metaspace:
          metaspace(w, st, next);
          break;
        case PreTokenizerStep::Kind::digits:
          split_word(w, digits_regex(),
                     st.individual_digits ? SplitBehavior::isolated : SplitBehavior::contiguous,
                     false, next);
          break;
        case PreTokenizerStep::Kind::byte_level: {
          Word x = w;
          if (st.add_prefix_space && (x.text.empty() || x.text[0] != ' ')) x.text = " " + x.text;
          std::vector<Word> parts;
          if (st.use_regex) split_word(x, gpt2_regex(), SplitBehavior::isolated, false, parts);
          else parts.push_back(std::move(x));
          for (auto& p : parts) next.push_back({bytes_to_byte_level(p.text), p.at_start});
          break;
        }
      }
    }
    words = std::move(next);
  }
  return words;
}

}  // namespace et::tok
