// The one Tokenizer implementation: runs a TokenizerSpec.
//   encode: [BOS] + for each piece of text between added tokens: normalize, split out the added
//           tokens that match normalized text, pre-tokenize, BPE each word + [EOS]
//   decode: see decode.h
#pragma once
#include <memory>

#include "added_tokens.h"
#include "edgetune/tokenize/tokenizer.h"
#include "tokenizer_spec.h"
#include "vocab_index.h"

namespace et::tok {

class PipelineTokenizer final : public Tokenizer {
 public:
  // Validates the spec (sizes agree, special ids and added-token ids inside the vocabulary);
  // errors name spec.path.
  explicit PipelineTokenizer(TokenizerSpec spec);

  std::vector<int32_t> encode(const std::string& text, bool add_special = false,
                              bool parse_special = false) const override;
  std::vector<int32_t> encode_continuation(const std::string& text, bool continuation) const override;
  std::string decode(const std::vector<int32_t>& ids, bool skip_special = true) const override;
  std::string id_to_piece(int32_t id) const override;
  std::optional<int32_t> piece_to_id(const std::string& piece) const override;
  bool is_special(int32_t id) const override;
  int32_t vocab_size() const override { return static_cast<int32_t>(spec_.pieces.size()); }
  int32_t bos_id() const override { return spec_.bos_id; }
  int32_t eos_id() const override { return spec_.eos_id; }
  int32_t pad_id() const override { return spec_.pad_id; }
  bool add_bos() const override { return spec_.add_bos; }
  bool add_eos() const override { return spec_.add_eos; }
  std::string kind() const override { return spec_.kind; }

  const TokenizerSpec& spec() const { return spec_; }

 private:
  void encode_words(const std::string& text, bool at_start, const std::vector<PreTokenizerStep>& pre,
                    std::vector<int32_t>& out) const;
  std::vector<int32_t> encode_impl(const std::string& text, bool add_special, bool parse_special,
                                   bool continuation) const;

  TokenizerSpec spec_;
  VocabIndex idx_;
  AddedTokenMatcher raw_matcher_;         // added tokens matched in the input text
  AddedTokenMatcher normalized_matcher_;  // added tokens matched after normalization
  bool lossy_input_ = true;               // repair invalid UTF-8 before anything else
  // The pipeline without any dummy-prefix step, for encode_continuation.
  std::vector<NormalizerStep> cont_normalizers_;
  std::vector<PreTokenizerStep> cont_pre_tokenizers_;
};

}  // namespace et::tok
