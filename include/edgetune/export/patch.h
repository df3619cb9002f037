// The native patch: patch.safetensors holding the adapter tensors under their native names
// ("<module>.lora_A", "shared.<type>.lora_B", "<module>.shared_a", ...) with metadata:
//   format "edgetune-patch", version "1", edgetune_version, plan (plan.json), recipe (resolved
//   YAML), base_path, base_config (config.json text), base_fingerprint (per matrix: shape, dtype,
//   a 64-bit hash of its bytes and its Frobenius norm), checksums (per tensor, core/checksums.h;
//   verified on read, absent in patches written before them, which still load).
// Enough to resume, retune, export to the other formats, and to refuse a wrong base.
#pragma once
#include <torch/types.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "edgetune/adapt/adapters.h"

namespace et {

struct MatrixFingerprint {
  std::string module;
  std::vector<int64_t> shape;
  std::string dtype;  // as stored in the base files
  uint64_t hash = 0;  // over the stored bytes
  double norm = 0;    // Frobenius norm in float64
};

// Fingerprints of the weight matrices of `modules` (HF module paths) in a model folder.
std::vector<MatrixFingerprint> fingerprint_base(const std::string& model_folder,
                                                const std::vector<std::string>& modules);

struct Patch {
  Plan plan;
  std::string recipe_yaml;
  std::string base_path;
  std::string base_config;  // config.json text of the base
  std::string edgetune_version;
  std::vector<MatrixFingerprint> fingerprints;
  std::vector<std::pair<std::string, torch::Tensor>> tensors;  // float32, CPU
};

// A patch of `adapters` trained on the model in `base_folder` (fingerprints its adapted matrices).
Patch make_patch(const AdapterSet& adapters, const std::string& base_folder, const std::string& recipe_yaml);
void write_patch(const std::string& path, const Patch& patch);
// Reads and validates a patch: magic, version, plan, every tensor against the plan's shapes.
Patch read_patch(const std::string& path);
// The adapter tensors of a patch as an AdapterSet on `device` (not trainable).
AdapterSet adapters_from_patch(const Patch& patch, torch::Device device);
// Throws naming the first matrix whose fingerprint differs, unless `force` (then it only warns).
void check_patch_base(const Patch& patch, const std::string& model_folder, bool force);
// Reads the patch at `path`, checks it against the base `model_folder` (see check_patch_base) and
// attaches its adapters to `model` on the model's device. Returns the patch (its plan, recipe).
Patch apply_patch(model::Model& model, const std::string& path, const std::string& model_folder, bool force);

}  // namespace et
