// NFC = canonical decomposition (recursive; Hangul syllables algorithmically: S = 0xAC00 +
// (L·21 + V)·28 + T), canonical ordering (stable sort of each run of non-starters by combining
// class), then canonical composition: a character C combines with the last starter S when no
// character between them has class 0 or a class >= class(C), and (S, C) is a primary composite
// (or Hangul L+V / LV+T).
#include "unicode_nfc.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "utf8.h"

namespace et::tok {

using namespace nfc_data;

namespace {

constexpr char32_t kSBase = 0xAC00, kLBase = 0x1100, kVBase = 0x1161, kTBase = 0x11A7;
constexpr int kLCount = 19, kVCount = 21, kTCount = 28, kNCount = kVCount * kTCount,
              kSCount = kLCount * kNCount;

uint32_t ccc(char32_t c) {
  if (c < 0x300) return 0;
  const CccRange* end = kCcc + kCccCount;
  const CccRange* it = std::upper_bound(kCcc, end, c, [](char32_t v, const CccRange& r) {
    return v < r.first;
  });
  if (it == kCcc) return 0;
  --it;
  return c <= it->last ? it->ccc : 0;
}

bool unstable(char32_t c) {
  if (c < 0x300) return false;
  const Range* end = kUnstable + kUnstableCount;
  const Range* it = std::upper_bound(kUnstable, end, c, [](char32_t v, const Range& r) {
    return v < r.first;
  });
  if (it == kUnstable) return false;
  --it;
  return c <= it->last;
}

void decompose(char32_t c, std::vector<char32_t>& out) {
  if (c >= kSBase && c < kSBase + kSCount) {
    const int s = static_cast<int>(c - kSBase);
    out.push_back(kLBase + s / kNCount);
    out.push_back(kVBase + (s % kNCount) / kTCount);
    if (s % kTCount) out.push_back(kTBase + s % kTCount);
    return;
  }
  const Decomposition* end = kDecompositions + kDecompositionsCount;
  const Decomposition* it = std::lower_bound(kDecompositions, end, c,
                                             [](const Decomposition& d, char32_t v) { return d.cp < v; });
  if (it == end || it->cp != c) {
    out.push_back(c);
    return;
  }
  decompose(it->first, out);
  if (it->second) decompose(it->second, out);
}

// The primary composite of (a, b), or 0.
char32_t compose(char32_t a, char32_t b) {
  if (a >= kLBase && a < kLBase + kLCount && b >= kVBase && b < kVBase + kVCount)
    return kSBase + ((a - kLBase) * kVCount + (b - kVBase)) * kTCount;
  if (a >= kSBase && a < kSBase + kSCount && (a - kSBase) % kTCount == 0 && b > kTBase &&
      b < kTBase + kTCount)
    return a + (b - kTBase);
  const Composition* end = kCompositions + kCompositionsCount;
  const Composition* it = std::lower_bound(kCompositions, end, std::make_pair(a, b),
                                           [](const Composition& c, const std::pair<char32_t, char32_t>& v) {
                                             return c.first < v.first ||
                                                    (c.first == v.first && c.second < v.second);
                                           });
  return it != end && it->first == a && it->second == b ? it->composite : 0;
}

}  // namespace

std::string nfc_normalize(std::string_view text) {
  std::vector<char32_t> cps;
  bool all_stable = true;
  for (size_t i = 0; i < text.size();) {
    char32_t cp;
    size_t n = utf8_decode(text, i, &cp);
    if (n == 0) {
      n = 1;
      all_stable = false;
    }
    if (unstable(cp)) all_stable = false;
    cps.push_back(cp);
    i += n;
  }
  if (all_stable) return std::string(text);

  std::vector<char32_t> d;
  d.reserve(cps.size() + 8);
  for (char32_t c : cps) decompose(c, d);
  // Canonical ordering: insertion sort inside runs of non-starters (stable).
  for (size_t i = 1; i < d.size(); ++i) {
    const uint32_t ci = ccc(d[i]);
    if (ci == 0) continue;
    size_t j = i;
    while (j > 0 && ccc(d[j - 1]) > ci) {
      std::swap(d[j], d[j - 1]);
      --j;
    }
  }
  std::vector<char32_t> r;
  r.reserve(d.size());
  long starter = -1;
  long last_cc = -1;  // class of the last character kept after the starter; -1: none
  for (char32_t c : d) {
    const long cc = ccc(c);
    if (starter >= 0 && (last_cc == -1 || last_cc < cc)) {
      if (char32_t comp = compose(r[starter], c)) {
        r[starter] = comp;
        continue;
      }
    }
    if (cc == 0) {
      starter = static_cast<long>(r.size());
      last_cc = -1;
    } else {
      last_cc = cc;
    }
    r.push_back(c);
  }
  std::string out;
  out.reserve(text.size());
  for (char32_t c : r) utf8_append(out, c);
  return out;
}

}  // namespace et::tok
