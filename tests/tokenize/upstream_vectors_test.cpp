// llama.cpp's tokenizer test vectors, through every loader that can read the vocabulary: each
// line of X.gguf.out must equal our ids for the matching string of X.gguf.inp, and decoding those
// ids must give the string back.
#include <gtest/gtest.h>

#include "edgetune/tokenize/tokenizer.h"
#include "test_util.h"
#include "vocab_test_vectors.h"

namespace et {
namespace {

// Runs every case; returns the number of lines that differ (each reported).
int run_cases(const Tokenizer& tok, const std::vector<test::VocabCase>& cases, const std::string& label) {
  int bad = 0;
  for (size_t i = 0; i < cases.size(); ++i) {
    const auto got = tok.encode(cases[i].text, false, false);
    if (got != cases[i].ids) {
      ++bad;
      ADD_FAILURE() << label << " line " << i + 1 << " text '" << cases[i].text << "'\n  expected "
                    << test::ids_to_string(cases[i].ids) << "\n  got      " << test::ids_to_string(got);
    }
  }
  return bad;
}

void check_vocab(const std::string& tokenizer_rel, const std::string& vectors_rel) {
  const std::string tok_path = test::shared_path(tokenizer_rel);
  const std::string vec_path = test::shared_path(vectors_rel);
  if (tok_path.empty() || vec_path.empty())
    GTEST_SKIP() << "../shared/" << tokenizer_rel << " or ../shared/" << vectors_rel << " is absent; skipping";
  auto cases = test::read_vocab_cases(vec_path);
  ASSERT_EQ(cases.size(), 46u) << "could not read " << vec_path << ".inp/.out";
  auto tok = load_tokenizer(tok_path);
  EXPECT_EQ(run_cases(*tok, cases, tokenizer_rel), 0);
}

const char* kSpmVectors = "tokenizers/gguf-vocab/ggml-vocab-llama-spm.gguf";

TEST(UpstreamVectors, LlamaSpmThroughTokenizerModel) { check_vocab("tokenizers/llama2/tokenizer.model", kSpmVectors); }
TEST(UpstreamVectors, LlamaSpmThroughTokenizerJson) { check_vocab("tokenizers/llama2/tokenizer.json", kSpmVectors); }
TEST(UpstreamVectors, LlamaSpmThroughGguf) { check_vocab(kSpmVectors, kSpmVectors); }
TEST(UpstreamVectors, Gpt2ThroughGguf) {
  check_vocab("tokenizers/gguf-vocab/ggml-vocab-gpt-2.gguf", "tokenizers/gguf-vocab/ggml-vocab-gpt-2.gguf");
}
TEST(UpstreamVectors, Phi3ThroughGguf) {
  check_vocab("tokenizers/gguf-vocab/ggml-vocab-phi-3.gguf", "tokenizers/gguf-vocab/ggml-vocab-phi-3.gguf");
}
TEST(UpstreamVectors, DeepseekCoderThroughGguf) {
  check_vocab("tokenizers/gguf-vocab/ggml-vocab-deepseek-coder.gguf",
              "tokenizers/gguf-vocab/ggml-vocab-deepseek-coder.gguf");
}
TEST(UpstreamVectors, StarcoderThroughGguf) {
  check_vocab("tokenizers/gguf-vocab/ggml-vocab-starcoder.gguf",
              "tokenizers/gguf-vocab/ggml-vocab-starcoder.gguf");
}

}  // namespace
}  // namespace et
