// Ids back to text, per the spec's decoder, one id at a time: DecodeStream is exact for
// streaming (the text it yields, concatenated, is decode_ids of all ids) because decode_ids is
// DecodeStream run over the whole list.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "tokenizer_spec.h"
#include "utf8.h"

namespace et::tok {

class DecodeStream {
 public:
  DecodeStream(const TokenizerSpec& spec, bool skip_special);
  // Appends the text that `id` completes. Throws for an id outside the vocabulary.
  void push(int32_t id, std::string& out);
  // Appends what is still held back (incomplete characters become U+FFFD) and resets nothing:
  // call once at the end.
  void finish(std::string& out);

 private:
  void emit(std::string text, std::string& out);
  const TokenizerSpec& spec_;
  bool skip_special_;
  Utf8Assembler bytes_;
  bool first_token_ = true;
  bool bos_space_ = true;     // no dummy-prefix "▁" dropped yet
  bool produced_ = false;     // some text has been produced (before any start-of-text strip)
  int leading_left_ = 0;      // leading spaces the Strip decoder may still remove
  std::string held_spaces_;   // trailing spaces the Strip decoder may remove at the end
};

// Special ids are control and unknown pieces (and special added tokens, which loaders type as
// control); skip_special drops them, otherwise their text is copied as is. Ids outside the
// vocabulary are an error naming the id.
std::string decode_ids(const std::vector<int32_t>& ids, bool skip_special, const TokenizerSpec& spec);

// The bytes `id` adds when it follows other text (none of the start-of-text rules), before the
// bytes are assembled into characters: a byte piece's byte, a byte-level piece's bytes, another
// piece with the decoder's replacements. Special ids (control, unknown) give their text as decode
// with skip_special = false writes it; *special tells which they are.
std::string piece_bytes(const TokenizerSpec& spec, int32_t id, bool* special);

}  // namespace et::tok
