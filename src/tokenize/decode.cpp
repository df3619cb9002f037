// Decoding, piece by piece:
//   byte-level vocabularies  every piece maps back to bytes through GPT-2's alphabet (a piece with
//                            a character outside it is taken verbatim, as is an added token when
//                            the spec says so, like llama.cpp); the byte stream becomes text with
//                            U+FFFD per maximal invalid subsequence (Hugging Face's ByteLevel
//                            decoder, from_utf8_lossy);
//   byte-fallback pieces     "<0xXX>" are raw bytes; a run of them becomes text with one U+FFFD
//                            per byte that does not start a complete character (SentencePiece,
//                            llama.cpp vocabularies), or, for Hugging Face's ByteFallback
//                            decoder, one per byte of the run unless the whole run is valid;
//   other pieces             get the replacements ("▁" -> " "; special tokens too, as Hugging
//                            Face runs every token through its decoder), after the start rules:
//                            SentencePiece drops the leading "▁" of a piece while no text has
//                            been produced (bytes included) and no "▁" dropped yet (with
//                            remove_extra_whitespaces: from every piece until text appears, so
//                            all leading whitespace goes); the Metaspace decoder drops "▁" from the first token; the
//                            Strip decoder removes leading / trailing spaces of the whole text.
#include "decode.h"

#include "byte_level.h"
#include "edgetune/core/error.h"

namespace et::tok {

namespace {

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

// The byte of a "<0xXX>" piece, or -1.
int byte_of_piece(const std::string& p) {
  if (p.size() != 6 || p.compare(0, 3, "<0x") != 0 || p[5] != '>') return -1;
  int hi = hex_digit(p[3]), lo = hex_digit(p[4]);
  return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
}

std::string replace_all(const std::string& s, const std::string& from, const std::string& to) {
  if (from.empty()) return s;
  std::string out;
  size_t prev = 0;
  for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, prev)) {
    out.append(s, prev, at - prev);
    out += to;
    prev = at + from.size();
  }
  out.append(s, prev, std::string::npos);
  return out;
}

}  // namespace

DecodeStream::DecodeStream(const TokenizerSpec& spec, bool skip_special)
    : spec_(spec),
      skip_special_(skip_special),
      bytes_(spec.decoder.byte_level        ? Utf8Assembler::Mode::maximal_subpart
             : spec.decoder.byte_runs_whole ? Utf8Assembler::Mode::whole_run
                                            : Utf8Assembler::Mode::per_byte),
      leading_left_(spec.decoder.strip == DecoderSpec::Strip::leading ? spec.decoder.strip_start : 0) {}

void DecodeStream::push(int32_t id, std::string& out) {
  const DecoderSpec& d = spec_.decoder;
  if (id < 0 || id >= static_cast<int32_t>(spec_.pieces.size()))
    fail("tokenizer", spec_.path, ": cannot decode id ", id, " (vocabulary has ",
         spec_.pieces.size(), " ids)");
  const PieceType type = spec_.types[id];
  const bool special = type == PieceType::control || type == PieceType::unknown;
  if (special && skip_special_) return;
  auto as = spec_.decode_as.find(id);
  const std::string& piece = as != spec_.decode_as.end() ? as->second : spec_.pieces[id];
  const bool raw = d.raw_added_tokens && (special || type == PieceType::user_defined);
  std::string text;
  if (d.byte_level) {
    std::string b;
    if (raw || !byte_level_to_bytes(piece, b)) b = piece;
    bytes_.push(b, text);
  } else if (d.byte_fallback && type == PieceType::byte && byte_of_piece(piece) >= 0) {
    const char b = static_cast<char>(byte_of_piece(piece));
    bytes_.push(std::string_view(&b, 1), text);
  } else {
    bytes_.finish(text);
    std::string t = piece;
    if (!raw) {
      if (d.strip == DecoderSpec::Strip::first_piece_space && !special && bos_space_ && text.empty() &&
          !produced_) {
        const size_t n = std::char_traits<char>::length(kSpaceSymbol);
        if (t.compare(0, n, kSpaceSymbol) == 0) {
          t.erase(0, n);
          bos_space_ = d.strip_every_leading_piece;
        }
      }
      if (d.strip == DecoderSpec::Strip::metaspace_first_token && first_token_)
        t = replace_all(t, d.metaspace_replacement, "");
      for (const auto& [from, to] : d.replacements) t = replace_all(t, from, to);
    }
    text += t;
  }
  first_token_ = false;
  if (!text.empty()) produced_ = true;
  emit(std::move(text), out);
}

void DecodeStream::finish(std::string& out) {
  std::string text;
  bytes_.finish(text);
  emit(std::move(text), out);
  held_spaces_.clear();  // trailing spaces the Strip decoder removes
}

void DecodeStream::emit(std::string text, std::string& out) {
  if (text.empty()) return;
  size_t lead = 0;
  while (leading_left_ > 0 && lead < text.size() && text[lead] == ' ') {
    ++lead;
    --leading_left_;
  }
  text.erase(0, lead);
  if (text.empty()) return;
  leading_left_ = 0;
  if (spec_.decoder.strip_stop <= 0) {
    out += text;
    return;
  }
  text = held_spaces_ + text;
  size_t keep = text.size();
  for (int k = 0; k < spec_.decoder.strip_stop && keep > 0 && text[keep - 1] == ' '; ++k) --keep;
  out.append(text, 0, keep);
  held_spaces_ = text.substr(keep);
}

std::string piece_bytes(const TokenizerSpec& spec, int32_t id, bool* special) {
  const DecoderSpec& d = spec.decoder;
  if (id < 0 || id >= static_cast<int32_t>(spec.pieces.size()))
    fail("tokenizer", spec.path, ": no piece for id ", id, " (vocabulary has ", spec.pieces.size(), " ids)");
  const PieceType type = spec.types[id];
  const bool is_special = type == PieceType::control || type == PieceType::unknown;
  if (special) *special = is_special;
  auto as = spec.decode_as.find(id);
  const std::string& piece = as != spec.decode_as.end() ? as->second : spec.pieces[id];
  const bool raw = d.raw_added_tokens && (is_special || type == PieceType::user_defined);
  if (d.byte_level) {
    std::string b;
    if (raw || !byte_level_to_bytes(piece, b)) b = piece;
    return b;
  }
  if (d.byte_fallback && type == PieceType::byte && byte_of_piece(piece) >= 0)
    return std::string(1, static_cast<char>(byte_of_piece(piece)));
  std::string t = piece;
  if (!raw)
    for (const auto& [from, to] : d.replacements) t = replace_all(t, from, to);
  return t;
}

std::string decode_ids(const std::vector<int32_t>& ids, bool skip_special, const TokenizerSpec& spec) {
  DecodeStream s(spec, skip_special);
  std::string out;
  for (int32_t id : ids) s.push(id, out);
  s.finish(out);
  return out;
}

}  // namespace et::tok
