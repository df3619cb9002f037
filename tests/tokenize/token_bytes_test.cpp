// Per-token bytes against the tokenizer's own decoder: after a plain word, a run of random tokens
// decodes to the word's text followed by the tokens' bytes concatenated (whenever those bytes are
// valid UTF-8, where decoding replaces nothing), on SentencePiece, Hugging Face and byte-level
// vocabularies; special tokens are flagged.
#include <gtest/gtest.h>

#include <random>

#include "edgetune/tokenize/token_bytes.h"
#include "test_util.h"
#include "utf8.h"

namespace et {
namespace {

TEST(TokenBytes, ConcatenatedBytesAreTheDecodedText) {
  int checked_tokenizers = 0;
  for (const char* rel : {"models/stories260K/tokenizer.json", "models/stories260K/tokenizer.model",
                          "tokenizers/llama2/tokenizer.model", "tokenizers/llama2/tokenizer.json",
                          "tokenizers/gguf-vocab/ggml-vocab-gpt-2.gguf"}) {
    const std::string path = test::shared_path(rel);
    if (path.empty()) continue;
    SCOPED_TRACE(rel);
    ++checked_tokenizers;
    const auto tok = load_tokenizer(path);
    const TokenBytes tb = token_bytes(*tok);
    ASSERT_EQ(tb.bytes.size(), static_cast<size_t>(tok->vocab_size()));
    if (tok->eos_id() >= 0) {
      EXPECT_TRUE(tb.special[static_cast<size_t>(tok->eos_id())]);
    }
    const std::vector<int32_t> word = tok->encode("Hello", false, false);
    const std::string word_text = tok->decode(word, false);
    std::mt19937 rng(3);
    int compared = 0;
    for (int trial = 0; trial < 400; ++trial) {
      std::vector<int32_t> ids = word;
      std::string expected = word_text;
      const int n = 1 + static_cast<int>(rng() % 6);
      for (int k = 0; k < n; ++k) {
        int32_t id = static_cast<int32_t>(rng() % static_cast<uint32_t>(tok->vocab_size()));
        if (tb.special[static_cast<size_t>(id)]) continue;
        ids.push_back(id);
        expected += tb.bytes[static_cast<size_t>(id)];
      }
      if (!tok::utf8_is_valid(expected)) continue;
      EXPECT_EQ(tok->decode(ids, false), expected);
      ++compared;
    }
    EXPECT_GT(compared, 100);
    // Every single byte has a token of its own (what constrained decoding relies on to finish a call).
    std::vector<bool> single(256, false);
    for (size_t id = 0; id < tb.bytes.size(); ++id)
      if (!tb.special[id] && tb.bytes[id].size() == 1) single[static_cast<unsigned char>(tb.bytes[id][0])] = true;
    for (int b = 0x20; b < 0x7F; ++b) EXPECT_TRUE(single[static_cast<size_t>(b)]) << "no token for byte " << b;
  }
  if (checked_tokenizers == 0) GTEST_SKIP() << "no tokenizer of ../shared is present";
}

}  // namespace
}  // namespace et
