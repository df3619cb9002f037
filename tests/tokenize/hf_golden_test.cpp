// tokenizer.json support against Hugging Face `tokenizers` itself: hf_golden/make_hf_golden.py
// built tokenizer.json variants (byte-level BPE with the Qwen2 and Llama 3 split regexes, NFC and
// added tokens with every flag; SentencePiece-style BPE with Prepend/Replace normalizers, Metaspace
// first/always, split on and off, byte fallback) on vocabularies from ../shared and recorded what
// the library returns. This test rebuilds the same files and must return the same ids and text.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "edgetune/core/file_io.h"
#include "edgetune/core/gguf.h"
#include "edgetune/tokenize/tokenizer.h"
#include "test_util.h"

namespace et {
namespace {

using nlohmann::json;
using Ids = std::vector<int32_t>;

// model.vocab and model.merges of a base vocabulary.
void add_base(json& tokenizer, const std::string& base) {
  json& model = tokenizer["model"];
  if (base == "gpt2-gguf") {
    GgufFile g(test::shared_path("tokenizers/gguf-vocab/ggml-vocab-gpt-2.gguf"));
    json vocab = json::object();
    auto tokens = g.get_string_array("tokenizer.ggml.tokens");
    for (size_t i = 0; i < tokens.size(); ++i) vocab[tokens[i]] = i;
    model["vocab"] = vocab;
    model["merges"] = g.get_string_array("tokenizer.ggml.merges");
  } else {
    json llama = json::parse(read_text_file(test::shared_path("tokenizers/llama2/tokenizer.json")));
    model["vocab"] = llama["model"]["vocab"];
    model["merges"] = llama["model"]["merges"];  // "a b" lines; the generator wrote [a, b] pairs
  }
}

TEST(HfGolden, TokenizerJsonVariantsMatchHuggingFaceTokenizers) {
  ET_REQUIRE_SHARED(gpt2, "tokenizers/gguf-vocab/ggml-vocab-gpt-2.gguf");
  ET_REQUIRE_SHARED(llama2, "tokenizers/llama2/tokenizer.json");
  const json golden = json::parse(
      read_text_file(path_join(test::source_dir(), "tests/tokenize/hf_golden/hf_tokenizers_golden.json")));
  const auto strings = golden["strings"].get<std::vector<std::string>>();
  const auto id_seqs = golden["id_seqs"].get<std::vector<Ids>>();
  const std::string dir = test::temp_dir("hfgolden");
  ASSERT_GE(golden["variants"].size(), 5u);
  for (auto it = golden["variants"].begin(); it != golden["variants"].end(); ++it) {
    const json& v = *it;
    json tokenizer = v["tokenizer"];
    add_base(tokenizer, v["base"].get<std::string>());
    const std::string path = path_join(dir, it.key() + ".json");
    std::ofstream(path) << tokenizer.dump();
    auto tok = load_tokenizer(path);
    int bad = 0;
    for (size_t i = 0; i < strings.size(); ++i) {
      const Ids want = v["ids"][i].get<Ids>();
      const Ids got = tok->encode(strings[i], false, true);  // tokenizers always splits added tokens
      if (got != want && ++bad <= 5) ADD_FAILURE() << it.key() << ": encode of '" << strings[i] << "'";
      if (tok->encode(strings[i], true, true) != v["ids_with_special"][i].get<Ids>() && ++bad <= 5)
        ADD_FAILURE() << it.key() << ": encode with special tokens of '" << strings[i] << "'";
      if (tok->decode(want) != v["decoded"][i].get<std::string>() && ++bad <= 5)
        ADD_FAILURE() << it.key() << ": decode '" << tok->decode(want) << "' vs '"
                      << v["decoded"][i].get<std::string>() << "'";
    }
    for (size_t i = 0; i < id_seqs.size(); ++i)
      if (tok->decode(id_seqs[i]) != v["decoded_ids"][i].get<std::string>() && ++bad <= 5)
        ADD_FAILURE() << it.key() << ": decode of id sequence " << i << " '" << tok->decode(id_seqs[i])
                      << "' vs '" << v["decoded_ids"][i].get<std::string>() << "'";
    EXPECT_EQ(bad, 0) << it.key() << " (tokenizers " << golden["tokenizers_version"] << ")";
  }
}

}  // namespace
}  // namespace et
