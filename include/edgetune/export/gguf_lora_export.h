// GGUF LoRA adapter for llama.cpp and Ollama (`ADAPTER` in a Modelfile, `--lora` in llama.cpp).
//
// Metadata: general.type = "adapter", adapter.type = "lora", general.architecture of the base
// (llama, qwen2, qwen3, gemma3), adapter.lora.alpha. Tensors blk.N.<name>.weight.lora_a with
// ne [n_in, r] and .lora_b with ne [r, n_out] (our A: r x in and B: out x r as stored), F32.
// llama.cpp scales every pair by alpha / r with r read per tensor (lora_a ne[1]), one alpha per
// file; each module's own scale s_m (alpha_m / r_m, or alpha_m / sqrt(r_m)) is folded into its B:
// B' = B * s_m * r_m / alpha. llama.cpp runs Llama's RoPE on interleaved q/k rows, so for the
// llama architecture the rows of q_proj's and k_proj's B are permuted as its converter permutes
// the base weights (per head: [2, d/2] -> [d/2, 2]); Qwen and Gemma keep Hugging Face's order.
#pragma once
#include <string>

#include "edgetune/adapt/adapters.h"

namespace et {

// Writes the adapter as one .gguf file (atomic). base_folder gives the architecture and head counts.
void export_gguf_lora(const AdapterSet& adapters, const std::string& base_folder, const std::string& out_path);

// llama.cpp's tensor name for a Hugging Face projection module ("model.layers.3.self_attn.q_proj"
// -> "blk.3.attn_q.weight").
std::string gguf_tensor_name(int layer, const std::string& type);

// The row permutation llama.cpp's converter applies to Llama q/k weights, on a [rows, cols] tensor.
torch::Tensor llama_rope_permute_rows(const torch::Tensor& w, int64_t n_head);

}  // namespace et
