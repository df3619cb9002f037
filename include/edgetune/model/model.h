// A decoder-only language model held as plain tensors, loaded from a Hugging Face folder.
//
// Loading validates every tensor before anything is used: present (the error names the tensor
// and the folder), the shape config.json implies (names tensor, expected and actual shape),
// a float dtype, and finite values (names the tensor and the first bad index). Weights are
// converted to float32 on the CPU and then to the compute dtype (float32 or bfloat16) and device.
// A tied head (tie_word_embeddings, or lm_head.weight absent from a tied model) shares
// embed_tokens.
#pragma once
#include <torch/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "edgetune/core/safetensors.h"
#include "edgetune/model/config.h"
#include "edgetune/model/linear.h"

namespace et::model {

struct DecoderLayer {
  int index = 0;
  LayerType type = LayerType::full_attention;
  // RMSNorm weights, named after their HF tensors. Llama/Qwen: input_layernorm before attention,
  // post_attention_layernorm before the MLP. Gemma 3 adds post_attention_layernorm on the
  // attention output, pre_feedforward_layernorm before and post_feedforward_layernorm after the MLP.
  torch::Tensor input_layernorm, post_attention_layernorm;
  torch::Tensor pre_feedforward_layernorm, post_feedforward_layernorm;  // Gemma only
  torch::Tensor q_norm, k_norm;                                         // Qwen3, Gemma 3: [head_dim]
  Linear q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj;
  // After fuse_projection_weights: the dense q, k, v (and gate, up) weights stacked in one buffer,
  // each projection's weight a view of its rows, so the fused group runs one GEMM. Undefined
  // otherwise (NF4 projections are dequantized side by side at each use instead).
  torch::Tensor qkv_weight, gate_up_weight;
};

struct Model {
  ModelConfig config;
  std::string folder;
  torch::Device device{torch::kCPU};
  torch::ScalarType dtype = torch::kFloat32;  // compute dtype of weights and activations
  std::string stored_dtype;                   // "F32", "BF16", "F16" or "mixed" (as in the files)
  std::string prefix;                         // tensor name prefix, e.g. "model."
  std::string head_name = "lm_head.weight";   // the untied head's tensor name

  torch::Tensor embed_tokens;  // [vocab, hidden]
  std::vector<DecoderLayer> layers;
  torch::Tensor norm;     // final RMSNorm
  torch::Tensor lm_head;  // [vocab, hidden]; the same tensor as embed_tokens when tied
  bool tied_head = false;
  // Trainable token rows (adapt/adapters.h), set by attach_adapters: the embedding (and the tied
  // head) read token_rows[i] (float32, [k, hidden]) for token token_ids[i]; token_slot [vocab]
  // maps a token to its row, k when it has none. Undefined: the base's rows.
  torch::Tensor token_ids, token_slot, token_rows;
  torch::Tensor inv_freq_full, inv_freq_sliding;  // RoPE frequencies, float32 on `device`
};

struct LoadOptions {
  torch::ScalarType dtype = torch::kFloat32;  // float32 or bfloat16
  torch::Device device{torch::kCPU};
  // Quantize the seven projections of every layer to NF4 while loading (one matrix at a time, so
  // the dense model never exists in memory); embeddings, norms and the head stay dense.
  bool quantize_nf4 = false;
  // Ignore any weight files and initialize from config.json as transformers does (normal(0, 0.02)
  // matrices and embeddings, zero biases, unit norms; Gemma's zero-centred norms at 0), seeded.
  bool init_random = false;
  uint64_t init_seed = 0;
};

// "float32"/"fp32"/"f32" or "bfloat16"/"bf16" -> dtype; anything else is an error naming `what`.
torch::ScalarType parse_compute_dtype(const std::string& name, const std::string& what);
// "cpu" or "cuda[:N]"; cuda without a CUDA device is an error.
torch::Device parse_device(const std::string& name);

// One tensor the config implies, with its expected shape.
struct ExpectedTensor {
  std::string name;
  std::vector<int64_t> shape;
};
// Every tensor of the model in load order (lm_head only when untied and present / required).
// Decides the name prefix from what the files hold ("model.", "model.language_model.", ...).
std::vector<ExpectedTensor> expected_tensors(const ModelConfig& config, const SafetensorsSet& files,
                                             std::string* prefix_out = nullptr, bool* tied_out = nullptr);
// The same for a given name prefix ("model.") and untied head name ("lm_head.weight").
std::vector<ExpectedTensor> expected_tensors(const ModelConfig& config, const std::string& prefix,
                                             const std::string& head);
// Checks presence, dtype, shape and (check_values) finiteness of every expected tensor without
// keeping them; throws on the first problem. Returns the stored dtype summary ("F32", "mixed").
std::string validate_tensors(const ModelConfig& config, const SafetensorsSet& files, bool check_values);

Model load_model(const std::string& folder, const LoadOptions& options = {});

// Every projection with its layer, kind and HF tensor name, layer by layer in q, k, v, o, gate,
// up, down order. Pointers stay valid while the model lives and its layers are not resized.
std::vector<Linear*> linear_layers(Model& model);
std::vector<const Linear*> linear_layers(const Model& model);

// Stacks each layer's dense q/k/v and gate/up weights into one buffer and makes the projections'
// weights views of it (same values, no extra memory), for the fused group path. Idempotent; layers
// whose projections are NF4 or of mixed dtype/device are left as they are.
void fuse_projection_weights(Model& model);

// Distinct parameters (a tied head counted once; NF4 weights count their values).
int64_t parameter_count(const Model& model);

// Every dense weight of the model under its Hugging Face name, in file order (a tied head once,
// as embed_tokens). The tensors are the model's own (not copies): full fine-tuning trains them.
// NF4-quantized projections are not dense and are an error here.
std::vector<std::pair<std::string, torch::Tensor>> named_weights(const Model& model);

}  // namespace et::model
