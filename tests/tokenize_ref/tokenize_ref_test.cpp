// Our SentencePiece BPE (et_tokenize, no libsentencepiece inside) against libsentencepiece on:
//   - Llama 2's tokenizer.model and stories260K's (remove_extra_whitespaces on),
//   - models trained here by libsentencepiece_train with other settings (user-defined pieces,
//     no dummy prefix, whitespace as suffix, no byte fallback),
// for llama.cpp's test strings plus random Unicode, whitespace and byte strings from a fixed seed,
// encoding and decoding both (decoding also of random id sequences).
#include <gtest/gtest.h>
#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>

#include <fstream>
#include <random>

#include "edgetune/core/file_io.h"
#include "edgetune/tokenize/tokenizer.h"
#include "test_util.h"
#include "vocab_test_vectors.h"

namespace et {
namespace {

using Ids = std::vector<int32_t>;

void append_utf8(std::string& s, char32_t c) {
  if (c < 0x80) s += static_cast<char>(c);
  else if (c < 0x800) { s += static_cast<char>(0xC0 | (c >> 6)); s += static_cast<char>(0x80 | (c & 0x3F)); }
  else if (c < 0x10000) {
    s += static_cast<char>(0xE0 | (c >> 12));
    s += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    s += static_cast<char>(0x80 | (c & 0x3F));
  } else {
    s += static_cast<char>(0xF0 | (c >> 18));
    s += static_cast<char>(0x80 | ((c >> 12) & 0x3F));
    s += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    s += static_cast<char>(0x80 | (c & 0x3F));
  }
}

// Random test strings of several kinds, reproducible from `seed`.
std::vector<std::string> random_strings(uint32_t seed, int n) {
  std::mt19937 rng(seed);
  auto pick = [&](int k) { return static_cast<int>(rng() % static_cast<uint32_t>(k)); };
  static const char* words[] = {"the", "cat", "sat", "on", "mat", "Hello", "world", "tool", "call",
                                "function", "json", "{\"a\":", "1}", "don't", "I'll", "3.14", "2024"};
  static const std::pair<char32_t, char32_t> ranges[] = {
      {0x20, 0x7E},     {0xA0, 0xFF},     {0x100, 0x17F},   {0x300, 0x36F},  {0x391, 0x3C9},
      {0x410, 0x44F},   {0x5D0, 0x5EA},   {0x900, 0x97F},   {0xE00, 0xE5B},  {0x1100, 0x11FF},
      {0x2000, 0x206F}, {0x2580, 0x259F}, {0x3000, 0x303F}, {0x3040, 0x30FF}, {0x4E00, 0x9FFF},
      {0xAC00, 0xD7A3}, {0xFF00, 0xFFEF}, {0x1F300, 0x1FAFF}, {0x10000, 0x1007F}};
  std::vector<std::string> out;
  for (int i = 0; i < n; ++i) {
    std::string s;
    const int kind = i % 4;
    const int len = 1 + pick(24);
    for (int k = 0; k < len; ++k) {
      if (kind == 0) {  // words and whitespace runs
        s += words[pick(17)];
        static const char* ws[] = {" ", "  ", "   ", "\t", "\n", " \n ", "\r\n", ""};
        s += ws[pick(8)];
      } else if (kind == 1) {  // Unicode from many scripts
        auto [lo, hi] = ranges[pick(19)];
        append_utf8(s, lo + static_cast<char32_t>(rng() % (hi - lo + 1)));
        if (pick(5) == 0) s += ' ';
      } else if (kind == 2) {  // raw bytes: invalid UTF-8, control characters, NUL
        s += static_cast<char>(rng() & 0xFF);
      } else {  // leading / trailing / repeated spaces around text
        s += std::string(static_cast<size_t>(pick(4)), ' ') + words[pick(17)] +
             std::string(static_cast<size_t>(pick(4)), ' ');
      }
    }
    out.push_back(s);
  }
  return out;
}

struct Pair {
  sentencepiece::SentencePieceProcessor sp;
  std::unique_ptr<Tokenizer> ours;
};

std::unique_ptr<Pair> load_pair(const std::string& path) {
  auto p = std::make_unique<Pair>();
  auto st = p->sp.Load(path);
  if (!st.ok()) ADD_FAILURE() << "libsentencepiece cannot load " << path << ": " << st.ToString();
  p->ours = load_tokenizer(path);
  return p;
}

// Encodes and decodes every string with both; returns the number of mismatches (each reported).
int compare(Pair& p, const std::vector<std::string>& texts, const std::string& label) {
  int bad = 0;
  for (const auto& t : texts) {
    std::vector<int> ref = p.sp.EncodeAsIds(t);
    Ids want(ref.begin(), ref.end());
    Ids got = p.ours->encode(t);
    if (got != want && ++bad <= 10)
      ADD_FAILURE() << label << ": encode of '" << t << "'\n  libsentencepiece " << test::ids_to_string(want)
                    << "\n  ours             " << test::ids_to_string(got);
    // libsentencepiece renders unk as " ⁇ "; ours treats it as special (dropped, as Hugging
    // Face's decode(skip_special_tokens=True) does), so sequences with unk are not compared.
    bool has_unk = false;
    for (int id : ref) has_unk = has_unk || p.sp.IsUnknown(id);
    if (has_unk) continue;
    std::string ref_text = p.sp.DecodeIds(ref);
    std::string our_text = p.ours->decode(want);
    if (ref_text != our_text && ++bad <= 10)
      ADD_FAILURE() << label << ": decode of " << test::ids_to_string(want) << "\n  libsentencepiece '"
                    << ref_text << "'\n  ours             '" << our_text << "'";
  }
  return bad;
}

// Random id sequences (no control or unknown ids, which libsentencepiece renders differently on
// purpose) decode the same.
int compare_random_decode(Pair& p, uint32_t seed, int n, const std::string& label) {
  std::mt19937 rng(seed);
  std::vector<int> usable;
  for (int id = 0; id < p.sp.GetPieceSize(); ++id)
    if (!p.sp.IsControl(id) && !p.sp.IsUnknown(id)) usable.push_back(id);
  std::vector<int> bytes;
  for (int id : usable)
    if (p.sp.IsByte(id)) bytes.push_back(id);
  int bad = 0;
  for (int i = 0; i < n; ++i) {
    std::vector<int> ids;
    const int len = 1 + static_cast<int>(rng() % 12);
    for (int k = 0; k < len; ++k) {
      const bool byte = !bytes.empty() && rng() % 2 == 0;
      ids.push_back(byte ? bytes[rng() % bytes.size()] : usable[rng() % usable.size()]);
    }
    std::string ref = p.sp.DecodeIds(ids);
    std::string ours = p.ours->decode(Ids(ids.begin(), ids.end()));
    if (ref != ours && ++bad <= 10)
      ADD_FAILURE() << label << ": decode of " << test::ids_to_string(Ids(ids.begin(), ids.end()))
                    << "\n  libsentencepiece '" << ref << "'\n  ours             '" << ours << "'";
  }
  return bad;
}

std::vector<std::string> upstream_strings() {
  std::vector<std::string> out;
  std::string vec = test::shared_path("tokenizers/gguf-vocab/ggml-vocab-llama-spm.gguf");
  if (!vec.empty())
    for (auto& c : test::read_vocab_cases(vec)) out.push_back(c.text);
  return out;
}

TEST(SentencePieceReference, Llama2Model) {
  ET_REQUIRE_SHARED(path, "tokenizers/llama2/tokenizer.model");
  auto p = load_pair(path);
  EXPECT_EQ(compare(*p, upstream_strings(), "llama2 upstream strings"), 0);
  EXPECT_EQ(compare(*p, random_strings(20240601, 2000), "llama2 random strings"), 0);
  EXPECT_EQ(compare_random_decode(*p, 7, 2000, "llama2 random ids"), 0);
}

TEST(SentencePieceReference, Stories260KModel) {
  ET_REQUIRE_SHARED(path, "models/stories260K/tokenizer.model");
  auto p = load_pair(path);
  EXPECT_EQ(compare(*p, upstream_strings(), "stories260K upstream strings"), 0);
  EXPECT_EQ(compare(*p, random_strings(99, 2000), "stories260K random strings"), 0);
  EXPECT_EQ(compare_random_decode(*p, 8, 2000, "stories260K random ids"), 0);
}

class Sentences : public sentencepiece::SentenceIterator {
 public:
  explicit Sentences(std::vector<std::string> s) : s_(std::move(s)) {}
  bool done() const override { return i_ >= s_.size(); }
  void Next() override { ++i_; }
  const std::string& value() const override { return s_[i_]; }
  sentencepiece::util::Status status() const override { return {}; }

 private:
  std::vector<std::string> s_;
  size_t i_ = 0;
};

// Trains a small BPE model with libsentencepiece_train and writes it to a temp file.
std::string train_model(const std::unordered_map<std::string, std::string>& extra, const std::string& name) {
  // Words and whitespace (kinds 0 and 3 of random_strings) plus a few accented letters, so
  // that a small vocabulary covers the alphabet and the other test strings hit unknown text.
  std::vector<std::string> corpus;
  const auto base = random_strings(4242, 4000);
  for (size_t i = 0; i < base.size(); ++i)
    if (i % 4 == 0 || i % 4 == 3) corpus.push_back(base[i] + " caf\xC3\xA9 na\xC3\xAFve the tool call");
  std::unordered_map<std::string, std::string> args = {
      {"model_type", "bpe"},          {"vocab_size", "600"},  {"character_coverage", "0.9995"},
      {"hard_vocab_limit", "false"},  {"minloglevel", "2"},   {"num_threads", "1"},
      {"normalization_rule_name", "identity"}};
  for (const auto& kv : extra) args[kv.first] = kv.second;
  Sentences it(corpus);
  std::string proto;
  auto st = sentencepiece::SentencePieceTrainer::Train(args, &it, &proto);
  if (!st.ok()) {
    ADD_FAILURE() << "training failed: " << st.ToString();
    return {};
  }
  std::string path = path_join(test::temp_dir("spm"), name);
  std::ofstream(path, std::ios::binary) << proto;
  return path;
}

void check_trained(const std::unordered_map<std::string, std::string>& args, const std::string& label) {
  std::string path = train_model(args, label + ".model");
  ASSERT_FALSE(path.empty());
  auto p = load_pair(path);
  std::vector<std::string> texts = upstream_strings();
  for (auto& s : random_strings(31337, 1500)) texts.push_back(s);
  texts.push_back("a<tool>b [SEP]  <tool><tool> [SEP]x");
  EXPECT_EQ(compare(*p, texts, label), 0);
  EXPECT_EQ(compare_random_decode(*p, 9, 1000, label + " random ids"), 0);
}

TEST(SentencePieceReference, TrainedWithUserDefinedPiecesAndByteFallback) {
  check_trained({{"byte_fallback", "true"}, {"user_defined_symbols", "<tool>,[SEP]"},
                 {"remove_extra_whitespaces", "true"}},
                "user-defined+bytes");
}

TEST(SentencePieceReference, TrainedWithoutDummyPrefixOrByteFallback) {
  check_trained({{"add_dummy_prefix", "false"}, {"remove_extra_whitespaces", "false"},
                 {"user_defined_symbols", "<tool>"}},
                "no-prefix+unk");
}

TEST(SentencePieceReference, TrainedWithWhitespaceAsSuffix) {
  check_trained({{"treat_whitespace_as_suffix", "true"}, {"byte_fallback", "true"},
                 {"remove_extra_whitespaces", "false"}},
                "suffix");
}

}  // namespace
}  // namespace et
