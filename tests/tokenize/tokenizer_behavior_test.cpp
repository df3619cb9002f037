// Whole-tokenizer behavior: round trips on the upstream strings, the stories260K folder against
// reference_outputs.json, special-token handling, streaming decode, and small tokenizer.json
// files whose expected ids follow by hand from the BPE rules.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>

#include "edgetune/core/error.h"
#include "edgetune/core/file_io.h"
#include "edgetune/tokenize/stream_decoder.h"
#include "edgetune/tokenize/tokenizer.h"
#include "test_util.h"
#include "vocab_test_vectors.h"

namespace et {
namespace {

using nlohmann::json;
using Ids = std::vector<int32_t>;

const char* kTokenizers[] = {
    "tokenizers/llama2/tokenizer.model",
    "tokenizers/llama2/tokenizer.json",
    "tokenizers/gguf-vocab/ggml-vocab-llama-spm.gguf",
    "tokenizers/gguf-vocab/ggml-vocab-gpt-2.gguf",
    "tokenizers/gguf-vocab/ggml-vocab-deepseek-coder.gguf",
    "tokenizers/gguf-vocab/ggml-vocab-starcoder.gguf",
};

TEST(Tokenizer, DecodeInvertsEncodeOnUpstreamStrings) {
  ET_REQUIRE_SHARED(vec, "tokenizers/gguf-vocab/ggml-vocab-llama-spm.gguf");
  auto cases = test::read_vocab_cases(vec);
  ASSERT_FALSE(cases.empty());
  for (const char* rel : kTokenizers) {
    const std::string p = test::shared_path(rel);
    if (p.empty()) continue;
    auto tok = load_tokenizer(p);
    for (const auto& c : cases) {
      EXPECT_EQ(tok->decode(tok->encode(c.text)), c.text) << rel;
      EXPECT_EQ(tok->decode(tok->encode(c.text, true)), c.text) << rel << " (with BOS/EOS, skipped)";
    }
  }
}

// Streaming: the pieces concatenate to decode(all); a character split over byte tokens shows up
// only once complete.
TEST(Tokenizer, StreamDecoderMatchesWholeDecode) {
  ET_REQUIRE_SHARED(vec, "tokenizers/gguf-vocab/ggml-vocab-llama-spm.gguf");
  auto cases = test::read_vocab_cases(vec);
  for (const char* rel : kTokenizers) {
    const std::string p = test::shared_path(rel);
    if (p.empty()) continue;
    auto tok = load_tokenizer(p);
    for (const auto& c : cases) {
      Ids ids = tok->encode(c.text, true);
      StreamDecoder sd(*tok);
      std::string streamed;
      for (int32_t id : ids) {
        std::string piece = sd.push(id);
        EXPECT_EQ(piece.find("\xEF\xBF\xBD"), std::string::npos) << rel << ": partial character emitted";
        streamed += piece;
      }
      streamed += sd.flush();
      EXPECT_EQ(streamed, tok->decode(ids)) << rel << " text '" << c.text << "'";
    }
  }
  // 🦙 is four byte-fallback tokens in Llama 2 (llama.cpp's vectors: 243 162 169 156).
  ET_REQUIRE_SHARED(model, "tokenizers/llama2/tokenizer.model");
  auto tok = load_tokenizer(model);
  Ids llama = tok->encode("\xF0\x9F\xA6\x99");
  ASSERT_EQ(llama, (Ids{29871, 243, 162, 169, 156}));
  StreamDecoder sd(*tok);
  EXPECT_EQ(sd.push(29871), "");  // a lone dummy-prefix "▁" is stripped at the start
  EXPECT_EQ(sd.push(243), "");
  EXPECT_EQ(sd.push(162), "");
  EXPECT_EQ(sd.push(169), "");
  EXPECT_EQ(sd.push(156), "\xF0\x9F\xA6\x99");
  EXPECT_EQ(sd.push(243), "");
  EXPECT_EQ(sd.flush(), "\xEF\xBF\xBD");  // a dangling lead byte can no longer complete
}

// A Tokenizer that is not one of ours: StreamDecoder falls back to decoding everything so far.
class Wrapped : public Tokenizer {
 public:
  explicit Wrapped(const Tokenizer& t) : t_(t) {}
  Ids encode(const std::string& s, bool a, bool p) const override { return t_.encode(s, a, p); }
  std::string decode(const Ids& ids, bool skip) const override { return t_.decode(ids, skip); }
  std::string id_to_piece(int32_t id) const override { return t_.id_to_piece(id); }
  std::optional<int32_t> piece_to_id(const std::string& p) const override { return t_.piece_to_id(p); }
  bool is_special(int32_t id) const override { return t_.is_special(id); }
  int32_t vocab_size() const override { return t_.vocab_size(); }
  int32_t bos_id() const override { return t_.bos_id(); }
  int32_t eos_id() const override { return t_.eos_id(); }
  int32_t pad_id() const override { return t_.pad_id(); }
  bool add_bos() const override { return t_.add_bos(); }
  bool add_eos() const override { return t_.add_eos(); }
  std::string kind() const override { return "wrapped"; }
  std::vector<int32_t> encode_continuation(const std::string& text, bool continuation) const override {
    return t_.encode_continuation(text, continuation);
  }

 private:
  const Tokenizer& t_;
};

TEST(Tokenizer, StreamDecoderFallbackForOtherTokenizers) {
  ET_REQUIRE_SHARED(vec, "tokenizers/gguf-vocab/ggml-vocab-llama-spm.gguf");
  auto cases = test::read_vocab_cases(vec);
  for (const char* rel : {"tokenizers/llama2/tokenizer.model", "tokenizers/gguf-vocab/ggml-vocab-gpt-2.gguf"}) {
    const std::string p = test::shared_path(rel);
    if (p.empty()) continue;
    auto real = load_tokenizer(p);
    Wrapped tok(*real);
    for (const auto& c : cases) {
      Ids ids = tok.encode(c.text, false, false);
      StreamDecoder sd(tok);
      std::string streamed;
      for (int32_t id : ids) streamed += sd.push(id);
      streamed += sd.flush();
      EXPECT_EQ(streamed, c.text) << rel;
    }
  }
}

TEST(Tokenizer, Stories260KFolderReproducesReferenceText) {
  ET_REQUIRE_SHARED(dir, "models/stories260K");
  ET_REQUIRE_SHARED(ref_path, "models/stories260K/reference_outputs.json");
  auto tok = load_tokenizer(dir);
  EXPECT_EQ(tok->kind(), "hf-bpe");  // the folder's complete tokenizer.json is preferred, as transformers does
  EXPECT_EQ(tok->vocab_size(), 512);
  EXPECT_EQ(tok->bos_id(), 1);
  EXPECT_EQ(tok->eos_id(), 2);
  EXPECT_TRUE(tok->add_bos());
  const json ref = json::parse(read_text_file(ref_path));
  const Ids greedy = ref["greedy_ids_from_bos"].get<Ids>();
  EXPECT_EQ(tok->decode(greedy), ref["greedy_text"].get<std::string>());
  Ids with_bos = {1};
  with_bos.insert(with_bos.end(), greedy.begin(), greedy.end());
  EXPECT_EQ(tok->decode(with_bos), ref["greedy_text"].get<std::string>());
  const std::string sentence = ref["teacher_forced_sentence"].get<std::string>();
  Ids enc = tok->encode(sentence, true);
  EXPECT_EQ(enc.front(), 1);
  EXPECT_EQ(tok->decode(enc), sentence);
  // The model's greedy continuation spells the same sentence with the same pieces.
  Ids prefix(greedy.begin(), greedy.begin() + static_cast<std::ptrdiff_t>(enc.size() - 1));
  EXPECT_EQ(Ids(enc.begin() + 1, enc.end()), prefix);
}

// The folder's two tokenizer files agree on ordinary text and differ on runs of spaces as they do
// upstream (../shared/models/README.md): this SentencePiece model collapses extra whitespace, the
// Hugging Face conversion keeps it.
TEST(Tokenizer, Stories260KTokenizerJsonAndModelDifferOnlyOnRepeatedSpaces) {
  ET_REQUIRE_SHARED(json_path, "models/stories260K/tokenizer.json");
  ET_REQUIRE_SHARED(model_path, "models/stories260K/tokenizer.model");
  auto hf = load_tokenizer(json_path);
  auto sp = load_tokenizer(model_path);
  EXPECT_EQ(sp->encode("a  b", false), (Ids{261, 268}));
  EXPECT_EQ(hf->encode("a  b", false), (Ids{261, 410, 268}));
  for (const std::string text : {"Once upon a time, there was a little girl named Lily.", "Tom said: \"Let's go!\""})
    EXPECT_EQ(hf->encode(text, true), sp->encode(text, true)) << text;
}

TEST(Tokenizer, SpecialTokensAndBosEos) {
  ET_REQUIRE_SHARED(model, "tokenizers/llama2/tokenizer.model");
  for (const std::string rel : {"tokenizers/llama2/tokenizer.model", "tokenizers/gguf-vocab/ggml-vocab-llama-spm.gguf"}) {
    auto tok = load_tokenizer(test::shared_path(rel));
    EXPECT_TRUE(tok->add_bos()) << rel;
    EXPECT_FALSE(tok->add_eos()) << rel;
    EXPECT_EQ(tok->encode("Hello world", true), (Ids{1, 15043, 3186})) << rel;
    // Without parse_special "<s>" is text; with it, the BOS id, and text after it gets its own
    // "▁" prefix (llama.cpp; each piece is normalized on its own).
    Ids plain = tok->encode("<s>Hello");
    EXPECT_TRUE(std::find(plain.begin(), plain.end(), 1) == plain.end()) << rel;
    EXPECT_EQ(tok->encode("<s>Hello", false, true), (Ids{1, 15043})) << rel;
    EXPECT_TRUE(tok->is_special(1));
    EXPECT_TRUE(tok->is_special(2));
    EXPECT_FALSE(tok->is_special(15043));
    EXPECT_EQ(tok->decode({1, 15043, 2}), "Hello");
    // Kept special tokens are text of their own; the space of "▁Hello" then stays, as in
    // transformers' LlamaTokenizer decode(skip_special_tokens=False): "<s> Hello</s>".
    EXPECT_EQ(tok->decode({1, 15043, 2}, false), "<s> Hello</s>");
    EXPECT_EQ(tok->id_to_piece(15043), "\xE2\x96\x81Hello");
    EXPECT_EQ(tok->piece_to_id("\xE2\x96\x81Hello"), 15043);
    EXPECT_EQ(tok->piece_to_id("no such piece"), std::nullopt);
    EXPECT_THROW(tok->decode({32000}), Error);
    EXPECT_THROW(tok->id_to_piece(-1), Error);
  }
}

// --- small tokenizer.json files ------------------------------------------------------------

std::string write_json(const json& j, const std::string& name) {
  std::string dir = test::temp_dir("tokjson");
  std::string p = path_join(dir, name);
  std::ofstream(p) << j.dump();
  return p;
}

// Byte-level BPE: vocab = the 256 byte characters (id = byte value) + "he" 256, "Ġt" 257,
// "Ġthe" 258; merges h+e (rank 0), Ġ+t (1), Ġt+he (2).
json byte_level_json() {
  json vocab = json::object();
  // GPT-2 alphabet, spelled out: printable bytes are themselves, others U+0100 + n in order.
  int next = 256;
  for (int b = 0; b < 256; ++b) {
    bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
    char32_t c = printable ? static_cast<char32_t>(b) : static_cast<char32_t>(next++);
    std::string s;
    if (c < 0x80) s += static_cast<char>(c);
    else { s += static_cast<char>(0xC0 | (c >> 6)); s += static_cast<char>(0x80 | (c & 0x3F)); }
    vocab[s] = b;
  }
  vocab["he"] = 256;
  vocab["\xC4\xA0t"] = 257;
  vocab["\xC4\xA0the"] = 258;
  return {
      {"version", "1.0"},
      {"added_tokens", json::array({
           {{"id", 259}, {"content", "<|endoftext|>"}, {"special", true}, {"normalized", false},
            {"lstrip", false}, {"rstrip", false}, {"single_word", false}},
           {{"id", 260}, {"content", "<tool_call>"}, {"special", false}, {"normalized", false},
            {"lstrip", false}, {"rstrip", false}, {"single_word", false}}})},
      {"normalizer", nullptr},
      {"pre_tokenizer", {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", true}}},
      {"post_processor", {{"type", "ByteLevel"}}},
      {"decoder", {{"type", "ByteLevel"}}},
      {"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", json::array({"h e", "\xC4\xA0 t", "\xC4\xA0t he"})}}},
  };
}

TEST(TokenizerJson, ByteLevelBpe) {
  auto tok = load_tokenizer(write_json(byte_level_json(), "tokenizer.json"));
  EXPECT_EQ(tok->kind(), "hf-byte-level-bpe");
  EXPECT_EQ(tok->vocab_size(), 261);
  EXPECT_EQ(tok->encode(" the the"), (Ids{258, 258}));
  EXPECT_EQ(tok->encode("the"), (Ids{'t', 256}));
  EXPECT_EQ(tok->encode("hi<tool_call>x"), (Ids{'h', 'i', 260, 'x'}));  // non-special: always split
  EXPECT_EQ(tok->encode("a<|endoftext|>", false, true), (Ids{'a', 259}));
  EXPECT_EQ(tok->encode("<|endoftext|>", false, false),
            (Ids{'<', '|', 'e', 'n', 'd', 'o', 'f', 't', 'e', 'x', 't', '|', '>'}));
  EXPECT_FALSE(tok->add_bos());
  EXPECT_EQ(tok->decode({258, 258}), " the the");
  EXPECT_EQ(tok->decode({'h', 259, 'i'}), "hi");
  EXPECT_EQ(tok->decode({'h', 259, 'i'}, false), "h<|endoftext|>i");
  EXPECT_EQ(tok->decode({0xE4, 0xB8, 0xAD}), "\xE4\xB8\xAD");
  EXPECT_EQ(tok->decode({0xE4, 0xB8, 'a'}), "\xEF\xBF\xBD" "a");  // one U+FFFD per maximal subpart
  EXPECT_EQ(tok->encode("\xE4\xB8"), (Ids{0xEF, 0xBF, 0xBD}));    // invalid input is repaired first
}

// SentencePiece-style BPE as tokenizer.json: Metaspace with prepend_scheme "first", byte
// fallback, a TemplateProcessing that adds <s>.
json metaspace_json(const std::string& prepend_scheme) {
  json vocab = {{"<unk>", 0}, {"<s>", 1}, {"</s>", 2}, {"\xE2\x96\x81", 3}, {"a", 4}, {"b", 5},
                {"\xE2\x96\x81" "a", 6}, {"ab", 7}, {"\xE2\x96\x81" "ab", 8}, {"<0x0A>", 9}};
  json added = json::array();
  for (int i = 0; i < 3; ++i)
    added.push_back({{"id", i}, {"content", i == 0 ? "<unk>" : i == 1 ? "<s>" : "</s>"}, {"special", true},
                     {"normalized", false}, {"lstrip", false}, {"rstrip", false}, {"single_word", false}});
  return {
      {"added_tokens", added},
      {"normalizer", nullptr},
      {"pre_tokenizer", {{"type", "Metaspace"}, {"replacement", "\xE2\x96\x81"}, {"prepend_scheme", prepend_scheme}, {"split", false}}},
      {"post_processor", {{"type", "TemplateProcessing"},
                          {"single", json::array({{{"SpecialToken", {{"id", "<s>"}, {"type_id", 0}}}},
                                                  {{"Sequence", {{"id", "A"}, {"type_id", 0}}}}})},
                          {"special_tokens", {{"<s>", {{"id", "<s>"}, {"ids", {1}}, {"tokens", {"<s>"}}}}}}}},
      {"decoder", {{"type", "Sequence"},
                   {"decoders", json::array({{{"type", "ByteFallback"}},
                                             {{"type", "Metaspace"}, {"replacement", "\xE2\x96\x81"},
                                              {"prepend_scheme", prepend_scheme}, {"split", false}}})}}},
      {"model", {{"type", "BPE"}, {"vocab", vocab}, {"unk_token", "<unk>"}, {"byte_fallback", true},
                 {"merges", json::array({"\xE2\x96\x81 a", "a b", "\xE2\x96\x81" "a b"})}}},
  };
}

TEST(TokenizerJson, MetaspaceFirstAndByteFallback) {
  auto tok = load_tokenizer(write_json(metaspace_json("first"), "tokenizer.json"));
  EXPECT_EQ(tok->kind(), "hf-bpe");
  EXPECT_TRUE(tok->add_bos());
  EXPECT_EQ(tok->bos_id(), 1);
  EXPECT_EQ(tok->encode("ab ab"), (Ids{8, 8}));       // "▁ab▁ab"
  EXPECT_EQ(tok->encode("ab\n"), (Ids{8, 9}));        // "\n" is no piece: <0x0A>
  EXPECT_EQ(tok->encode("ab", true), (Ids{1, 8}));
  // "first": only text at the start of the input gets the "▁"; after <s> it does not.
  EXPECT_EQ(tok->encode("<s>ab", false, true), (Ids{1, 7}));
  EXPECT_EQ(tok->encode("c"), (Ids{3, 0}));           // "▁c": unknown c, no byte piece for it
  EXPECT_EQ(tok->decode({1, 8, 8}), "ab ab");
  EXPECT_EQ(tok->decode({8, 9, 8}), "ab\n ab");
  auto always = load_tokenizer(write_json(metaspace_json("always"), "tokenizer.json"));
  EXPECT_EQ(always->encode("<s>ab", false, true), (Ids{1, 8}));
}

// NFC before the model: "e" + U+0301 becomes the piece "é".
TEST(TokenizerJson, NfcNormalizer) {
  json j = {{"model", {{"type", "BPE"}, {"vocab", {{"\xC3\xA9", 0}, {"e", 1}, {"\xCC\x81", 2}}}, {"merges", json::array()}}}};
  auto plain = load_tokenizer(write_json(j, "plain.json"));
  EXPECT_EQ(plain->encode("e\xCC\x81"), (Ids{1, 2}));
  j["normalizer"] = {{"type", "Sequence"}, {"normalizers", json::array({{{"type", "NFC"}}})}};
  auto nfc = load_tokenizer(write_json(j, "nfc.json"));
  EXPECT_EQ(nfc->encode("e\xCC\x81"), (Ids{0}));
  EXPECT_EQ(nfc->encode("\xC3\xA9" "e"), (Ids{0, 1}));
}

TEST(TokenizerJson, TokenizerConfigOverrides) {
  std::string dir = test::temp_dir("tokcfg");
  std::ofstream(path_join(dir, "tokenizer.json")) << metaspace_json("always").dump();
  std::ofstream(path_join(dir, "tokenizer_config.json"))
      << R"({"add_bos_token": false, "add_eos_token": true, "eos_token": {"content": "</s>"},
            "pad_token": "<unk>",
            "added_tokens_decoder": {"7": {"content": "ab", "special": true}}})";
  auto tok = load_tokenizer(dir);
  EXPECT_FALSE(tok->add_bos());
  EXPECT_TRUE(tok->add_eos());
  EXPECT_EQ(tok->pad_id(), 0);
  EXPECT_EQ(tok->encode("b", true), (Ids{3, 5, 2}));
  EXPECT_TRUE(tok->is_special(7));
  EXPECT_EQ(tok->encode("xab", false, true), (Ids{3, 0, 7}));  // "ab" is now a special token
}

}  // namespace
}  // namespace et
