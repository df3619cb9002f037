// The BPE merge loop shared by every model: symbols (spans of one word) sit in a linked list;
// a priority queue holds the adjacent pairs that may merge, keyed by rank (lower first) and then
// by position (leftmost first); popping a pair that is still current merges it and queues the
// two new neighbours. O(n log n) in the number of symbols. SentencePiece (score = -rank),
// Hugging Face tokenizers and llama.cpp all order merges this way.
#pragma once
#include <cstdint>
#include <functional>
#include <vector>

namespace et::tok {

struct BpeSymbol {
  uint32_t begin = 0, end = 0;  // byte span in the word
  int32_t id = -1;              // current piece id (-1: none)
  bool frozen = false;          // never merges (SentencePiece user-defined pieces)
};

// Whether `left` and `right` merge; if so, their rank (lower merges first) and the merged id.
using PairRank =
    std::function<bool(const BpeSymbol& left, const BpeSymbol& right, double* rank, int32_t* merged)>;

std::vector<BpeSymbol> bpe_merge(const std::vector<BpeSymbol>& symbols, const PairRank& rank_of);

}  // namespace et::tok
