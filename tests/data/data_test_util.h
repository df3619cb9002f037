// Helpers for the data tests: a byte-level tokenizer written to a temp dir in which every byte is
// one token and every chat template's special tokens are added tokens (so a token's text shows
// exactly which characters of the rendered conversation it covers), and a view of a tokenized
// example as text with its target spans marked.
#pragma once
#include <nlohmann/json.hpp>

#include <memory>
#include <string>
#include <vector>

#include "edgetune/core/file_io.h"
#include "edgetune/data/examples.h"
#include "edgetune/tokenize/tokenizer.h"
#include "test_util.h"

namespace et::test {

// GPT-2's byte -> character map (bytes_to_unicode), as UTF-8.
inline std::string byte_level_char(int b) {
  int cp = b;
  if (!((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255))) {
    int n = 0;
    for (int x = 0; x < b; ++x)
      if (!((x >= 33 && x <= 126) || (x >= 161 && x <= 172) || (x >= 174 && x <= 255))) ++n;
    cp = 256 + n;
  }
  std::string s;
  if (cp < 0x80) {
    s += static_cast<char>(cp);
  } else {
    s += static_cast<char>(0xC0 | (cp >> 6));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  }
  return s;
}

// Special tokens of every template, ids 256.. in this order.
inline const std::vector<std::string>& chat_special_tokens() {
  static const std::vector<std::string> t = {"<s>",           "</s>",          "<|im_start|>", "<|im_end|>",
                                             "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>",
                                             "<start_of_turn>", "<end_of_turn>"};
  return t;
}

// Writes <dir>/tokenizer.json (byte-level BPE without merges: id b is byte b) and returns the dir.
inline std::string write_byte_tokenizer(const std::string& tag) {
  nlohmann::ordered_json vocab = nlohmann::ordered_json::object();
  for (int b = 0; b < 256; ++b) vocab[byte_level_char(b)] = b;
  nlohmann::ordered_json added = nlohmann::ordered_json::array();
  const auto& sp = chat_special_tokens();
  for (size_t i = 0; i < sp.size(); ++i)
    added.push_back({{"id", 256 + static_cast<int>(i)}, {"content", sp[i]}, {"single_word", false},
                     {"lstrip", false}, {"rstrip", false}, {"normalized", false}, {"special", true}});
  nlohmann::ordered_json j;
  j["version"] = "1.0";
  j["added_tokens"] = added;
  j["normalizer"] = nullptr;
  j["pre_tokenizer"] = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", true}};
  j["post_processor"] = nullptr;
  j["decoder"] = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", true}};
  j["model"] = {{"type", "BPE"}, {"dropout", nullptr}, {"unk_token", nullptr}, {"byte_fallback", false},
                {"vocab", vocab}, {"merges", nlohmann::ordered_json::array()}};
  const std::string dir = temp_dir(tag);
  write_file_atomic(path_join(dir, "tokenizer.json"), j.dump());
  return dir;
}

// The example's text with every run of target tokens wrapped in « and » (tokens shown with
// decode(skip_special = false), so special tokens appear as their text).
inline std::string marked_text(const TokenizedExample& ex, const Tokenizer& tok) {
  std::string out;
  bool in = false;
  for (size_t i = 0; i < ex.ids.size(); ++i) {
    if (ex.target[i] && !in) out += "\xC2\xAB";
    if (!ex.target[i] && in) out += "\xC2\xBB";
    in = ex.target[i] != 0;
    out += tok.decode({ex.ids[i]}, false);
  }
  if (in) out += "\xC2\xBB";
  return out;
}

}  // namespace et::test
