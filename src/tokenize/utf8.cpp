// UTF-8 decoding per Unicode table 3-7 (well-formed byte sequences):
//   00..7F | C2..DF 80..BF | E0 A0..BF 80..BF | E1..EC 80..BF 80..BF | ED 80..9F 80..BF
//   | EE..EF 80..BF 80..BF | F0 90..BF 80..BF 80..BF | F1..F3 80..BF ×3 | F4 80..8F 80..BF ×2.
// A "maximal subpart" of an ill-formed sequence is its longest prefix that matches the table.
#include "utf8.h"

namespace et::tok {

namespace {

struct Scan {
  size_t need = 0;   // bytes the lead byte announces (0: not a lead byte)
  size_t valid = 0;  // bytes from pos that match the table (<= need)
};

Scan scan(std::string_view s, size_t pos) {
  Scan r;
  const auto b0 = static_cast<uint8_t>(s[pos]);
  uint8_t lo = 0x80, hi = 0xBF;  // allowed range of the second byte
  if (b0 < 0x80) return {1, 1};
  if (b0 >= 0xC2 && b0 <= 0xDF) r.need = 2;
  else if (b0 >= 0xE0 && b0 <= 0xEF) {
    r.need = 3;
    if (b0 == 0xE0) lo = 0xA0;
    if (b0 == 0xED) hi = 0x9F;
  } else if (b0 >= 0xF0 && b0 <= 0xF4) {
    r.need = 4;
    if (b0 == 0xF0) lo = 0x90;
    if (b0 == 0xF4) hi = 0x8F;
  } else {
    return {0, 0};
  }
  r.valid = 1;
  for (size_t k = 1; k < r.need && pos + k < s.size(); ++k) {
    const auto b = static_cast<uint8_t>(s[pos + k]);
    const bool ok = k == 1 ? (b >= lo && b <= hi) : (b >= 0x80 && b <= 0xBF);
    if (!ok) break;
    r.valid = k + 1;
  }
  return r;
}

}  // namespace

size_t utf8_decode(std::string_view s, size_t pos, char32_t* cp) {
  Scan r = scan(s, pos);
  if (r.need == 0 || r.valid < r.need) {
    *cp = kReplacementChar;
    return 0;
  }
  const auto b0 = static_cast<uint8_t>(s[pos]);
  char32_t c;
  switch (r.need) {
    case 1: c = b0; break;
    case 2: c = b0 & 0x1F; break;
    case 3: c = b0 & 0x0F; break;
    default: c = b0 & 0x07; break;
  }
  for (size_t k = 1; k < r.need; ++k) c = (c << 6) | (static_cast<uint8_t>(s[pos + k]) & 0x3F);
  *cp = c;
  return r.need;
}

size_t utf8_valid_prefix(std::string_view s, size_t pos) {
  Scan r = scan(s, pos);
  if (r.need == 0) return 0;
  if (r.valid == r.need) return r.need;
  return pos + r.valid == s.size() ? r.valid : 0;
}

void utf8_append(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

std::string utf8_encode(char32_t cp) {
  std::string s;
  utf8_append(s, cp);
  return s;
}

std::string utf8_lossy(std::string_view s) {
  std::string out;
  Utf8Assembler a(Utf8Assembler::Mode::maximal_subpart);
  a.push(s, out);
  a.finish(out);
  return out;
}

bool utf8_is_valid(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    char32_t cp;
    size_t n = utf8_decode(s, i, &cp);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

bool is_unicode_whitespace(char32_t c) {
  return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F ||
         c == 0x205F || c == 0x3000;
}

void Utf8Assembler::push(std::string_view bytes, std::string& out) {
  pending_.append(bytes.data(), bytes.size());
  drain(out, false);
}

void Utf8Assembler::finish(std::string& out) { drain(out, true); }

void Utf8Assembler::drain(std::string& out, bool final) {
  if (mode_ == Mode::whole_run) {
    if (!final) return;
    if (utf8_is_valid(pending_)) {
      out += pending_;
    } else {
      for (size_t k = 0; k < pending_.size(); ++k) out += kReplacementUtf8;
    }
    pending_.clear();
    return;
  }
  std::string_view p = pending_;
  size_t i = 0;
  while (i < p.size()) {
    Scan r = scan(p, i);
    if (r.need != 0 && r.valid == r.need) {
      out.append(p.substr(i, r.need));
      i += r.need;
    } else if (r.need != 0 && i + r.valid == p.size() && !final) {
      break;  // a character that may still be completed by the next bytes
    } else {
      out += kReplacementUtf8;
      i += mode_ == Mode::per_byte ? 1 : (r.valid > 0 ? r.valid : 1);
    }
  }
  pending_.erase(0, i);
}

}  // namespace et::tok
