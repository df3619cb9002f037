// Tables of GPT-2's bytes_to_unicode, built once.
#include "byte_level.h"

#include <array>
#include <unordered_map>

#include "utf8.h"

namespace et::tok {

namespace {

struct Tables {
  std::array<char32_t, 256> to_char{};
  std::unordered_map<char32_t, uint8_t> to_byte;
  Tables() {
    auto printable = [](int b) {
      return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    };
    char32_t next = 256;
    for (int b = 0; b < 256; ++b) {
      to_char[b] = printable(b) ? static_cast<char32_t>(b) : next++;
      to_byte[to_char[b]] = static_cast<uint8_t>(b);
    }
  }
};

const Tables& tables() {
  static const Tables t;
  return t;
}

}  // namespace

char32_t byte_to_char(uint8_t b) { return tables().to_char[b]; }

int char_to_byte(char32_t c) {
  const auto& m = tables().to_byte;
  auto it = m.find(c);
  return it == m.end() ? -1 : it->second;
}

std::string bytes_to_byte_level(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size() * 2);
  for (char ch : bytes) utf8_append(out, byte_to_char(static_cast<uint8_t>(ch)));
  return out;
}

bool byte_level_to_bytes(std::string_view text, std::string& out) {
  std::string bytes;
  for (size_t i = 0; i < text.size();) {
    char32_t cp;
    size_t n = utf8_decode(text, i, &cp);
    if (n == 0) return false;
    int b = char_to_byte(cp);
    if (b < 0) return false;
    bytes += static_cast<char>(b);
    i += n;
  }
  out += bytes;
  return true;
}

}  // namespace et::tok
