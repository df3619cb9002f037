// What every tokenizer source (tokenizer.model, tokenizer.json, GGUF keys) is turned into: the
// vocabulary with piece types, the added tokens split out before the model, the normalizer and
// pre-tokenizer steps, the BPE model (SentencePiece scores or ranked merges) and the decoder.
// PipelineTokenizer runs it; the loaders only fill it in.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "regex_split.h"

namespace et::tok {

// SentencePiece's piece types; GGUF's tokenizer.ggml.token_type uses the same numbers.
enum class PieceType : uint8_t {
  normal = 1, unknown = 2, control = 3, user_defined = 4, unused = 5, byte = 6,
};

inline constexpr const char* kSpaceSymbol = "\xE2\x96\x81";  // U+2581 '▁'

struct AddedToken {
  std::string content;
  int32_t id = -1;
  bool special = false;     // matched only with parse_special; dropped by decode(skip_special)
  bool lstrip = false;      // also swallows the whitespace on its left
  bool rstrip = false;      // ... and on its right
  bool single_word = false; // only matches when not inside a word
  bool normalized = false;  // matched in the normalized text (Hugging Face semantics)
};

struct NormalizerStep {
  enum class Kind { sentencepiece, prepend, replace, nfc, strip };
  Kind kind = Kind::prepend;
  // sentencepiece: SentencePiece's normalizer without a character map.
  bool add_dummy_prefix = true, remove_extra_whitespaces = false, escape_whitespaces = true;
  bool whitespace_as_suffix = false;
  // prepend: `text`; replace: `text` (a literal) or `regex`, replaced by `content`.
  std::string text, content;
  std::shared_ptr<const Regex> regex;
  // strip: Unicode whitespace on the left / right.
  bool left = false, right = false;
};

struct PreTokenizerStep {
  enum class Kind { split, metaspace, byte_level, digits };
  enum class Prepend { always, first, never };
  Kind kind = Kind::split;
  // split: the pattern and what happens to its matches.
  std::shared_ptr<const Regex> regex;
  SplitBehavior behavior = SplitBehavior::isolated;
  bool invert = false;
  // metaspace
  std::string replacement = kSpaceSymbol;
  Prepend prepend = Prepend::always;
  bool split = true;
  // byte_level: optional ' ' prefix, optional GPT-2 regex split, then bytes -> characters.
  bool add_prefix_space = false;
  bool use_regex = true;
  // digits
  bool individual_digits = false;
};

struct DecoderSpec {
  // Applied to the text of each piece that is not a byte piece or an added token ("▁" -> " ").
  std::vector<std::pair<std::string, std::string>> replacements;
  bool byte_fallback = false;  // "<0xXX>" pieces are raw bytes (one U+FFFD per invalid byte)
  bool byte_runs_whole = false;  // ... or, as Hugging Face's ByteFallback decoder, U+FFFD for
                                 // every byte of a run of byte pieces that is not all valid
  bool byte_level = false;     // pieces are GPT-2 byte-level strings (lossy UTF-8 at the end)
  bool raw_added_tokens = false;  // control and user-defined pieces are text as is (llama.cpp)
  enum class Strip {
    none,
    first_piece_space,      // SentencePiece: the first normal piece loses one leading "▁"
    leading,                // Hugging Face Strip decoder: up to `strip_start` leading spaces
    metaspace_first_token,  // Hugging Face Metaspace decoder: "▁" in the first token vanish
  };
  Strip strip = Strip::none;
  bool strip_every_leading_piece = false;  // first_piece_space: every piece before the first text
  int strip_start = 0;
  int strip_stop = 0;  // trailing spaces removed (Hugging Face Strip decoder)
  std::string metaspace_replacement = kSpaceSymbol;
};

enum class ModelKind { sentencepiece_bpe, merges_bpe };

struct TokenizerSpec {
  std::string kind;  // Tokenizer::kind()
  std::string path;  // the file, for messages

  std::vector<std::string> pieces;  // id -> piece as the model sees it ("▁the", "Ġthe", "<0x0A>")
  std::vector<float> scores;        // SentencePiece scores (empty for merges_bpe)
  std::vector<PieceType> types;
  // Ids of added tokens that are not part of the model's own vocabulary (Hugging Face): the BPE
  // model never produces or looks them up. Empty: every id is a model piece.
  std::vector<bool> added_only;
  int32_t unk_id = -1, bos_id = -1, eos_id = -1, pad_id = -1;
  bool add_bos = false, add_eos = false;

  std::vector<AddedToken> added_tokens;
  std::vector<NormalizerStep> normalizers;
  std::vector<PreTokenizerStep> pre_tokenizers;

  ModelKind model = ModelKind::sentencepiece_bpe;
  bool byte_fallback = false;
  // sentencepiece_bpe: user-defined pieces are matched whole and never merged (SentencePiece).
  bool freeze_user_defined = false;
  // merges_bpe: (left id, right id) -> (rank, merged id); lower rank merges first.
  std::unordered_map<uint64_t, std::pair<int32_t, int32_t>> merges;
  bool ignore_merges = false;  // a word that is itself a piece is not split
  bool fuse_unk = false;       // consecutive unknown characters become one unk

  DecoderSpec decoder;
  // Text decode uses instead of the piece: Hugging Face decodes an added token that matches in
  // normalized text as its normalized form (" ok" under Prepend("▁") reads back as "▁▁ok").
  std::unordered_map<int32_t, std::string> decode_as;
};

inline uint64_t merge_key(int32_t left, int32_t right) {
  return (static_cast<uint64_t>(static_cast<uint32_t>(left)) << 32) | static_cast<uint32_t>(right);
}

}  // namespace et::tok
