// Protobuf wire format: each field is a varint key (field_number << 3 | wire_type) and a value:
// 0 varint, 1 fixed64, 2 length-delimited (strings, bytes, sub-messages), 5 fixed32; groups (3, 4)
// do not occur in ModelProto and are an error. Unknown fields are skipped. int32 fields holding
// negative values (pad_id = -1) are 10-byte varints of the sign-extended 64-bit value.
#include "sentencepiece_model.h"

#include <cstdint>
#include <cstring>
#include <set>

#include "edgetune/core/error.h"

namespace et::tok {

namespace {

class Wire {
 public:
  Wire(std::string_view data, const std::string& path, const char* message)
      : d_(data), path_(path), message_(message) {}
  bool done() const { return pos_ >= d_.size(); }

  uint64_t varint() {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (pos_ >= d_.size()) bad("a varint runs past the end (truncated file?)");
      const auto b = static_cast<uint8_t>(d_[pos_++]);
      v |= static_cast<uint64_t>(b & 0x7F) << shift;
      if (!(b & 0x80)) return v;
    }
    bad("a varint is longer than 10 bytes");
  }
  std::string_view bytes() {
    uint64_t n = varint();
    if (n > d_.size() - pos_)
      bad("a field of " + std::to_string(n) + " bytes runs past the end (truncated file?)");
    std::string_view s = d_.substr(pos_, n);
    pos_ += n;
    return s;
  }
  float fixed32_float() {
    if (d_.size() - pos_ < 4) bad("a 32-bit field runs past the end (truncated file?)");
    uint32_t u = 0;
    for (int k = 0; k < 4; ++k) u |= static_cast<uint32_t>(static_cast<uint8_t>(d_[pos_ + k])) << (8 * k);
    pos_ += 4;
    float f;
    std::memcpy(&f, &u, 4);
    return f;
  }
  void skip(int wire_type) {
    switch (wire_type) {
      case 0: varint(); break;
      case 1:
        if (d_.size() - pos_ < 8) bad("a 64-bit field runs past the end (truncated file?)");
        pos_ += 8;
        break;
      case 2: bytes(); break;
      case 5:
        if (d_.size() - pos_ < 4) bad("a 32-bit field runs past the end (truncated file?)");
        pos_ += 4;
        break;
      default: bad("wire type " + std::to_string(wire_type) + " is not valid here (not a SentencePiece model?)");
    }
  }
  // Reads a key; returns the field number and sets the wire type.
  uint32_t key(int* wire_type) {
    uint64_t k = varint();
    *wire_type = static_cast<int>(k & 7);
    if ((k >> 3) == 0 || (k >> 3) > 0x1FFFFFFF) bad("field number 0 or out of range (not a SentencePiece model?)");
    return static_cast<uint32_t>(k >> 3);
  }
  [[noreturn]] void bad(const std::string& what) const {
    fail("sentencepiece", path_, ": ", message_, ": ", what, " at byte ", pos_);
  }
  void expect(int wire_type, int want, uint32_t field) const {
    if (wire_type != want)
      bad("field " + std::to_string(field) + " has wire type " + std::to_string(wire_type) +
          ", expected " + std::to_string(want));
  }

 private:
  std::string_view d_;
  const std::string& path_;
  const char* message_;
  size_t pos_ = 0;
};

SpmPiece parse_piece(std::string_view data, const std::string& path) {
  Wire w(data, path, "SentencePiece");
  SpmPiece p;
  bool has_piece = false;
  while (!w.done()) {
    int wt;
    uint32_t f = w.key(&wt);
    if (f == 1) { w.expect(wt, 2, f); p.piece = std::string(w.bytes()); has_piece = true; }
    else if (f == 2) { w.expect(wt, 5, f); p.score = w.fixed32_float(); }
    else if (f == 3) { w.expect(wt, 0, f); p.type = static_cast<int>(w.varint()); }
    else w.skip(wt);
  }
  if (!has_piece || p.piece.empty()) w.bad("a piece has no text");
  return p;
}

void parse_trainer(std::string_view data, const std::string& path, SpmModel& m) {
  Wire w(data, path, "TrainerSpec");
  while (!w.done()) {
    int wt;
    uint32_t f = w.key(&wt);
    auto int32 = [&] { w.expect(wt, 0, f); return static_cast<int>(static_cast<int64_t>(w.varint())); };
    switch (f) {
      case 3: m.model_type = int32(); break;
      case 24: m.treat_whitespace_as_suffix = int32() != 0; break;
      case 35: m.byte_fallback = int32() != 0; break;
      case 40: m.unk_id = int32(); break;
      case 41: m.bos_id = int32(); break;
      case 42: m.eos_id = int32(); break;
      case 43: m.pad_id = int32(); break;
      default: w.skip(wt);
    }
  }
}

void parse_normalizer(std::string_view data, const std::string& path, SpmModel& m) {
  Wire w(data, path, "NormalizerSpec");
  while (!w.done()) {
    int wt;
    uint32_t f = w.key(&wt);
    switch (f) {
      case 1: w.expect(wt, 2, f); m.normalizer_name = std::string(w.bytes()); break;
      case 2: w.expect(wt, 2, f); m.precompiled_charsmap = std::string(w.bytes()); break;
      case 3: w.expect(wt, 0, f); m.add_dummy_prefix = w.varint() != 0; break;
      case 4: w.expect(wt, 0, f); m.remove_extra_whitespaces = w.varint() != 0; break;
      case 5: w.expect(wt, 0, f); m.escape_whitespaces = w.varint() != 0; break;
      default: w.skip(wt);
    }
  }
}

}  // namespace

SpmModel parse_sentencepiece_model(std::string_view bytes, const std::string& path) {
  SpmModel m;
  Wire w(bytes, path, "ModelProto");
  while (!w.done()) {
    int wt;
    uint32_t f = w.key(&wt);
    if (f == 1) { w.expect(wt, 2, f); m.pieces.push_back(parse_piece(w.bytes(), path)); }
    else if (f == 2) { w.expect(wt, 2, f); parse_trainer(w.bytes(), path, m); }
    else if (f == 3) { w.expect(wt, 2, f); parse_normalizer(w.bytes(), path, m); }
    else w.skip(wt);
  }
  const int n = static_cast<int>(m.pieces.size());
  if (n == 0) fail("sentencepiece", path, ": no pieces (empty or not a SentencePiece model)");
  std::set<std::string> seen;
  for (int i = 0; i < n; ++i) {
    const SpmPiece& p = m.pieces[i];
    if (p.type < 1 || p.type > 6)
      fail("sentencepiece", path, ": piece ", i, " ('", p.piece, "') has unknown type ", p.type);
    if (!seen.insert(p.piece).second)
      fail("sentencepiece", path, ": piece '", p.piece, "' (id ", i, ") is defined twice");
  }
  auto check_id = [&](int id, const char* name, bool required) {
    if (id == -1 && !required) return;
    if (id < 0 || id >= n)
      fail("sentencepiece", path, ": ", name, " ", id, " is outside the ", n, " pieces");
  };
  check_id(m.unk_id, "unk_id", true);
  check_id(m.bos_id, "bos_id", false);
  check_id(m.eos_id, "eos_id", false);
  check_id(m.pad_id, "pad_id", false);
  if (m.pieces[m.unk_id].type != 2)
    fail("sentencepiece", path, ": unk_id ", m.unk_id, " ('", m.pieces[m.unk_id].piece,
         "') is not an UNKNOWN piece");
  return m;
}

}  // namespace et::tok
