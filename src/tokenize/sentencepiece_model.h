// SentencePiece's ModelProto (sentencepiece_model.proto) read straight from the protobuf wire
// format: the fields a BPE tokenizer needs, with proto2 defaults for absent ones.
#pragma once
#include <string>
#include <string_view>
#include <vector>

namespace et::tok {

struct SpmPiece {
  std::string piece;
  float score = 0;
  int type = 1;  // NORMAL
};

struct SpmModel {
  std::vector<SpmPiece> pieces;                       // ModelProto.pieces (1)
  // TrainerSpec (2)
  int model_type = 1;                                 // 3: UNIGRAM=1, BPE=2, WORD=3, CHAR=4
  bool treat_whitespace_as_suffix = false;            // 24
  bool byte_fallback = false;                         // 35
  int unk_id = 0, bos_id = 1, eos_id = 2, pad_id = -1;  // 40..43
  // NormalizerSpec (3)
  std::string normalizer_name;                        // 1
  std::string precompiled_charsmap;                   // 2
  bool add_dummy_prefix = true;                       // 3
  bool remove_extra_whitespaces = true;               // 4
  bool escape_whitespaces = true;                     // 5
};

// Parses a serialized ModelProto; `path` names the file in errors (truncation, bad wire types,
// pieces without text, unknown piece types, duplicate pieces, ids out of range).
SpmModel parse_sentencepiece_model(std::string_view bytes, const std::string& path);

}  // namespace et::tok
