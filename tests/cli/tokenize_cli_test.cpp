// `edgetune tokenize` as a user runs it: every llama.cpp test string through the built binary
// for Llama 2's tokenizer.model and tokenizer.json, the llama-spm GGUF and the GPT-2 GGUF,
// compared line by line with the expected ids; decoding back; and failures on bad files.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "edgetune/core/file_io.h"
#include "test_util.h"
#include "../tokenize/vocab_test_vectors.h"

namespace et {
namespace {

// The --escaped input format: \n \t \r \\ and \xHH for other control bytes.
std::string escape(const std::string& s) {
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else if (c == '\t') out += "\\t";
    else if (c == '\r') out += "\\r";
    else if (u < 0x20 || u == 0x7F) { out += "\\x"; out += hex[u >> 4]; out += hex[u & 15]; }
    else out += c;
  }
  return out;
}

std::vector<std::string> lines_of(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

void check_vectors(const std::string& tokenizer_rel, const std::string& vectors_rel) {
  const std::string tok = test::shared_path(tokenizer_rel);
  const std::string vec = test::shared_path(vectors_rel);
  if (tok.empty() || vec.empty()) GTEST_SKIP() << "../shared/" << tokenizer_rel << " or vectors absent; skipping";
  auto cases = test::read_vocab_cases(vec);
  ASSERT_EQ(cases.size(), 46u);
  std::string input, expected_ids;
  for (const auto& c : cases) {
    input += escape(c.text) + "\n";
    expected_ids += test::ids_to_string(c.ids) + "\n";
  }
  auto r = test::run_cli({"tokenize", "--tokenizer", tok, "--escaped"}, input);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto got = lines_of(r.out), want = lines_of(expected_ids);
  ASSERT_EQ(got.size(), want.size()) << r.out;
  for (size_t i = 0; i < want.size(); ++i)
    EXPECT_EQ(got[i], want[i]) << tokenizer_rel << " line " << i + 1 << " text '" << cases[i].text << "'";

  // And back: the ids decode to the (escaped) strings.
  auto d = test::run_cli({"tokenize", "--tokenizer", tok, "--decode", "--escaped"}, expected_ids);
  ASSERT_EQ(d.exit_code, 0) << d.err;
  auto texts = lines_of(d.out);
  ASSERT_EQ(texts.size(), cases.size());
  for (size_t i = 0; i < cases.size(); ++i) EXPECT_EQ(texts[i], escape(cases[i].text)) << tokenizer_rel;
}

const char* kSpm = "tokenizers/gguf-vocab/ggml-vocab-llama-spm.gguf";
TEST(TokenizeCli, LlamaTokenizerModel) { check_vectors("tokenizers/llama2/tokenizer.model", kSpm); }
TEST(TokenizeCli, LlamaTokenizerJson) { check_vectors("tokenizers/llama2/tokenizer.json", kSpm); }
TEST(TokenizeCli, LlamaSpmGguf) { check_vectors(kSpm, kSpm); }
TEST(TokenizeCli, Gpt2Gguf) {
  check_vectors("tokenizers/gguf-vocab/ggml-vocab-gpt-2.gguf", "tokenizers/gguf-vocab/ggml-vocab-gpt-2.gguf");
}

TEST(TokenizeCli, TextSpecialAndStdinLines) {
  ET_REQUIRE_SHARED(tok, "tokenizers/llama2/tokenizer.model");
  // llama.cpp's vectors: "Hello world" -> 15043 3186, " Hello world" -> 29871 15043 3186.
  auto r = test::run_cli({"tokenize", "--tokenizer", tok, "--text", "Hello world"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "15043 3186\n");
  r = test::run_cli({"tokenize", "--tokenizer", tok, "--text", "Hello world", "--special"});
  EXPECT_EQ(r.out, "1 15043 3186\n");  // BOS (id 1) as Llama 2 adds it
  r = test::run_cli({"tokenize", "--tokenizer", tok, "--special", "--text", "<s>Hello world"});
  EXPECT_EQ(r.out, "1 1 15043 3186\n");
  r = test::run_cli({"tokenize", "--tokenizer", tok}, "Hello world\n Hello world\n");
  EXPECT_EQ(r.out, "15043 3186\n29871 15043 3186\n");
  r = test::run_cli({"tokenize", "--tokenizer", tok, "--decode", "--text", "1 15043 3186 2"});
  EXPECT_EQ(r.out, "Hello world\n");
  r = test::run_cli({"tokenize", "--tokenizer", tok, "--decode", "--special", "--text", "1 15043 3186 2"});
  EXPECT_EQ(r.out, "<s> Hello world</s>\n");
}

TEST(TokenizeCli, ErrorsGoToStderrWithTheFileName) {
  const std::string dir = test::temp_dir("tokcli");
  const std::string missing = path_join(dir, "missing.model");
  auto r = test::run_cli({"tokenize", "--tokenizer", missing, "--text", "x"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_EQ(r.out, "");
  EXPECT_NE(r.err.find(missing), std::string::npos) << r.err;

  const std::string corrupt = path_join(dir, "tokenizer.json");
  std::ofstream(corrupt) << "{ \"model\": ";
  r = test::run_cli({"tokenize", "--tokenizer", corrupt, "--text", "x"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_EQ(r.out, "");
  EXPECT_NE(r.err.find(corrupt), std::string::npos) << r.err;

  ET_REQUIRE_SHARED(tok, "tokenizers/llama2/tokenizer.model");
  r = test::run_cli({"tokenize", "--tokenizer", tok, "--decode"}, "1 2 x3\n");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("stdin line 1"), std::string::npos) << r.err;
  r = test::run_cli({"tokenize", "--tokenizer", tok, "--decode", "--text", "999999"});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("999999"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace et
