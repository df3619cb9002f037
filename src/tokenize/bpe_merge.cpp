// See bpe_merge.h. A queued pair is stale when either symbol has been merged away, they are no
// longer neighbours, or the right one has grown; stale pairs are skipped when popped.
#include "bpe_merge.h"

#include <queue>

namespace et::tok {

namespace {

struct Node {
  BpeSymbol sym;
  int prev = -1, next = -1;
  bool alive = true;
};

struct Candidate {
  double rank;
  uint32_t begin;  // left symbol's start: the tie-breaker
  int left, right;
  uint32_t right_end;
  int32_t merged;
};

struct Worse {
  bool operator()(const Candidate& a, const Candidate& b) const {
    return a.rank > b.rank || (a.rank == b.rank && a.begin > b.begin);
  }
};

}  // namespace

std::vector<BpeSymbol> bpe_merge(const std::vector<BpeSymbol>& symbols, const PairRank& rank_of) {
  if (symbols.size() < 2) return symbols;
  std::vector<Node> nodes(symbols.size());
  for (size_t i = 0; i < symbols.size(); ++i) {
    nodes[i].sym = symbols[i];
    nodes[i].prev = static_cast<int>(i) - 1;
    nodes[i].next = i + 1 < symbols.size() ? static_cast<int>(i) + 1 : -1;
  }
  std::priority_queue<Candidate, std::vector<Candidate>, Worse> queue;
  auto offer = [&](int l, int r) {
    if (l < 0 || r < 0) return;
    const BpeSymbol& a = nodes[l].sym;
    const BpeSymbol& b = nodes[r].sym;
    if (a.frozen || b.frozen) return;
    double rank;
    int32_t merged;
    if (rank_of(a, b, &rank, &merged)) queue.push({rank, a.begin, l, r, b.end, merged});
  };
  for (size_t i = 0; i + 1 < nodes.size(); ++i) offer(static_cast<int>(i), static_cast<int>(i) + 1);

  while (!queue.empty()) {
    Candidate c = queue.top();
    queue.pop();
    Node& l = nodes[c.left];
    Node& r = nodes[c.right];
    if (!l.alive || !r.alive || l.next != c.right || r.sym.end != c.right_end) continue;
    l.sym.end = r.sym.end;
    l.sym.id = c.merged;
    r.alive = false;
    l.next = r.next;
    if (r.next >= 0) nodes[r.next].prev = c.left;
    offer(l.prev, c.left);
    offer(c.left, l.next);
  }
  std::vector<BpeSymbol> out;
  for (int i = 0; i >= 0; i = nodes[i].next) out.push_back(nodes[i].sym);
  return out;
}

}  // namespace et::tok
