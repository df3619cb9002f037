// Turning each tokenizer source into a TokenizerSpec. Every error names the file.
#pragma once
#include <string>

#include "tokenizer_spec.h"

namespace et::tok {

// SentencePiece tokenizer.model (BPE models only).
TokenizerSpec spec_from_sentencepiece(const std::string& path);
// Number of pieces in a tokenizer.model, without building a tokenizer.
size_t sentencepiece_piece_count(const std::string& path);

// Hugging Face tokenizer.json (BPE models). `*model_vocab_size` (optional) receives the size of
// model.vocab, which a folder loader compares against tokenizer.model.
TokenizerSpec spec_from_tokenizer_json(const std::string& path, size_t* model_vocab_size = nullptr);

// The tokenizer.ggml.* keys of a GGUF file ("llama" and "gpt2" models).
TokenizerSpec spec_from_gguf(const std::string& path);

// Hugging Face tokenizer_config.json on top of a spec: added_tokens_decoder, bos/eos/pad/unk
// tokens, add_bos_token / add_eos_token.
void apply_tokenizer_config(TokenizerSpec& spec, const std::string& config_path);

}  // namespace et::tok
