// tokenizer.model -> TokenizerSpec with SentencePiece semantics: its normalizer (dummy prefix,
// whitespace escaping, optional removal of extra whitespace), BPE by piece score with user-defined
// pieces kept whole, byte fallback, and decoding that drops the dummy prefix of the first piece.
// Control and unknown pieces become special added tokens, matched only with parse_special (each
// text piece around them is normalized on its own, so it gets its own dummy prefix).
// BOS is added by default (as Hugging Face's LlamaTokenizer and llama.cpp do); EOS is not.
#include "edgetune/core/error.h"
#include "edgetune/core/file_io.h"
#include "loaders.h"
#include "sentencepiece_model.h"

namespace et::tok {

size_t sentencepiece_piece_count(const std::string& path) {
  return parse_sentencepiece_model(read_text_file(path), path).pieces.size();
}

TokenizerSpec spec_from_sentencepiece(const std::string& path) {
  const SpmModel m = parse_sentencepiece_model(read_text_file(path), path);
  if (m.model_type != 2) {
    const char* names[] = {"?", "UNIGRAM", "BPE", "WORD", "CHAR"};
    fail("sentencepiece", path, ": model type ",
         m.model_type >= 1 && m.model_type <= 4 ? names[m.model_type] : "unknown",
         " is not supported (only BPE)");
  }
  if (!m.precompiled_charsmap.empty())
    fail("sentencepiece", path, ": normalization rule '", m.normalizer_name,
         "' uses a precompiled character map, which is not supported (only 'identity')");
  TokenizerSpec s;
  s.kind = "sentencepiece-bpe";
  s.path = path;
  s.model = ModelKind::sentencepiece_bpe;
  s.freeze_user_defined = true;
  s.byte_fallback = m.byte_fallback;
  bool has_bytes = false;
  for (size_t i = 0; i < m.pieces.size(); ++i) {
    const SpmPiece& p = m.pieces[i];
    s.pieces.push_back(p.piece);
    s.scores.push_back(p.score);
    s.types.push_back(static_cast<PieceType>(p.type));
    if (p.type == 6) has_bytes = true;
    if (p.type == 2 || p.type == 3) {
      AddedToken t;
      t.content = p.piece;
      t.id = static_cast<int32_t>(i);
      t.special = true;
      s.added_tokens.push_back(t);
    }
  }
  if (has_bytes && !m.byte_fallback)
    fail("sentencepiece", path, ": has byte pieces but byte_fallback is off");
  s.unk_id = m.unk_id;
  s.bos_id = m.bos_id;
  s.eos_id = m.eos_id;
  s.pad_id = m.pad_id;
  s.add_bos = m.bos_id >= 0;
  s.add_eos = false;

  NormalizerStep n;
  n.kind = NormalizerStep::Kind::sentencepiece;
  n.add_dummy_prefix = m.add_dummy_prefix;
  n.remove_extra_whitespaces = m.remove_extra_whitespaces;
  n.escape_whitespaces = m.escape_whitespaces;
  n.whitespace_as_suffix = m.treat_whitespace_as_suffix;
  s.normalizers.push_back(n);

  if (m.escape_whitespaces) s.decoder.replacements.push_back({kSpaceSymbol, " "});
  s.decoder.byte_fallback = m.byte_fallback;
  // As libsentencepiece decodes (checked against 0.1.97), also with treat_whitespace_as_suffix.
  if (m.add_dummy_prefix || m.remove_extra_whitespaces)
    s.decoder.strip = DecoderSpec::Strip::first_piece_space;
  s.decoder.strip_every_leading_piece = m.remove_extra_whitespaces;
  return s;
}

}  // namespace et::tok
