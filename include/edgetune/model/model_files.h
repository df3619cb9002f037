// A model given as a Hugging Face folder or as an .etq file, seen through one interface: where its
// config and tokenizer files are, and quantizing a folder into an .etq.
#pragma once
#include <functional>
#include <string>

namespace et::model {

// The folder holding config.json and the tokenizer files: the folder itself, or for an .etq file
// a cache folder its embedded files are written to once ($XDG_CACHE_HOME or ~/.cache, else $TMPDIR,
// /edgetune/etq-<hash>/).
std::string model_files_folder(const std::string& model_path);

struct QuantizeReport {
  int64_t quantized_matrices = 0;
  int64_t quantized_values = 0;
  double source_mb = 0, output_mb = 0;
  double rmse = 0;  // over all quantized values, relative to their RMS
};

// Quantizes every projection (q, k, v, o, gate, up, down) of a Hugging Face folder to NF4 and
// writes an .etq with the other tensors as stored and the config/tokenizer files embedded.
// `progress(done, total)` is called after each matrix.
QuantizeReport quantize_to_etq(const std::string& folder, const std::string& out_path,
                               const std::function<void(int64_t, int64_t)>& progress = {});

}  // namespace et::model
