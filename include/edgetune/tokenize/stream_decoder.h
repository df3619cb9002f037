// Decoding while generating: push one id at a time and get the text it adds. A character split
// across byte tokens (byte fallback, byte-level BPE) is held back until its last byte arrives, and
// start-of-text rules (the dropped dummy-prefix space) apply once, so the pieces concatenate to
// exactly decode(all ids). Constant work per id for the tokenizers load_tokenizer returns.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "edgetune/tokenize/tokenizer.h"

namespace et {

namespace tok {
class DecodeStream;
}

class StreamDecoder {
 public:
  explicit StreamDecoder(const Tokenizer& tokenizer, bool skip_special = true);
  // The text that appending `id` adds; empty while it ends inside a character.
  std::string push(int32_t id);
  // The text still held back, with U+FFFD for bytes that can no longer complete a character;
  // the decoder then starts afresh (a new text).
  std::string flush();

 private:
  const Tokenizer& tok_;
  bool skip_special_;
  std::shared_ptr<tok::DecodeStream> stream_;  // our tokenizers
  std::vector<int32_t> ids_;                   // any other Tokenizer: everything pushed
  std::string emitted_;                        // ... and the text given out so far
};

}  // namespace et
