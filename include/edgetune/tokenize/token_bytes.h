// The bytes each token adds to a text it continues: what constrained decoding matches tokens
// by (eval/token_mask.h). A token in the middle of generated text contributes its piece's bytes
// with none of the start-of-text rules (the dropped dummy-prefix space, a Strip decoder's leading
// spaces); a byte-fallback piece "<0x7B>" is the one byte 0x7B, a byte-level piece "Ġ{" the bytes
// " {", so the concatenation of the tokens' bytes, read as UTF-8, is the decoded text wherever it
// is valid UTF-8.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "edgetune/tokenize/tokenizer.h"

namespace et {

struct TokenBytes {
  std::vector<std::string> bytes;  // by id
  std::vector<bool> special;       // control and unknown tokens (BOS, EOS, <|im_end|>, ...): no text of their own
};

TokenBytes token_bytes(const Tokenizer& tokenizer);

}  // namespace et
