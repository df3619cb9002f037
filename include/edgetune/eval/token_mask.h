// Constrained decoding over a tokenizer's vocabulary: which tokens may come next so that the turn
// stays inside the call grammar (eval/call_grammar.h).
//
// TokenTrie is built once per tokenizer: every token's bytes (tokenize/token_bytes.h) in a byte
// trie whose nodes are numbered depth first, so the tokens below a node are one range of
// `tokens`; each node knows the bytes on the edges below it and whether all its tokens are valid
// UTF-8. ToolCallMask walks that trie from the grammar's state, one matcher state per depth,
// cutting a branch at the first byte the grammar refuses. Where the state can only loop (plain
// text, the body of a string) and every byte below a node is one the state loops on, the whole
// subtree is accepted without visiting it: in the common, permissive states the walk touches a
// few hundred nodes instead of the whole vocabulary. Where the loop takes every byte >= 0x80, a
// subtree of tokens that are valid UTF-8 but for an incomplete last character is accepted whole
// too, when the budget has room for the up to 3 bytes that would complete the character.
//
// With a token budget (the tokens left, this one included) a token is allowed only when the call
// it leaves open can still be completed in the tokens after it (at one byte per token at worst,
// CallGrammar::completion_length), so a turn that runs out of tokens still ends in text. Special
// tokens are allowed only when they are stop ids and the turn is in text.
#pragma once
#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include "edgetune/eval/call_grammar.h"
#include "edgetune/tokenize/token_bytes.h"

namespace et {

struct TokenTrie {
  struct Node {
    uint32_t edge_begin = 0, edge_end = 0;                // into edge_byte / edge_child
    uint32_t token_begin = 0, own_end = 0, token_end = 0; // into tokens: own, then the subtree
    bool utf8 = true;                                     // every token below is valid UTF-8
    bool utf8_prefix = true;                              // ... but for an incomplete last character
    std::array<uint64_t, 4> below{};                      // bytes on the edges below
  };
  std::vector<Node> nodes;  // nodes[0]: the root (the empty prefix)
  std::vector<uint8_t> edge_byte;
  std::vector<uint32_t> edge_child;
  std::vector<int32_t> tokens;  // ids in depth-first order
  std::vector<bool> special;    // by id
  int32_t vocab = 0;
  size_t max_bytes = 0;         // the longest token
  std::vector<std::string> bytes;  // by id
  // Nodes with many tokens below keep them as a bitset over the vocabulary, so accepting the
  // subtree is a few hundred word ORs: big[node] indexes into big_bits (-1: none).
  std::vector<int32_t> big;
  std::vector<std::vector<uint64_t>> big_bits;
  static constexpr uint32_t kBigSubtree = 256;

  explicit TokenTrie(const TokenBytes& token_bytes);

  // The tokens whose every byte is in `loop` (bit b of word b/64) and that are valid UTF-8 but for
  // an incomplete last character: what a state that loops on those bytes takes without changing
  // (or, at most, waiting for the rest of a character). Computed once per set and kept
  // (thread-safe); a mask at such a state starts from it.
  const std::vector<uint64_t>& loop_tokens(const std::array<uint64_t, 4>& loop) const;

 private:
  mutable std::mutex loop_mutex_;
  mutable std::map<std::array<uint64_t, 4>, std::vector<uint64_t>> loop_cache_;
};

class ToolCallMask {
 public:
  ToolCallMask(std::shared_ptr<const TokenTrie> trie, std::shared_ptr<const CallGrammar> grammar,
               std::vector<int64_t> stop_ids);

  // Bit id of `bits` (resized to the vocabulary) set when the token may come next with
  // `remaining` tokens left, this one included.
  void allowed(int64_t remaining, std::vector<uint64_t>& bits);
  // The logits of the tokens that may not come next set to -infinity (ids past the vocabulary
  // too). Throws when no token may come next.
  void apply(std::vector<float>& logits, int64_t remaining);
  // The token chosen: the grammar moves on by its bytes. Throws for a token it refuses.
  void accept(int32_t id);

  const CallState& state() const { return state_; }
  const CallGrammar& grammar() const { return *grammar_; }
  bool in_call() const { return state_.in_call != 0; }

 private:
  // stack_[slot] is the state after the node's bytes (states that only loop are shared by the
  // nodes below them, so slots grow only where the state changes).
  void walk(uint32_t node, size_t slot);
  // At a root state that loops on `loop`, once its loop_tokens are marked: visits only what leaves
  // the loop (the nodes on paths to other bytes).
  void walk_loop(uint32_t node, const std::array<uint64_t, 4>& loop);
  bool fits(size_t slot, int64_t extra = 0);
  void mark(uint32_t node, bool own_only);

  std::shared_ptr<const TokenTrie> trie_;
  std::shared_ptr<const CallGrammar> grammar_;
  std::vector<int64_t> stop_ids_;
  CallState state_;
  std::vector<CallState> stack_;  // the matcher states of the walk
  std::vector<int8_t> fits_;      // per slot: -1 not known yet, else whether its call fits the budget
  std::vector<uint64_t>* bits_ = nullptr;
  std::vector<uint64_t> scratch_;
  int64_t budget_ = 0;
};

}  // namespace et
