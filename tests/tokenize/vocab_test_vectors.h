// Reads llama.cpp's tokenizer test vectors (models/ggml-vocab-*.gguf.inp / .out) the way
// tests/test-tokenizer-0.cpp does: the .inp holds the strings, each followed by
// "\n__ggml_vocab_test__\n" (so the last string carries no extra newline); the .out holds one line
// of space-separated ids per string, without BOS.
#pragma once
#include <cstdint>
#include <sstream>
#include <string>
#include <vector>

#include "edgetune/core/file_io.h"

namespace et::test {

struct VocabCase {
  std::string text;
  std::vector<int32_t> ids;
};

inline std::vector<VocabCase> read_vocab_cases(const std::string& gguf_path) {
  const std::string raw = read_text_file(gguf_path + ".inp");
  const std::string sep = "\n__ggml_vocab_test__\n";
  std::vector<std::string> texts;
  for (size_t pos = 0; pos < raw.size();) {
    const size_t next = raw.find(sep, pos);
    if (next == std::string::npos) {
      texts.push_back(raw.substr(pos));
      break;
    }
    texts.push_back(raw.substr(pos, next - pos));
    pos = next + sep.size();
  }
  std::istringstream out(read_text_file(gguf_path + ".out"));
  std::vector<VocabCase> cases;
  std::string line;
  for (size_t i = 0; std::getline(out, line); ++i) {
    VocabCase c;
    c.text = i < texts.size() ? texts[i] : std::string();
    std::istringstream ids(line);
    for (int32_t id; ids >> id;) c.ids.push_back(id);
    cases.push_back(std::move(c));
  }
  if (cases.size() != texts.size()) cases.clear();  // malformed pair of files: caller reports
  return cases;
}

inline std::string ids_to_string(const std::vector<int32_t>& ids) {
  std::string s;
  for (size_t i = 0; i < ids.size(); ++i) s += (i ? " " : "") + std::to_string(ids[i]);
  return s;
}

}  // namespace et::test
