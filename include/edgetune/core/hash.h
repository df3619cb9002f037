// A fast, stable 64-bit hash of bytes (FNV-1a over 64-bit words, then the tail bytes), used to
// fingerprint weight matrices: the same bytes give the same value on every platform.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

namespace et {

inline uint64_t hash_bytes64(const uint8_t* p, size_t n) {
  uint64_t h = 1469598103934665603ull;
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t w;
    std::memcpy(&w, p + i, 8);
    h = (h ^ w) * 1099511628211ull;
  }
  for (; i < n; ++i) h = (h ^ p[i]) * 1099511628211ull;
  return h;
}

// "%016x" of a hash.
std::string hash_hex(uint64_t h);

}  // namespace et
