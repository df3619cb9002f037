// GPT-2's byte-level alphabet (bytes_to_unicode in openai/gpt-2 encoder.py): every byte maps to
// one printable character so that BPE never sees whitespace or control bytes. The printable
// bytes '!'..'~', '¡'..'¬', '®'..'ÿ' map to themselves; the other 68 bytes map, in increasing
// byte order, to U+0100, U+0101, ... (so ' ' -> 'Ġ' U+0120, '\n' -> 'Ċ' U+010A).
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

namespace et::tok {

// The character a byte maps to.
char32_t byte_to_char(uint8_t b);
// The byte a character stands for; -1 when the character is not in the alphabet.
int char_to_byte(char32_t c);
// Maps every byte of `bytes` to its character (UTF-8 encoded).
std::string bytes_to_byte_level(std::string_view bytes);
// Maps a byte-level string back to bytes. Returns false (and leaves `out` untouched) when some
// character is not in the alphabet.
bool byte_level_to_bytes(std::string_view text, std::string& out);

}  // namespace et::tok
