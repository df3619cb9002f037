// Lookup tables over a TokenizerSpec's pieces, built once per tokenizer.
#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "tokenizer_spec.h"

namespace et::tok {

struct VocabIndex {
  // Every piece -> id. Control, unknown and byte pieces take precedence over others with the
  // same text (SentencePiece's PieceToId looks in its reserved map first); otherwise the first
  // id wins.
  std::unordered_map<std::string, int32_t> any;
  // The pieces the model itself knows (all but spec.added_only ones), for its lookups.
  std::unordered_map<std::string, int32_t> model;
  // Pieces a SentencePiece merge may produce: normal, user-defined and unused ones.
  std::unordered_map<std::string, int32_t> mergeable;
  // "<0xXX>" byte pieces; -1 when absent.
  std::array<int32_t, 256> byte_ids{};
  // User-defined pieces by first byte, longest first (SentencePiece's prefix matcher).
  std::array<std::vector<std::pair<std::string, int32_t>>, 256> user_defined_by_first_byte;

  int32_t find(std::string_view piece) const;        // any piece; -1 when absent
  int32_t find_model(std::string_view piece) const;  // a model piece; -1 when absent
  // Length of the longest user-defined piece at text[pos..] and its id; 0 when none.
  size_t match_user_defined(std::string_view text, size_t pos, int32_t* id) const;
};

VocabIndex build_vocab_index(const TokenizerSpec& spec);

}  // namespace et::tok
