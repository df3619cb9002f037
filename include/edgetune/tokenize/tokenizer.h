// The tokenizer facade. One type serves every source of a vocabulary:
//   - SentencePiece `tokenizer.model` (our own BPE over the ModelProto pieces; no libsentencepiece),
//   - Hugging Face `tokenizer.json` (BPE with byte fallback as in Llama 2; byte-level BPE with a
//     pre-tokenizer regex as in GPT-2, Llama 3, Qwen),
//   - the `tokenizer.ggml.*` keys of a GGUF file.
// Torch-free: this library links neither libtorch nor libsentencepiece (see DESIGN.md).
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace et {

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;

  // Token ids of `text`. add_special: prepend BOS / append EOS as the tokenizer's config says
  // (add_bos / add_eos). parse_special: text such as "<|im_start|>" or "<s>" becomes that special
  // token's id instead of being tokenized as plain text.
  virtual std::vector<int32_t> encode(const std::string& text, bool add_special = false,
                                      bool parse_special = false) const = 0;
  // Ids of `text` (no BOS/EOS, special-token text parsed) as it tokenizes when it follows earlier
  // plain text (continuation = true): no dummy-prefix space (SentencePiece add_dummy_prefix,
  // Metaspace or Prepend "▁", byte-level add_prefix_space) goes in front of it; text after a
  // special token inside `text` encodes as it does in encode(). With continuation = false this is
  // encode(text, false, true).
  virtual std::vector<int32_t> encode_continuation(const std::string& text, bool continuation) const = 0;
  // Text of `ids`. skip_special drops control tokens (BOS, EOS, ...); byte-fallback pieces and
  // byte-level pieces are reassembled into UTF-8. Decoding the ids of encode(t) gives t back
  // (except for normalization the tokenizer itself applies).
  virtual std::string decode(const std::vector<int32_t>& ids, bool skip_special = true) const = 0;
  // The raw piece / token string of one id ("▁the", "<0x0A>", "Ġthe").
  virtual std::string id_to_piece(int32_t id) const = 0;
  // The id of a piece or special token string, if it is in the vocabulary.
  virtual std::optional<int32_t> piece_to_id(const std::string& piece) const = 0;
  virtual bool is_special(int32_t id) const = 0;
  virtual int32_t vocab_size() const = 0;
  // -1 when the tokenizer has none.
  virtual int32_t bos_id() const = 0;
  virtual int32_t eos_id() const = 0;
  virtual int32_t pad_id() const = 0;
  virtual bool add_bos() const = 0;
  virtual bool add_eos() const = 0;
  // "sentencepiece-bpe", "hf-bpe", "hf-byte-level-bpe", "gguf-llama", "gguf-gpt2", ...
  virtual std::string kind() const = 0;
};

// Loads a tokenizer from a file (tokenizer.model, tokenizer.json, *.gguf) or a model folder
// (tokenizer.json preferred, tokenizer.model as fallback, tokenizer_config.json for BOS/EOS
// settings and added tokens). Bad files fail with a message naming the file and what is wrong.
std::unique_ptr<Tokenizer> load_tokenizer(const std::string& path);

}  // namespace et
