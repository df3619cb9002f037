// Builds VocabIndex; see vocab_index.h for the precedence rules.
#include "vocab_index.h"

#include <algorithm>

namespace et::tok {

int32_t VocabIndex::find(std::string_view piece) const {
  auto it = any.find(std::string(piece));
  return it == any.end() ? -1 : it->second;
}

int32_t VocabIndex::find_model(std::string_view piece) const {
  auto it = model.find(std::string(piece));
  return it == model.end() ? -1 : it->second;
}

size_t VocabIndex::match_user_defined(std::string_view text, size_t pos, int32_t* id) const {
  for (const auto& [piece, pid] : user_defined_by_first_byte[static_cast<uint8_t>(text[pos])]) {
    if (text.compare(pos, piece.size(), piece) == 0) {
      *id = pid;
      return piece.size();
    }
  }
  return 0;
}

VocabIndex build_vocab_index(const TokenizerSpec& spec) {
  VocabIndex idx;
  idx.byte_ids.fill(-1);
  const int32_t n = static_cast<int32_t>(spec.pieces.size());
  auto reserved = [](PieceType t) {
    return t == PieceType::control || t == PieceType::unknown || t == PieceType::byte;
  };
  for (int pass = 0; pass < 2; ++pass) {
    for (int32_t id = 0; id < n; ++id) {
      if (reserved(spec.types[id]) != (pass == 0)) continue;
      if (spec.pieces[id].empty()) continue;
      idx.any.emplace(spec.pieces[id], id);
      if (spec.added_only.empty() || !spec.added_only[id]) idx.model.emplace(spec.pieces[id], id);
    }
  }
  for (int32_t id = 0; id < n; ++id) {
    const PieceType t = spec.types[id];
    const bool model_piece = spec.added_only.empty() || !spec.added_only[id];
    if (model_piece && (t == PieceType::normal || t == PieceType::user_defined || t == PieceType::unused))
      idx.mergeable.emplace(spec.pieces[id], id);
    if (t == PieceType::user_defined && !spec.pieces[id].empty())
      idx.user_defined_by_first_byte[static_cast<uint8_t>(spec.pieces[id][0])].emplace_back(
          spec.pieces[id], id);
  }
  for (auto& list : idx.user_defined_by_first_byte)
    std::stable_sort(list.begin(), list.end(), [](const auto& a, const auto& b) {
      return a.first.size() > b.first.size();
    });
  static const char* hex = "0123456789ABCDEF";
  for (int b = 0; b < 256; ++b) {
    std::string piece = std::string("<0x") + hex[b >> 4] + hex[b & 15] + ">";
    auto it = idx.any.find(piece);
    if (it != idx.any.end()) idx.byte_ids[b] = it->second;
  }
  return idx;
}

}  // namespace et::tok
