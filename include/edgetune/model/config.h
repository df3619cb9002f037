// The architecture of a decoder-only model, read from a Hugging Face config.json.
//
// Families: Llama (Llama 2/3.x, TinyLlama, SmolLM), Qwen2/2.5, Qwen3 and Gemma 3 text. The
// config is normalized here once (defaults of each family, both the older `rope_theta` /
// `rope_scaling` keys and the newer `rope_parameters` key, per-layer attention types), so the
// forward pass never looks at JSON. Anything unsupported is an et::Error naming config.json and
// the offending value.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace et::model {

enum class Family { llama, qwen2, qwen3, gemma3 };
enum class RopeType { standard, linear, llama3 };  // "default", "linear", "llama3"
enum class Activation { silu, gelu_tanh, gelu };
enum class LayerType { full_attention, sliding_attention };

const char* family_name(Family f);
const char* rope_type_name(RopeType t);
const char* activation_name(Activation a);
const char* layer_type_name(LayerType t);

// Rotary position embedding of one attention type (HF modeling_rope_utils semantics).
struct RopeSpec {
  RopeType type = RopeType::standard;
  double theta = 10000.0;
  double factor = 1.0;  // linear and llama3
  double low_freq_factor = 1.0, high_freq_factor = 4.0;  // llama3
  int64_t original_max_position_embeddings = 8192;     // llama3
};

struct ModelConfig {
  std::string source;        // the config.json it came from (for messages)
  std::string model_type;    // as written: "llama", "qwen2", "qwen3", "gemma3_text", "gemma3"
  std::string architecture;  // architectures[0], or "" when absent
  Family family = Family::llama;

  int64_t vocab_size = 0, hidden_size = 0, intermediate_size = 0;
  int64_t num_layers = 0, num_heads = 0, num_kv_heads = 0, head_dim = 0;
  int64_t max_position_embeddings = 0;
  double rms_norm_eps = 1e-6;
  Activation activation = Activation::silu;

  bool tie_word_embeddings = false;
  bool qkv_bias = false;  // q/k/v projections have a bias (Qwen2 always; others attention_bias)
  bool o_bias = false;    // o_proj has a bias (attention_bias, except Qwen2)
  bool mlp_bias = false;  // gate/up/down have a bias (Llama mlp_bias)
  bool qk_norm = false;   // RMSNorm over head_dim on q and k before RoPE (Qwen3, Gemma 3)
  bool gemma_norms = false;  // Gemma: (1 + w) RMSNorm, four norms per block, scaled embeddings

  double attn_scale = 0;     // multiplies q.k: head_dim^-0.5, or query_pre_attn_scalar^-0.5
  double embed_scale = 1.0;  // Gemma: sqrt(hidden_size), applied in the compute dtype
  double attn_softcap = 0;   // 0 = none; else scores = cap * tanh(scores / cap)
  double final_softcap = 0;  // 0 = none; else logits = cap * tanh(logits / cap)

  int64_t sliding_window = 0;  // tokens a sliding layer sees, itself included (0 = none)
  std::vector<LayerType> layer_types;  // one per layer
  RopeSpec rope_full, rope_sliding;    // RoPE of full-attention and sliding-attention layers

  std::string torch_dtype;  // "float32", "bfloat16", ... as stored in config ("" if absent)
  int64_t bos_token_id = -1, pad_token_id = -1;
  std::vector<int64_t> eos_token_ids;  // config.json's (a number or a list), possibly empty

  double norm_offset() const { return gemma_norms ? 1.0 : 0.0; }
  int64_t q_out() const { return num_heads * head_dim; }
  int64_t kv_out() const { return num_kv_heads * head_dim; }
  const RopeSpec& rope_of(LayerType t) const {
    return t == LayerType::sliding_attention ? rope_sliding : rope_full;
  }
};

// Parses config.json text; `source` names it in errors.
ModelConfig parse_config(const std::string& json_text, const std::string& source);
// Reads <folder>/config.json.
ModelConfig load_config(const std::string& folder);
// EOS ids to stop generation at: config.json's, plus generation_config.json's when the folder
// has one (Llama 3 instruct lists several there). Without duplicates, in order of appearance.
std::vector<int64_t> stop_token_ids(const std::string& folder, const ModelConfig& config);

}  // namespace et::model
