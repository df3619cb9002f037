// The token mask (token_mask.h): a walk of the vocabulary trie from the grammar's state.
#include "edgetune/eval/token_mask.h"

#include <algorithm>
#include <limits>

#include "edgetune/core/error.h"

namespace et {

namespace {


bool subset(const std::array<uint64_t, 4>& a, const std::array<uint64_t, 4>& b) {
  return ((a[0] & ~b[0]) | (a[1] & ~b[1]) | (a[2] & ~b[2]) | (a[3] & ~b[3])) == 0;
}
bool has_high(const std::array<uint64_t, 4>& a) { return (a[2] | a[3]) != 0; }

}  // namespace

ToolCallMask::ToolCallMask(std::shared_ptr<const TokenTrie> trie, std::shared_ptr<const CallGrammar> grammar,
                           std::vector<int64_t> stop_ids)
    : trie_(std::move(trie)), grammar_(std::move(grammar)), stop_ids_(std::move(stop_ids)) {
  ET_CHECK(trie_ && grammar_, "token_mask", "a mask needs a vocabulary trie and a grammar");
  state_ = grammar_->start();
  stack_.resize(trie_->max_bytes + 1);
  fits_.assign(stack_.size(), -1);
}

void ToolCallMask::mark(uint32_t node, bool own_only) {
  auto& bits = *bits_;
  const TokenTrie::Node& n = trie_->nodes[node];
  const int32_t big = own_only ? -1 : trie_->big[node];
  if (big >= 0) {
    const auto& b = trie_->big_bits[static_cast<size_t>(big)];
    for (size_t w = 0; w < b.size(); ++w) bits[w] |= b[w];
    return;
  }
  const int32_t* t = trie_->tokens.data();
  for (uint32_t i = n.token_begin, end = own_only ? n.own_end : n.token_end; i < end; ++i)
    bits[static_cast<size_t>(t[i] >> 6)] |= 1ull << (t[i] & 63);
}

bool ToolCallMask::fits(size_t slot, int64_t extra) {
  if (extra > 0) return grammar_->completion_length(stack_[slot]) + extra <= budget_;
  if (fits_[slot] < 0) fits_[slot] = grammar_->completion_length(stack_[slot]) <= budget_ ? 1 : 0;
  return fits_[slot] == 1;
}

void ToolCallMask::walk(uint32_t node, size_t slot) {
  const TokenTrie::Node& n = trie_->nodes[node];
  const CallState& s = stack_[slot];
  const auto* loop = grammar_->self_loop_bytes(s);
  if (loop && subset(n.below, *loop)) {
    if (n.utf8 || !has_high(n.below)) {
      // Every token below ends in this same state.
      if (fits(slot)) mark(node, false);
      return;
    }
    // Every token below ends in this state or inside a character (at most 3 bytes to go).
    if (n.utf8_prefix && has_high(*loop) && fits(slot, 3)) {
      mark(node, false);
      return;
    }
  }
  if (n.own_end > n.token_begin && fits(slot)) mark(node, true);
  for (uint32_t e = n.edge_begin; e < n.edge_end; ++e) {
    const uint8_t byte = trie_->edge_byte[e];
    if (loop && byte < 0x80 && (((*loop)[byte >> 6] >> (byte & 63)) & 1)) {
      walk(trie_->edge_child[e], slot);  // the byte leaves the state as it is
      continue;
    }
    CallState& next = stack_[slot + 1];
    copy_state(next, s);
    if (!grammar_->advance(next, byte)) continue;
    fits_[slot + 1] = -1;
    walk(trie_->edge_child[e], slot + 1);
  }
}

void ToolCallMask::walk_loop(uint32_t node, const std::array<uint64_t, 4>& loop) {
  const TokenTrie::Node& n = trie_->nodes[node];
  for (uint32_t e = n.edge_begin; e < n.edge_end; ++e) {
    const uint8_t byte = trie_->edge_byte[e];
    const uint32_t child = trie_->edge_child[e];
    const TokenTrie::Node& c = trie_->nodes[child];
    const bool looping = ((loop[byte >> 6] >> (byte & 63)) & 1) != 0;
    if (looping && subset(c.below, loop) && c.utf8_prefix) continue;  // all among the loop's tokens
    if (looping && byte < 0x80) {
      walk_loop(child, loop);  // the state is unchanged; this node's own tokens are marked
      continue;
    }
    CallState& next = stack_[1];
    copy_state(next, stack_[0]);
    if (!grammar_->advance(next, byte)) continue;
    fits_[1] = -1;
    walk(child, 1);
  }
}

void ToolCallMask::allowed(int64_t remaining, std::vector<uint64_t>& bits) {
  bits.assign(static_cast<size_t>((trie_->vocab + 63) / 64), 0);
  if (remaining <= 0) return;
  budget_ = remaining - 1;
  bits_ = &bits;
  copy_state(stack_[0], state_);
  std::fill(fits_.begin(), fits_.end(), -1);
  const auto* loop = grammar_->self_loop_bytes(state_);
  // A state that loops (text, a string's body) with room to finish a character: most tokens stay
  // in it, and they are known in advance.
  if (loop && fits(0, 3)) {
    const std::vector<uint64_t>& all = trie_->loop_tokens(*loop);
    for (size_t w = 0; w < bits.size(); ++w) bits[w] |= all[w];
    walk_loop(0, *loop);
  } else {
    walk(0, 0);
  }
  bits_ = nullptr;
  if (CallGrammar::at_text(state_))
    for (int64_t id : stop_ids_)
      if (id >= 0 && id < trie_->vocab) bits[static_cast<size_t>(id >> 6)] |= 1ull << (id & 63);
}

void ToolCallMask::apply(std::vector<float>& logits, int64_t remaining) {
  allowed(remaining, scratch_);
  const float neg = -std::numeric_limits<float>::infinity();
  const size_t n = logits.size(), v = static_cast<size_t>(trie_->vocab);
  bool any = false;
  // A word at a time: most words are all allowed or all refused.
  for (size_t w = 0; w * 64 < n; ++w) {
    const size_t begin = w * 64, end = std::min(n, begin + 64);
    const uint64_t word = begin < v ? scratch_[w] : 0;
    any = any || word != 0;
    if (word == ~0ull && end - begin == 64) continue;
    if (word == 0) {
      std::fill(logits.begin() + static_cast<std::ptrdiff_t>(begin), logits.begin() + static_cast<std::ptrdiff_t>(end), neg);
      continue;
    }
    for (size_t i = begin; i < end; ++i)
      if (!((word >> (i - begin)) & 1)) logits[i] = neg;
  }
  if (!any) fail("token_mask", "no token may come next (", remaining, " tokens left", state_.in_call ? ", inside a call" : "", ")");
}

void ToolCallMask::accept(int32_t id) {
  ET_CHECK(id >= 0 && id < trie_->vocab, "token_mask", "token id ", id, " is outside the vocabulary of ", trie_->vocab);
  if (trie_->special[static_cast<size_t>(id)]) {
    const bool stop = std::find(stop_ids_.begin(), stop_ids_.end(), id) != stop_ids_.end();
    ET_CHECK(stop && CallGrammar::at_text(state_), "token_mask", "special token ", id, " may not come here");
    return;
  }
  CallState next;
  copy_state(next, state_);
  if (!grammar_->advance(next, trie_->bytes[static_cast<size_t>(id)]))
    fail("token_mask", "token ", id, " does not continue the turn by the grammar");
  copy_state(state_, next);
}

}  // namespace et
