// Normalizer steps, applied in order to each piece of text between added tokens.
#pragma once
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer_spec.h"
#include "vocab_index.h"

namespace et::tok {

// SentencePiece's normalizer (normalizer.cc) with an identity character map: invalid UTF-8
// bytes become U+FFFD one byte at a time; with remove_extra_whitespaces leading, trailing and
// repeated spaces go; a dummy "▁" goes in front (or at the end with whitespace_as_suffix) of
// non-empty text; spaces become "▁". User-defined pieces (when `idx` is given and the model
// freezes them) are copied verbatim.
std::string spm_normalize(std::string_view text, const NormalizerStep& step, const VocabIndex* idx);

std::string normalize(std::string_view text, const std::vector<NormalizerStep>& steps,
                      const VocabIndex* idx);

}  // namespace et::tok
