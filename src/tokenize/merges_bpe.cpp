// Ranked-merges BPE, following Hugging Face tokenizers' models/bpe (merge_word + Word::merge_all)
// and llama.cpp's llm_tokenizer_bpe_session: each character is a symbol (a character that is not
// a piece becomes its <0xXX> byte pieces when all exist and byte fallback is on, else unk, runs of
// unk fused with fuse_unk, else it is dropped); the pair with the lowest merge rank merges first.
#include "bpe_merge.h"
#include "bpe_models.h"
#include "utf8.h"

namespace et::tok {

void merges_bpe_encode(std::string_view word, const TokenizerSpec& spec, const VocabIndex& idx,
                       std::vector<int32_t>& out) {
  if (word.empty()) return;
  if (spec.ignore_merges) {
    int32_t id = idx.find_model(word);
    if (id >= 0) {
      out.push_back(id);
      return;
    }
  }
  std::vector<BpeSymbol> symbols;
  for (size_t pos = 0; pos < word.size();) {
    char32_t cp;
    size_t n = utf8_decode(word, pos, &cp);
    if (n == 0) n = 1;
    const auto begin = static_cast<uint32_t>(pos);
    const auto end = static_cast<uint32_t>(pos + n);
    int32_t id = idx.find_model(word.substr(pos, n));
    pos += n;
    if (id >= 0) {
      symbols.push_back({begin, end, id, false});
      continue;
    }
    if (spec.byte_fallback) {
      bool all = true;
      for (uint32_t k = begin; k < end; ++k) all = all && idx.byte_ids[static_cast<uint8_t>(word[k])] >= 0;
      if (all) {
        for (uint32_t k = begin; k < end; ++k)
          symbols.push_back({k, k + 1, idx.byte_ids[static_cast<uint8_t>(word[k])], false});
        continue;
      }
    }
    if (spec.unk_id < 0) continue;
    if (spec.fuse_unk && !symbols.empty() && symbols.back().id == spec.unk_id &&
        symbols.back().end == begin) {
      symbols.back().end = end;
      continue;
    }
    symbols.push_back({begin, end, spec.unk_id, false});
  }
  auto rank_of = [&](const BpeSymbol& l, const BpeSymbol& r, double* rank, int32_t* merged) {
    auto it = spec.merges.find(merge_key(l.id, r.id));
    if (it == spec.merges.end()) return false;
    *rank = it->second.first;
    *merged = it->second.second;
    return true;
  };
  for (const BpeSymbol& s : bpe_merge(symbols, rank_of)) out.push_back(s.id);
}

}  // namespace et::tok
