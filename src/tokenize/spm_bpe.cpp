// SentencePiece BPE encoding, following sentencepiece's bpe_model.cc (Model::SampleEncode without
// dropout) and the byte fallback of SentencePieceProcessor::Encode:
//   score(pair) = score of the piece equal to left+right, when that piece is normal,
//   user-defined or unused; the best (highest) score merges first, ties go to the leftmost pair.
//   rev_merge[piece] remembers the last pair offered for an unused piece, to split it again.
#include <map>
#include <string>

#include "bpe_merge.h"
#include "bpe_models.h"
#include "utf8.h"

namespace et::tok {

void spm_bpe_encode(std::string_view text, const TokenizerSpec& spec, const VocabIndex& idx,
                    std::vector<int32_t>& out) {
  std::vector<BpeSymbol> symbols;
  for (size_t pos = 0; pos < text.size();) {
    BpeSymbol s;
    s.begin = static_cast<uint32_t>(pos);
    int32_t id = -1;
    size_t n = spec.freeze_user_defined ? idx.match_user_defined(text, pos, &id) : 0;
    if (n > 0) {
      s.frozen = true;
      s.id = id;
    } else {
      char32_t cp;
      n = utf8_decode(text, pos, &cp);
      if (n == 0) n = 1;
    }
    pos += n;
    s.end = static_cast<uint32_t>(pos);
    symbols.push_back(s);
  }

  std::map<std::string, std::pair<std::string, std::string>> rev_merge;
  auto rank_of = [&](const BpeSymbol& l, const BpeSymbol& r, double* rank, int32_t* merged) {
    std::string piece(text.substr(l.begin, r.end - l.begin));
    auto it = idx.mergeable.find(piece);
    if (it == idx.mergeable.end()) return false;
    *rank = -static_cast<double>(spec.scores[it->second]);
    *merged = it->second;
    if (spec.types[it->second] == PieceType::unused)
      rev_merge[piece] = {std::string(text.substr(l.begin, l.end - l.begin)),
                          std::string(text.substr(r.begin, r.end - r.begin))};
    return true;
  };
  std::vector<BpeSymbol> merged = bpe_merge(symbols, rank_of);

  // Emits one final piece: unused pieces split back, unknown text as bytes or unk.
  std::function<void(const std::string&)> emit = [&](const std::string& piece) {
    const int32_t id = idx.find_model(piece);
    if (id >= 0 && spec.types[id] == PieceType::unused) {
      auto it = rev_merge.find(piece);
      if (it != rev_merge.end()) {
        emit(it->second.first);
        emit(it->second.second);
        return;
      }
    }
    if (id >= 0) {
      out.push_back(id);
      return;
    }
    if (spec.byte_fallback) {
      for (char c : piece) {
        int32_t b = idx.byte_ids[static_cast<uint8_t>(c)];
        if (b >= 0) out.push_back(b);
        else if (spec.unk_id >= 0) out.push_back(spec.unk_id);
      }
      return;
    }
    if (spec.unk_id >= 0) out.push_back(spec.unk_id);
  };
  // Adjacent symbols that are not pieces are spelled as one unknown run (libsentencepiece
  // emits a single unk for "Fü" when neither character is a piece; with byte fallback the bytes
  // are the same either way).
  for (size_t i = 0; i < merged.size();) {
    const BpeSymbol& s = merged[i];
    std::string piece(text.substr(s.begin, s.end - s.begin));
    if (s.frozen) {
      out.push_back(s.id);
      ++i;
      continue;
    }
    size_t j = i + 1;
    if (idx.find_model(piece) < 0) {
      while (j < merged.size() && !merged[j].frozen &&
             idx.find_model(text.substr(merged[j].begin, merged[j].end - merged[j].begin)) < 0) {
        piece.append(text.substr(merged[j].begin, merged[j].end - merged[j].begin));
        ++j;
      }
    }
    emit(piece);
    i = j;
  }
}

}  // namespace et::tok
