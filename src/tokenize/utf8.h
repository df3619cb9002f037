// UTF-8 helpers shared by the tokenizers: strict decoding (overlong forms, surrogates and
// code points above U+10FFFF are invalid, as in SentencePiece and Rust), encoding, lossy
// repair, the Unicode White_Space property, and an assembler that turns a byte stream into text
// with U+FFFD for bytes that cannot form a character.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace et::tok {

inline constexpr char32_t kReplacementChar = 0xFFFD;
inline constexpr const char* kReplacementUtf8 = "\xEF\xBF\xBD";

// Decodes the character at s[pos]. Returns its length in bytes, or 0 when the bytes there do
// not start a valid, complete character (then *cp is U+FFFD).
size_t utf8_decode(std::string_view s, size_t pos, char32_t* cp);

// Length of the longest prefix of s[pos..] that could still become a valid character if more
// bytes followed: 0 when s[pos] cannot start one, else 1..3 (an incomplete sequence) — or the
// full length when the character is complete.
size_t utf8_valid_prefix(std::string_view s, size_t pos);

void utf8_append(std::string& out, char32_t cp);
std::string utf8_encode(char32_t cp);

// Replaces every maximal invalid subsequence by one U+FFFD (Rust's String::from_utf8_lossy,
// the WHATWG / Unicode "maximal subpart" rule).
std::string utf8_lossy(std::string_view s);
bool utf8_is_valid(std::string_view s);

// The Unicode White_Space property (Rust's char::is_whitespace).
bool is_unicode_whitespace(char32_t c);

// Turns raw bytes into UTF-8 text. Bytes that cannot become part of a character turn into
// U+FFFD: one per such byte (SentencePiece's byte-fallback decoding), one per maximal invalid
// subsequence (the lossy rule of Hugging Face's ByteLevel decoder), or, with whole_run, one per
// byte of everything pushed since the last finish() unless all of it is valid (Hugging Face's
// ByteFallback decoder, which converts each run of byte tokens at once). A valid but incomplete
// sequence at the end waits for more bytes until finish(); whole_run waits for finish().
class Utf8Assembler {
 public:
  enum class Mode { per_byte, maximal_subpart, whole_run };
  explicit Utf8Assembler(Mode mode) : mode_(mode) {}
  void push(std::string_view bytes, std::string& out);
  // Resolves the pending bytes (incomplete sequence -> U+FFFD).
  void finish(std::string& out);
  bool pending() const { return !pending_.empty(); }

 private:
  void drain(std::string& out, bool final);
  Mode mode_;
  std::string pending_;
};

}  // namespace et::tok
