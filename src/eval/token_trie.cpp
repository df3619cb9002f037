// The vocabulary's byte trie (token_mask.h), numbered depth first.
#include <algorithm>

#include "edgetune/eval/token_mask.h"

namespace et {

namespace {

// Whether `s` is UTF-8 as the call grammar reads it (no overlong forms, surrogates or code points
// above U+10FFFF); with `partial_end`, the last character may be incomplete.
bool valid_utf8(const std::string& s, bool partial_end) {
  size_t i = 0;
  while (i < s.size()) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    int need = 0;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c < 0x80) need = 0;
    else if (c >= 0xC2 && c <= 0xDF) need = 1;
    else if (c >= 0xE0 && c <= 0xEF) need = 2, lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;
    else if (c >= 0xF0 && c <= 0xF4) need = 3, lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;
    else return false;
    ++i;
    for (int k = 0; k < need; ++k, ++i) {
      if (i >= s.size()) return partial_end;
      const unsigned char d = static_cast<unsigned char>(s[i]);
      if (d < lo || d > hi) return false;
      lo = 0x80, hi = 0xBF;
    }
  }
  return true;
}

struct Building {
  std::vector<std::pair<uint8_t, int32_t>> children;  // sorted
  std::vector<int32_t> tokens;
};

}  // namespace

TokenTrie::TokenTrie(const TokenBytes& tb)
    : special(tb.special), vocab(static_cast<int32_t>(tb.bytes.size())), bytes(tb.bytes) {
  std::vector<Building> b(1);
  for (int32_t id = 0; id < vocab; ++id) {
    const std::string& s = tb.bytes[static_cast<size_t>(id)];
    if (special[static_cast<size_t>(id)] || s.empty()) continue;
    max_bytes = std::max(max_bytes, s.size());
    int32_t at = 0;
    for (unsigned char c : s) {
      auto& ch = b[static_cast<size_t>(at)].children;
      auto it = std::lower_bound(ch.begin(), ch.end(), c, [](const auto& e, uint8_t v) { return e.first < v; });
      if (it != ch.end() && it->first == c) {
        at = it->second;
        continue;
      }
      const int32_t fresh = static_cast<int32_t>(b.size());
      ch.insert(it, {c, fresh});
      b.emplace_back();
      at = fresh;
    }
    b[static_cast<size_t>(at)].tokens.push_back(id);
  }
  // Depth-first numbering: a node's tokens, then its children's subtrees in byte order.
  nodes.resize(b.size());
  std::vector<uint32_t> index(b.size());
  struct Item {
    int32_t old;
    size_t next_child;
  };
  std::vector<Item> stack{{0, 0}};
  uint32_t counter = 0;
  index[0] = counter++;
  nodes[0].token_begin = 0;
  nodes[0].own_end = 0;
  while (!stack.empty()) {
    Item& top = stack.back();
    const Building& node = b[static_cast<size_t>(top.old)];
    if (top.next_child < node.children.size()) {
      const int32_t child = node.children[top.next_child++].second;
      const uint32_t id = counter++;
      index[static_cast<size_t>(child)] = id;
      Node& n = nodes[id];
      n.token_begin = static_cast<uint32_t>(tokens.size());
      for (int32_t t : b[static_cast<size_t>(child)].tokens) tokens.push_back(t);
      n.own_end = static_cast<uint32_t>(tokens.size());
      stack.push_back({child, 0});
      continue;
    }
    Node& n = nodes[index[static_cast<size_t>(top.old)]];
    n.token_end = static_cast<uint32_t>(tokens.size());
    for (int32_t t : node.tokens) {
      n.utf8 = n.utf8 && valid_utf8(tb.bytes[static_cast<size_t>(t)], false);
      n.utf8_prefix = n.utf8_prefix && valid_utf8(tb.bytes[static_cast<size_t>(t)], true);
    }
    stack.pop_back();
  }
  // Edges, and the bytes and UTF-8 validity of each subtree (children have higher numbers).
  edge_byte.reserve(b.size());
  edge_child.reserve(b.size());
  std::vector<std::vector<std::pair<uint8_t, uint32_t>>> kids(b.size());
  for (size_t old = 0; old < b.size(); ++old)
    for (const auto& [c, child] : b[old].children) kids[index[old]].push_back({c, index[static_cast<size_t>(child)]});
  for (size_t i = 0; i < nodes.size(); ++i) {
    nodes[i].edge_begin = static_cast<uint32_t>(edge_byte.size());
    for (const auto& [c, child] : kids[i]) {
      edge_byte.push_back(c);
      edge_child.push_back(child);
    }
    nodes[i].edge_end = static_cast<uint32_t>(edge_byte.size());
  }
  for (size_t i = nodes.size(); i-- > 0;) {
    Node& n = nodes[i];
    for (uint32_t e = n.edge_begin; e < n.edge_end; ++e) {
      const Node& c = nodes[edge_child[e]];
      n.below[edge_byte[e] >> 6] |= 1ull << (edge_byte[e] & 63);
      for (size_t w = 0; w < 4; ++w) n.below[w] |= c.below[w];
      n.utf8 = n.utf8 && c.utf8;
      n.utf8_prefix = n.utf8_prefix && c.utf8_prefix;
    }
  }
  big.assign(nodes.size(), -1);
  for (size_t i = 0; i < nodes.size(); ++i) {
    const Node& n = nodes[i];
    if (n.token_end - n.token_begin < kBigSubtree) continue;
    std::vector<uint64_t> bits(static_cast<size_t>((vocab + 63) / 64), 0);
    for (uint32_t t = n.token_begin; t < n.token_end; ++t) bits[static_cast<size_t>(tokens[t] >> 6)] |= 1ull << (tokens[t] & 63);
    big[i] = static_cast<int32_t>(big_bits.size());
    big_bits.push_back(std::move(bits));
  }
}

const std::vector<uint64_t>& TokenTrie::loop_tokens(const std::array<uint64_t, 4>& loop) const {
  std::lock_guard<std::mutex> lock(loop_mutex_);
  auto it = loop_cache_.find(loop);
  if (it != loop_cache_.end()) return it->second;
  std::vector<uint64_t> out(static_cast<size_t>((vocab + 63) / 64), 0);
  for (int32_t id = 0; id < vocab; ++id) {
    const std::string& b = bytes[static_cast<size_t>(id)];
    if (special[static_cast<size_t>(id)] || b.empty()) continue;
    bool in = true;
    for (unsigned char c : b) in = in && ((loop[c >> 6] >> (c & 63)) & 1);
    if (in && valid_utf8(b, true)) out[static_cast<size_t>(id >> 6)] |= 1ull << (id & 63);
  }
  return loop_cache_.emplace(loop, std::move(out)).first->second;
}

}  // namespace et
