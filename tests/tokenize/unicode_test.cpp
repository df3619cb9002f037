// UTF-8 repair, GPT-2's byte alphabet and NFC against the examples the standards document.
#include <gtest/gtest.h>

#include <set>

#include "byte_level.h"
#include "unicode_nfc.h"
#include "utf8.h"

namespace et::tok {
namespace {

// The Unicode Standard, chapter 3, table 3-8 ("U+FFFD for Non-Shortest Form Sequences" and the
// "maximal subpart" practice): 61 F1 80 80 E1 80 C2 62 80 63 80 BF 64 decodes to
// a FFFD FFFD FFFD b FFFD c FFFD FFFD d.
TEST(Utf8, MaximalSubpartsFromTheStandard) {
  const std::string in = "\x61\xF1\x80\x80\xE1\x80\xC2\x62\x80\x63\x80\xBF\x64";
  const std::string r = kReplacementUtf8;
  EXPECT_EQ(utf8_lossy(in), "a" + r + r + r + "b" + r + "c" + r + r + "d");
}

// Table 3-7 boundaries: overlong forms, surrogates and values past U+10FFFF are ill-formed.
TEST(Utf8, StrictDecoding) {
  char32_t cp;
  EXPECT_EQ(utf8_decode("\xC0\xAF", 0, &cp), 0u);          // overlong '/'
  EXPECT_EQ(utf8_decode("\xE0\x80\xAF", 0, &cp), 0u);      // overlong
  EXPECT_EQ(utf8_decode("\xED\xA0\x80", 0, &cp), 0u);      // U+D800
  EXPECT_EQ(utf8_decode("\xF4\x90\x80\x80", 0, &cp), 0u);  // U+110000
  ASSERT_EQ(utf8_decode("\xF4\x8F\xBF\xBF", 0, &cp), 4u);
  EXPECT_EQ(cp, 0x10FFFFu);
  ASSERT_EQ(utf8_decode("\xE2\x96\x81", 0, &cp), 3u);
  EXPECT_EQ(cp, 0x2581u);
  EXPECT_TRUE(utf8_is_valid("h\xC3\xA9llo \xF0\x9F\xA6\x99"));
  EXPECT_FALSE(utf8_is_valid("\xE4\xB8"));
}

TEST(Utf8, AssemblerHoldsIncompleteCharacters) {
  std::string out;
  Utf8Assembler a(Utf8Assembler::Mode::per_byte);
  a.push("\xE4", out);
  a.push("\xB8", out);
  EXPECT_EQ(out, "");
  a.push("\xAD", out);
  EXPECT_EQ(out, "\xE4\xB8\xAD");  // 中
  a.push("\xE4\xB8", out);
  a.finish(out);  // an incomplete character at the end: one U+FFFD per byte
  EXPECT_EQ(out, std::string("\xE4\xB8\xAD") + kReplacementUtf8 + kReplacementUtf8);
  std::string lossy;
  Utf8Assembler b(Utf8Assembler::Mode::maximal_subpart);
  b.push("\xE4\xB8", lossy);
  b.finish(lossy);
  EXPECT_EQ(lossy, kReplacementUtf8);  // one maximal subpart
}

TEST(Utf8, UnicodeWhitespace) {
  for (char32_t c : {0x20u, 0x09u, 0x0Au, 0x85u, 0xA0u, 0x3000u, 0x2028u}) EXPECT_TRUE(is_unicode_whitespace(c));
  for (char32_t c : {0x41u, 0x200Bu, 0x180Eu, 0x2581u}) EXPECT_FALSE(is_unicode_whitespace(c));
}

// openai/gpt-2 encoder.py: printable bytes map to themselves, the rest to U+0100.. in order; so
// ' ' (the 33rd non-printable byte) is 'Ġ' U+0120 and '\n' is 'Ċ' U+010A.
TEST(ByteLevel, Gpt2Alphabet) {
  EXPECT_EQ(byte_to_char(' '), 0x120u);
  EXPECT_EQ(byte_to_char('\n'), 0x10Au);
  EXPECT_EQ(byte_to_char(0), 0x100u);
  EXPECT_EQ(byte_to_char('A'), static_cast<char32_t>('A'));
  EXPECT_EQ(byte_to_char(0xAD), 0x143u);  // soft hyphen is not printable: the last remapped byte
  std::set<char32_t> seen;
  for (int b = 0; b < 256; ++b) {
    EXPECT_TRUE(seen.insert(byte_to_char(static_cast<uint8_t>(b))).second);
    EXPECT_EQ(char_to_byte(byte_to_char(static_cast<uint8_t>(b))), b);
  }
  std::string all;
  for (int b = 0; b < 256; ++b) all += static_cast<char>(b);
  std::string back;
  ASSERT_TRUE(byte_level_to_bytes(bytes_to_byte_level(all), back));
  EXPECT_EQ(back, all);
  EXPECT_EQ(bytes_to_byte_level(" the"), "\xC4\xA0the");  // "Ġthe"
}

// Examples from UAX #15 (Unicode Normalization Forms), figures 3-6 and the Hangul section.
TEST(Nfc, ExamplesFromUax15) {
  EXPECT_EQ(nfc_normalize("e\xCC\x81"), "\xC3\xA9");                  // e + U+0301 -> é
  EXPECT_EQ(nfc_normalize("A\xCC\x8A"), "\xC3\x85");                  // A + ring -> Å
  EXPECT_EQ(nfc_normalize("\xE2\x84\xAB"), "\xC3\x85");              // U+212B ANGSTROM SIGN -> U+00C5
  EXPECT_EQ(nfc_normalize("\xE2\x84\xA6"), "\xCE\xA9");              // U+2126 OHM -> U+03A9
  // U+1E0B U+0323 (ḋ + dot below) -> U+1E0D U+0307 (ḍ + dot above): reordering then composing.
  EXPECT_EQ(nfc_normalize("\xE1\xB8\x8B\xCC\xA3"), "\xE1\xB8\x8D\xCC\x87");
  // q + U+0307 + U+0323 -> q + U+0323 + U+0307 (no precomposed q: only reordered).
  EXPECT_EQ(nfc_normalize("q\xCC\x87\xCC\xA3"), "q\xCC\xA3\xCC\x87");
  // Hangul: U+1100 U+1161 -> U+AC00; U+AC00 U+11A8 -> U+AC01.
  EXPECT_EQ(nfc_normalize("\xE1\x84\x80\xE1\x85\xA1"), "\xEA\xB0\x80");
  EXPECT_EQ(nfc_normalize("\xEA\xB0\x80\xE1\x86\xA8"), "\xEA\xB0\x81");
  // Composition exclusion: U+0958 (DEVANAGARI QA) stays decomposed as U+0915 U+093C.
  EXPECT_EQ(nfc_normalize("\xE0\xA5\x98"), "\xE0\xA4\x95\xE0\xA4\xBC");
  // Singleton U+0340 -> U+0300 after a base letter composes: a + U+0340 -> à.
  EXPECT_EQ(nfc_normalize("a\xCD\x80"), "\xC3\xA0");
  // Already NFC text comes back byte for byte.
  const std::string plain = "Hello, w\xC3\xB6rld \xE4\xB8\xAD\xE6\x96\x87 \xF0\x9F\xA6\x99";
  EXPECT_EQ(nfc_normalize(plain), plain);
}

}  // namespace
}  // namespace et::tok
