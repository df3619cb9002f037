// See pipeline_tokenizer.h. Input that is not valid UTF-8 is repaired first (U+FFFD per maximal
// invalid subsequence, as a Rust String would be) unless the first normalizer is SentencePiece's,
// which replaces invalid bytes itself, one at a time.
#include "pipeline_tokenizer.h"

#include "bpe_models.h"
#include "decode.h"
#include "edgetune/core/error.h"
#include "normalize.h"
#include "pretokenize.h"
#include "utf8.h"

namespace et::tok {

PipelineTokenizer::PipelineTokenizer(TokenizerSpec spec) : spec_(std::move(spec)) {
  const std::string& path = spec_.path;
  const auto n = static_cast<int64_t>(spec_.pieces.size());
  if (n == 0) fail("tokenizer", path, ": the vocabulary is empty");
  if (static_cast<int64_t>(spec_.types.size()) != n)
    fail("tokenizer", path, ": ", spec_.types.size(), " piece types for ", n, " pieces");
  if (spec_.model == ModelKind::sentencepiece_bpe && static_cast<int64_t>(spec_.scores.size()) != n)
    fail("tokenizer", path, ": ", spec_.scores.size(), " scores for ", n, " pieces");
  auto check = [&](int32_t id, const char* what) {
    if (id < -1 || id >= n) fail("tokenizer", path, ": ", what, " ", id, " is outside the vocabulary of ", n);
  };
  check(spec_.unk_id, "unk id");
  check(spec_.bos_id, "bos id");
  check(spec_.eos_id, "eos id");
  check(spec_.pad_id, "pad id");
  if (spec_.add_bos && spec_.bos_id < 0) fail("tokenizer", path, ": adds BOS but has no BOS token");
  if (spec_.add_eos && spec_.eos_id < 0) fail("tokenizer", path, ": adds EOS but has no EOS token");
  for (const auto& t : spec_.added_tokens) {
    if (t.id < 0 || t.id >= n)
      fail("tokenizer", path, ": added token '", t.content, "' has id ", t.id, " outside the vocabulary of ", n);
    if (t.content.empty()) fail("tokenizer", path, ": added token ", t.id, " is empty");
  }
  idx_ = build_vocab_index(spec_);

  std::vector<AddedToken> raw, normalized;
  std::vector<std::string> raw_patterns, normalized_patterns;
  for (const auto& t : spec_.added_tokens) {
    if (t.normalized) {
      normalized.push_back(t);
      normalized_patterns.push_back(normalize(t.content, spec_.normalizers, nullptr));
      if (normalized_patterns.back() != t.content) spec_.decode_as[t.id] = normalized_patterns.back();
    } else {
      raw.push_back(t);
      raw_patterns.push_back(t.content);
    }
  }
  raw_matcher_ = AddedTokenMatcher(raw, raw_patterns);
  normalized_matcher_ = AddedTokenMatcher(normalized, normalized_patterns);
  lossy_input_ = spec_.normalizers.empty() ||
                 spec_.normalizers.front().kind != NormalizerStep::Kind::sentencepiece;
  for (NormalizerStep n : spec_.normalizers) {
    if (n.kind == NormalizerStep::Kind::prepend) continue;
    if (n.kind == NormalizerStep::Kind::sentencepiece) n.add_dummy_prefix = false;
    cont_normalizers_.push_back(n);
  }
  for (PreTokenizerStep p : spec_.pre_tokenizers) {
    if (p.kind == PreTokenizerStep::Kind::metaspace) p.prepend = PreTokenizerStep::Prepend::never;
    if (p.kind == PreTokenizerStep::Kind::byte_level) p.add_prefix_space = false;
    cont_pre_tokenizers_.push_back(p);
  }
}

void PipelineTokenizer::encode_words(const std::string& text, bool at_start,
                                     const std::vector<PreTokenizerStep>& pre, std::vector<int32_t>& out) const {
  for (const Word& w : pre_tokenize(text, at_start, pre)) {
    if (spec_.model == ModelKind::sentencepiece_bpe) spm_bpe_encode(w.text, spec_, idx_, out);
    else merges_bpe_encode(w.text, spec_, idx_, out);
  }
}

std::vector<int32_t> PipelineTokenizer::encode(const std::string& text, bool add_special,
                                               bool parse_special) const {
  return encode_impl(text, add_special, parse_special, false);
}

std::vector<int32_t> PipelineTokenizer::encode_continuation(const std::string& text, bool continuation) const {
  return encode_impl(text, false, true, continuation);
}

// With continuation, only the text at offset 0 continues the earlier text (no dummy prefix); text
// after an added token inside `text` is encoded exactly as in a whole-text encode.
std::vector<int32_t> PipelineTokenizer::encode_impl(const std::string& text, bool add_special, bool parse_special,
                                                    bool continuation) const {
  std::vector<int32_t> ids;
  if (add_special && spec_.add_bos) ids.push_back(spec_.bos_id);
  const std::string input = lossy_input_ && !utf8_is_valid(text) ? utf8_lossy(text) : text;
  const VocabIndex* frozen = spec_.freeze_user_defined ? &idx_ : nullptr;
  bool leading = continuation;  // the next piece of text still continues the earlier text
  for (const Segment& seg : raw_matcher_.split(input, !continuation, parse_special)) {
    const bool cont = leading;
    leading = false;
    if (seg.id >= 0) {
      ids.push_back(seg.id);
      continue;
    }
    std::string norm = normalize(seg.text, cont ? cont_normalizers_ : spec_.normalizers, frozen);
    if (normalized_matcher_.empty()) {
      encode_words(norm, seg.at_start, cont ? cont_pre_tokenizers_ : spec_.pre_tokenizers, ids);
      continue;
    }
    bool first_sub = cont;
    for (const Segment& sub : normalized_matcher_.split(norm, seg.at_start, parse_special)) {
      const bool sub_cont = first_sub;
      first_sub = false;
      if (sub.id >= 0) ids.push_back(sub.id);
      else encode_words(sub.text, sub.at_start, sub_cont ? cont_pre_tokenizers_ : spec_.pre_tokenizers, ids);
    }
  }
  if (add_special && spec_.add_eos) ids.push_back(spec_.eos_id);
  return ids;
}

std::string PipelineTokenizer::decode(const std::vector<int32_t>& ids, bool skip_special) const {
  return decode_ids(ids, skip_special, spec_);
}

std::string PipelineTokenizer::id_to_piece(int32_t id) const {
  if (id < 0 || id >= vocab_size())
    fail("tokenizer", spec_.path, ": id ", id, " is outside the vocabulary of ", vocab_size());
  return spec_.pieces[id];
}

std::optional<int32_t> PipelineTokenizer::piece_to_id(const std::string& piece) const {
  int32_t id = idx_.find(piece);
  if (id < 0) return std::nullopt;
  return id;
}

bool PipelineTokenizer::is_special(int32_t id) const {
  if (id < 0 || id >= vocab_size()) return false;
  const PieceType t = spec_.types[id];
  return t == PieceType::control || t == PieceType::unknown;
}

}  // namespace et::tok
