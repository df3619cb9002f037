// The two BPE models. Both append piece ids for one word (SentencePiece: the whole normalized
// segment) to `out`.
#pragma once
#include <cstdint>
#include <string_view>
#include <vector>

#include "tokenizer_spec.h"
#include "vocab_index.h"

namespace et::tok {

// SentencePiece BPE (bpe_model.cc): start from characters (and whole user-defined pieces when
// spec.freeze_user_defined), repeatedly merge the adjacent pair whose concatenation is a
// normal/user-defined/unused piece of the highest score (ties: leftmost), split unused pieces
// back into the pair that formed them, and spell what is not a piece as <0xXX> byte pieces
// (byte fallback) or unk.
void spm_bpe_encode(std::string_view text, const TokenizerSpec& spec, const VocabIndex& idx,
                    std::vector<int32_t>& out);

// Ranked-merges BPE (Hugging Face tokenizers, llama.cpp's BPE vocabularies): characters map to
// pieces (or to <0xXX> pieces with byte fallback, or to unk); merges apply by rank (ties:
// leftmost). With ignore_merges a word that is itself a piece is emitted whole.
void merges_bpe_encode(std::string_view word, const TokenizerSpec& spec, const VocabIndex& idx,
                       std::vector<int32_t>& out);

}  // namespace et::tok
