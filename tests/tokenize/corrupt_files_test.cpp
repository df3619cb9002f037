// Broken tokenizer files fail with an et::Error that names the file (and what is wrong); none
// crashes the process.
#include <gtest/gtest.h>

#include <fstream>
#include <random>

#include "edgetune/core/error.h"
#include "edgetune/core/file_io.h"
#include "edgetune/core/gguf.h"
#include "edgetune/tokenize/tokenizer.h"
#include "test_util.h"

namespace et {
namespace {

void expect_load_error(const std::string& path, const std::string& needle) {
  try {
    auto tok = load_tokenizer(path);
    FAIL() << "loading " << path << " should fail with '" << needle << "'";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(path), std::string::npos) << "names the file: " << msg;
    EXPECT_NE(msg.find(needle), std::string::npos) << msg;
  }
}

std::string write_file(const std::string& dir, const std::string& name, const std::string& bytes) {
  std::string p = path_join(dir, name);
  std::ofstream(p, std::ios::binary) << bytes;
  return p;
}

TEST(CorruptTokenizer, TruncatedSentencePieceModel) {
  ET_REQUIRE_SHARED(model, "tokenizers/llama2/tokenizer.model");
  const std::string full = read_text_file(model);
  const std::string dir = test::temp_dir("corrupt");
  std::mt19937 rng(5);
  std::vector<size_t> cuts = {0, 1, 2, 10, 100, full.size() / 2, full.size() - 1};
  for (int i = 0; i < 40; ++i) cuts.push_back(rng() % full.size());
  for (size_t n : cuts) {
    const std::string p = write_file(dir, "cut.model", full.substr(0, n));
    EXPECT_THROW(load_tokenizer(p), Error) << "prefix of " << n << " bytes";
  }
  expect_load_error(write_file(dir, "half.model", full.substr(0, full.size() / 2)), "sentencepiece");
}

TEST(CorruptTokenizer, GarbageProtobuf) {
  const std::string dir = test::temp_dir("corrupt");
  expect_load_error(write_file(dir, "text.model", "this is not a protobuf at all\n"), "sentencepiece");
  expect_load_error(write_file(dir, "empty.model", ""), "no pieces");
  std::mt19937 rng(11);
  for (int i = 0; i < 200; ++i) {
    std::string junk(1 + rng() % 400, '\0');
    for (auto& c : junk) c = static_cast<char>(rng());
    const std::string p = write_file(dir, "junk.model", junk);
    try {
      load_tokenizer(p);
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(p), std::string::npos) << e.what();
    }
  }
  // ModelProto { pieces { piece: "a" type: 9 } }: there is no piece type 9.
  const std::string bad_type("\x0a\x05\x0a\x01" "a" "\x18\x09", 7);
  expect_load_error(write_file(dir, "type.model", bad_type), "piece 0 ('a') has unknown type 9");
}

TEST(CorruptTokenizer, BadTokenizerJson) {
  const std::string dir = test::temp_dir("corrupt");
  expect_load_error(write_file(dir, "a.json", "{ not json"), "not valid JSON");
  expect_load_error(write_file(dir, "b.json", R"({"version": "1.0"})"), "no 'model' object");
  expect_load_error(write_file(dir, "c.json", R"({"model": {"type": "WordPiece", "vocab": {"a": 0}}})"),
                    "model type 'WordPiece' is not supported");
  expect_load_error(write_file(dir, "d.json", R"({"model": {"type": "BPE", "vocab": {"a": 0, "b": 1}, "merges": ["a c"]}})"),
                    "merge 0");
  expect_load_error(write_file(dir, "e.json", R"({"model": {"type": "BPE", "vocab": {"a": -4}}})"),
                    "vocab entry 'a'");
  expect_load_error(write_file(dir, "f.json", R"({"model": {"type": "BPE", "vocab": {"a": 0}},
                                                 "pre_tokenizer": {"type": "BertPreTokenizer"}})"),
                    "pre-tokenizer type 'BertPreTokenizer' is not supported");
  expect_load_error(write_file(dir, "g.json", R"({"model": {"type": "BPE", "vocab": {"a": 0}},
                                                 "normalizer": {"type": "Replace", "pattern": {"Regex": "("}, "content": ""}})"),
                    "does not compile");
  expect_load_error(write_file(dir, "h.json", R"({"model": {"type": "BPE", "vocab": {"a": 0}, "unk_token": "<unk>"}})"),
                    "unk_token '<unk>' is not in the vocabulary");
}

TEST(CorruptTokenizer, GgufWithBrokenTokenizerKeys) {
  const std::string dir = test::temp_dir("corrupt");
  using V = GgufValue;
  auto gguf = [&](const std::string& name, std::vector<std::pair<std::string, GgufValue>> md) {
    std::string p = path_join(dir, name);
    write_gguf(p, md, {});
    return p;
  };
  const V tokens = V::of_strings({"<unk>", "<s>", "</s>", "a", "b", "ab"});
  expect_load_error(gguf("nomodel.gguf", {{"tokenizer.ggml.tokens", tokens}}), "missing key 'tokenizer.ggml.model'");
  expect_load_error(gguf("tokens.gguf", {{"tokenizer.ggml.model", V::of_string("llama")},
                                         {"tokenizer.ggml.tokens", V::of_i32s({1, 2})}}),
                    "key 'tokenizer.ggml.tokens' has type array of i32, expected array of string");
  expect_load_error(gguf("types.gguf", {{"tokenizer.ggml.model", V::of_string("llama")},
                                        {"tokenizer.ggml.tokens", tokens},
                                        {"tokenizer.ggml.token_type", V::of_i32s({1, 1})}}),
                    "'tokenizer.ggml.token_type' has 2 entries for 6 tokens");
  expect_load_error(gguf("scores.gguf", {{"tokenizer.ggml.model", V::of_string("llama")},
                                         {"tokenizer.ggml.tokens", tokens},
                                         {"tokenizer.ggml.scores", V::of_strings({"x"})}}),
                    "key 'tokenizer.ggml.scores'");
  expect_load_error(gguf("bert.gguf", {{"tokenizer.ggml.model", V::of_string("bert")},
                                       {"tokenizer.ggml.tokens", tokens}}),
                    "'tokenizer.ggml.model' is 'bert'");
  expect_load_error(gguf("nomerges.gguf", {{"tokenizer.ggml.model", V::of_string("gpt2")},
                                           {"tokenizer.ggml.pre", V::of_string("gpt-2")},
                                           {"tokenizer.ggml.tokens", tokens}}),
                    "missing key 'tokenizer.ggml.merges'");
  expect_load_error(gguf("pre.gguf", {{"tokenizer.ggml.model", V::of_string("gpt2")},
                                      {"tokenizer.ggml.pre", V::of_string("no-such-pre")},
                                      {"tokenizer.ggml.tokens", tokens},
                                      {"tokenizer.ggml.merges", V::of_strings({"a b"})}}),
                    "'tokenizer.ggml.pre' is 'no-such-pre'");
  expect_load_error(gguf("bos.gguf", {{"tokenizer.ggml.model", V::of_string("llama")},
                                      {"tokenizer.ggml.tokens", tokens},
                                      {"tokenizer.ggml.bos_token_id", V::of_u32(99)}}),
                    "'tokenizer.ggml.bos_token_id' is 99");
  // A truncated GGUF fails in the reader, naming the file.
  ET_REQUIRE_SHARED(real, "tokenizers/gguf-vocab/ggml-vocab-llama-spm.gguf");
  const std::string full = read_text_file(real);
  expect_load_error(write_file(dir, "cut.gguf", full.substr(0, full.size() / 3)), "truncated");
}

TEST(CorruptTokenizer, MissingFilesAndEmptyFolders) {
  const std::string dir = test::temp_dir("corrupt");
  expect_load_error(path_join(dir, "nope.model"), "no such file");
  expect_load_error(dir, "no tokenizer.json or tokenizer.model");
}

}  // namespace
}  // namespace et
