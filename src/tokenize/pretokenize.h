// Pre-tokenizer steps: cut normalized text into words that the BPE model encodes one by one.
#pragma once
#include <string>
#include <vector>

#include "tokenizer_spec.h"

namespace et::tok {

struct Word {
  std::string text;
  bool at_start = false;  // begins at offset 0 of the original input (Metaspace "first")
};

std::vector<Word> pre_tokenize(std::string text, bool at_start,
                               const std::vector<PreTokenizerStep>& steps);

// GPT-2's pre-tokenizer pattern (the ByteLevel pre-tokenizer's use_regex).
const char* gpt2_pattern();

}  // namespace et::tok
