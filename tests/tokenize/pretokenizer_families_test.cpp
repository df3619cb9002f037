// The Llama 3 and Qwen2 pre-tokenizers, on GPT-2's byte-level vocabulary: copies of
// ggml-vocab-gpt-2.gguf with another tokenizer.ggml.pre, and the same vocabulary written as a
// tokenizer.json with that family's Split regex, must agree with each other on every upstream
// string, and split digits as the regexes say (Qwen2: one digit per word; Llama 3: runs of at
// most three), with the ids of those digit groups taken from GPT-2's own expected output.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "edgetune/core/file_io.h"
#include "edgetune/core/gguf.h"
#include "edgetune/tokenize/tokenizer.h"
#include "test_util.h"
#include "vocab_test_vectors.h"

namespace et {
namespace {

using Ids = std::vector<int32_t>;
using nlohmann::json;

const char* kQwen2Regex =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
    "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const char* kLlama3Regex =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
    "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

// The GPT-2 GGUF with tokenizer.ggml.pre replaced.
std::string gguf_with_pre(const GgufFile& src, const std::string& pre, const std::string& dir) {
  std::vector<std::pair<std::string, GgufValue>> md;
  for (const auto& kv : src.metadata())
    md.push_back(kv.first == "tokenizer.ggml.pre" ? std::make_pair(kv.first, GgufValue::of_string(pre)) : kv);
  std::string p = path_join(dir, pre + ".gguf");
  write_gguf(p, md, {});
  return p;
}

// The same vocabulary as a Hugging Face tokenizer.json with Split(regex) + ByteLevel.
std::string json_with_regex(const GgufFile& src, const std::string& regex, bool ignore_merges,
                            const std::string& dir, const std::string& name) {
  json vocab = json::object();
  auto tokens = src.get_string_array("tokenizer.ggml.tokens");
  for (size_t i = 0; i < tokens.size(); ++i) vocab[tokens[i]] = i;
  json j = {
      {"normalizer", nullptr},
      {"pre_tokenizer", {{"type", "Sequence"}, {"pretokenizers", json::array({
           {{"type", "Split"}, {"pattern", {{"Regex", regex}}}, {"behavior", "Isolated"}, {"invert", false}},
           {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", false}, {"use_regex", false}}})}}},
      {"decoder", {{"type", "ByteLevel"}}},
      {"model", {{"type", "BPE"}, {"vocab", vocab}, {"ignore_merges", ignore_merges},
                 {"merges", src.get_string_array("tokenizer.ggml.merges")}}},
  };
  std::string p = path_join(dir, name);
  std::ofstream(p) << j.dump();
  return p;
}

TEST(PreTokenizerFamilies, Qwen2AndLlama3OnGpt2Vocabulary) {
  ET_REQUIRE_SHARED(gpt2, "tokenizers/gguf-vocab/ggml-vocab-gpt-2.gguf");
  auto cases = test::read_vocab_cases(gpt2);
  ASSERT_EQ(cases.size(), 46u);
  auto expected_for = [&](const std::string& text) {
    for (const auto& c : cases)
      if (c.text == text) return c.ids;
    ADD_FAILURE() << "no upstream case '" << text << "'";
    return Ids{};
  };
  const Ids three = expected_for("3"), thirty_three = expected_for("33"), three33 = expected_for("333");
  ASSERT_EQ(three.size(), 1u);

  GgufFile src(gpt2);
  const std::string dir = test::temp_dir("pretok");
  auto qwen_gguf = load_tokenizer(gguf_with_pre(src, "qwen2", dir));
  auto qwen_json = load_tokenizer(json_with_regex(src, kQwen2Regex, false, dir, "qwen2.json"));
  auto llama_gguf = load_tokenizer(gguf_with_pre(src, "llama-bpe", dir));
  auto llama_json = load_tokenizer(json_with_regex(src, kLlama3Regex, true, dir, "llama3.json"));
  EXPECT_EQ(qwen_json->kind(), "hf-byte-level-bpe");

  for (const auto& c : cases) {
    EXPECT_EQ(qwen_gguf->encode(c.text), qwen_json->encode(c.text)) << "'" << c.text << "'";
    EXPECT_EQ(llama_gguf->encode(c.text), llama_json->encode(c.text)) << "'" << c.text << "'";
    EXPECT_EQ(qwen_json->decode(qwen_json->encode(c.text)), c.text);
    EXPECT_EQ(llama_json->decode(llama_json->encode(c.text)), c.text);
  }
  // Qwen2: \p{N} alone, so every digit is its own word.
  EXPECT_EQ(qwen_json->encode("3333"), (Ids{three[0], three[0], three[0], three[0]}));
  // Llama 3: \p{N}{1,3}, so "3333333" is "333" "333" "3".
  Ids want = three33;
  want.insert(want.end(), three33.begin(), three33.end());
  want.push_back(three[0]);
  EXPECT_EQ(llama_json->encode("3333333"), want);
  Ids want5 = three33;
  want5.insert(want5.end(), thirty_three.begin(), thirty_three.end());
  EXPECT_EQ(llama_json->encode("33333"), want5);
  // The case-insensitive contractions of tokenizer.json, (?i:'s|...), and llama.cpp's spelled-out
  // '[sS]|... agree.
  EXPECT_EQ(qwen_json->encode("IT'S I'M WE'LL"), qwen_gguf->encode("IT'S I'M WE'LL"));
  EXPECT_EQ(llama_json->encode("IT'S I'M WE'LL"), llama_gguf->encode("IT'S I'M WE'LL"));
}

// Long inputs stay fast and exact: a 200 KB run of spaces (deep regex backtracking) and 1 MB of
// mixed text encode and decode back.
TEST(PreTokenizerFamilies, LongInputs) {
  ET_REQUIRE_SHARED(gpt2, "tokenizers/gguf-vocab/ggml-vocab-gpt-2.gguf");
  ET_REQUIRE_SHARED(spm, "tokenizers/llama2/tokenizer.model");
  std::string spaces(200000, ' ');
  std::string mixed;
  while (mixed.size() < (1u << 20)) mixed += "The quick brown fox, 1234 \xE4\xB8\xAD\xE6\x96\x87!\n\t  ";
  for (const std::string& p : {gpt2, spm}) {
    auto tok = load_tokenizer(p);
    EXPECT_EQ(tok->decode(tok->encode(spaces)), spaces) << p;
    EXPECT_EQ(tok->decode(tok->encode(mixed)), mixed) << p;
  }
}

}  // namespace
}  // namespace et
