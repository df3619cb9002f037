// A merged model: a Hugging Face folder equal to the base with every adapted matrix replaced by
// W + dW (computed in float32 from the base's stored weights, written in the stored dtype), plus
// the base's config and tokenizer files, so transformers, llama.cpp converters and edgetune load
// it as a plain model.
#pragma once
#include <string>

#include "edgetune/adapt/adapters.h"

namespace et::model {
struct Model;
}

namespace et {

void export_merged(const AdapterSet& adapters, const std::string& base_folder, const std::string& out_dir);

// Writes a model's own (trained) weights as a Hugging Face folder (full fine-tuning and models
// initialized from scratch), copying config and tokenizer files from `base_folder`.
void export_model_weights(const model::Model& model, const std::string& base_folder, const std::string& out_dir);

// Copies config.json, generation_config.json and the tokenizer files of a model folder.
void copy_model_side_files(const std::string& from, const std::string& to);

}  // namespace et
