// Per-token bytes (token_bytes.h): from the spec's pieces for our tokenizers; for any other
// Tokenizer implementation, the text decode gives a token after a plain letter, minus that letter's.
#include "edgetune/tokenize/token_bytes.h"

#include "decode.h"
#include "pipeline_tokenizer.h"

namespace et {

TokenBytes token_bytes(const Tokenizer& tok) {
  TokenBytes out;
  const int32_t n = tok.vocab_size();
  out.bytes.resize(static_cast<size_t>(n));
  out.special.resize(static_cast<size_t>(n));
  if (const auto* p = dynamic_cast<const tok::PipelineTokenizer*>(&tok)) {
    for (int32_t id = 0; id < n; ++id) {
      bool special = false;
      out.bytes[static_cast<size_t>(id)] = tok::piece_bytes(p->spec(), id, &special);
      out.special[static_cast<size_t>(id)] = special;
    }
    return out;
  }
  const std::vector<int32_t> anchor = tok.encode("a", false, false);
  const std::string anchor_text = tok.decode(anchor, false);
  for (int32_t id = 0; id < n; ++id) {
    std::vector<int32_t> ids = anchor;
    ids.push_back(id);
    std::string text = tok.decode(ids, false);
    out.bytes[static_cast<size_t>(id)] =
        text.compare(0, anchor_text.size(), anchor_text) == 0 ? text.substr(anchor_text.size()) : text;
    out.special[static_cast<size_t>(id)] = tok.is_special(id);
  }
  return out;
}

}  // namespace et
