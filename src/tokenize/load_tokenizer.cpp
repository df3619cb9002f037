// load_tokenizer: picks the loader by what the path is.
//   *.gguf (or a file starting with "GGUF")   tokenizer.ggml.* keys
//   *.json                                     Hugging Face tokenizer.json
//   anything else                              SentencePiece tokenizer.model
//   a folder                                   tokenizer.json, else tokenizer.model; a tokenizer.json
//                                              whose vocabulary is smaller than the tokenizer.model
//                                              beside it is incomplete, so the .model wins (with a
//                                              warning); then tokenizer_config.json when present.
#include <cstring>
#include <fstream>

#include "edgetune/core/error.h"
#include "edgetune/core/file_io.h"
#include "edgetune/core/log.h"
#include "edgetune/tokenize/tokenizer.h"
#include "loaders.h"
#include "pipeline_tokenizer.h"

namespace et {

namespace {

bool ends_with(const std::string& s, const char* suffix) {
  const size_t n = std::strlen(suffix);
  return s.size() >= n && s.compare(s.size() - n, n, suffix) == 0;
}

bool starts_with_gguf_magic(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  char magic[4] = {};
  in.read(magic, 4);
  return in.gcount() == 4 && std::memcmp(magic, "GGUF", 4) == 0;
}

tok::TokenizerSpec spec_from_file(const std::string& path) {
  if (ends_with(path, ".gguf") || starts_with_gguf_magic(path)) return tok::spec_from_gguf(path);
  if (ends_with(path, ".json")) return tok::spec_from_tokenizer_json(path);
  return tok::spec_from_sentencepiece(path);
}

tok::TokenizerSpec spec_from_folder(const std::string& dir) {
  const std::string json_path = path_join(dir, "tokenizer.json");
  const std::string model_path = path_join(dir, "tokenizer.model");
  tok::TokenizerSpec spec;
  if (file_exists(json_path)) {
    size_t json_vocab = 0;
    spec = tok::spec_from_tokenizer_json(json_path, &json_vocab);
    if (file_exists(model_path)) {
      const size_t pieces = tok::sentencepiece_piece_count(model_path);
      if (json_vocab < pieces) {
        log_warn("[tokenizer] ", json_path, " has ", json_vocab, " vocabulary entries but ",
                 model_path, " has ", pieces, " pieces; using ", model_path);
        spec = tok::spec_from_sentencepiece(model_path);
      }
    }
  } else if (file_exists(model_path)) {
    spec = tok::spec_from_sentencepiece(model_path);
  } else {
    fail("tokenizer", dir, ": no tokenizer.json or tokenizer.model in this folder");
  }
  const std::string config = path_join(dir, "tokenizer_config.json");
  if (file_exists(config)) tok::apply_tokenizer_config(spec, config);
  return spec;
}

}  // namespace

std::unique_ptr<Tokenizer> load_tokenizer(const std::string& path) {
  if (!file_exists(path)) fail("tokenizer", path, ": no such file or folder");
  tok::TokenizerSpec spec = is_directory(path) ? spec_from_folder(path) : spec_from_file(path);
  return std::make_unique<tok::PipelineTokenizer>(std::move(spec));
}

}  // namespace et
