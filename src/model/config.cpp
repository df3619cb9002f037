// config.json -> ModelConfig. Defaults are those of transformers' configuration classes for each
// family, so a config that omits a key means what it means to transformers.
#include "edgetune/model/config.h"

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>

#include "edgetune/core/error.h"
#include "edgetune/core/file_io.h"
#include "json_fields.h"
#include "rope_config.h"

namespace et::model {

using namespace detail;

const char* family_name(Family f) {
  switch (f) {
    case Family::llama: return "llama";
    case Family::qwen2: return "qwen2";
    case Family::qwen3: return "qwen3";
    case Family::gemma3: return "gemma3";
  }
  return "?";
}

const char* rope_type_name(RopeType t) {
  switch (t) {
    case RopeType::standard: return "default";
    case RopeType::linear: return "linear";
    case RopeType::llama3: return "llama3";
  }
  return "?";
}

const char* activation_name(Activation a) {
  switch (a) {
    case Activation::silu: return "silu";
    case Activation::gelu_tanh: return "gelu_pytorch_tanh";
    case Activation::gelu: return "gelu";
  }
  return "?";
}

const char* layer_type_name(LayerType t) {
  return t == LayerType::sliding_attention ? "sliding_attention" : "full_attention";
}

namespace {

const char* kSupported = "llama, qwen2, qwen3, gemma3_text, gemma3";

// The family from model_type, or from architectures[0] when model_type is absent.
Family detect_family(const std::string& model_type, const std::string& arch, const std::string& src) {
  if (model_type == "llama") return Family::llama;
  if (model_type == "qwen2") return Family::qwen2;
  if (model_type == "qwen3") return Family::qwen3;
  if (model_type == "gemma3_text" || model_type == "gemma3") return Family::gemma3;
  if (model_type.empty()) {
    if (arch == "LlamaForCausalLM") return Family::llama;
    if (arch == "Qwen2ForCausalLM") return Family::qwen2;
    if (arch == "Qwen3ForCausalLM") return Family::qwen3;
    if (arch == "Gemma3ForCausalLM" || arch == "Gemma3ForConditionalGeneration") return Family::gemma3;
  }
  fail("config", src, ": unsupported architecture '", arch.empty() ? "(none)" : arch, "' (model_type '",
       model_type, "'); supported model types: ", kSupported);
}

Activation parse_activation(const std::string& name, const std::string& src) {
  if (name == "silu" || name == "swish") return Activation::silu;
  if (name == "gelu_pytorch_tanh" || name == "gelu_new" || name == "gelu_tanh") return Activation::gelu_tanh;
  if (name == "gelu") return Activation::gelu;
  fail("config", src, ": unsupported activation '", name, "' (supported: silu, gelu_pytorch_tanh, gelu_new, gelu)");
}

std::vector<int64_t> parse_ids(const json& j, const char* key, const std::string& src) {
  std::vector<int64_t> out;
  if (!has_value(j, key)) return out;
  const json& v = j[key];
  if (v.is_number_integer()) {
    out.push_back(v.get<int64_t>());
  } else if (v.is_array()) {
    for (const auto& e : v) {
      if (!e.is_number_integer()) fail("config", src, ": '", key, "' has a non-integer entry ", e.dump());
      out.push_back(e.get<int64_t>());
    }
  } else {
    fail("config", src, ": '", key, "' should be an id or a list of ids, got ", v.dump());
  }
  return out;
}

void parse_layer_types(const json& j, const std::string& src, ModelConfig& cfg) {
  cfg.layer_types.assign(static_cast<size_t>(cfg.num_layers), LayerType::full_attention);
  if (has_value(j, "layer_types")) {
    const json& lt = j["layer_types"];
    if (!lt.is_array() || static_cast<int64_t>(lt.size()) != cfg.num_layers)
      fail("config", src, ": 'layer_types' should list ", cfg.num_layers, " layer types, got ", lt.dump());
    for (size_t i = 0; i < lt.size(); ++i) {
      const std::string t = lt[i].is_string() ? lt[i].get<std::string>() : lt[i].dump();
      if (t == "full_attention") cfg.layer_types[i] = LayerType::full_attention;
      else if (t == "sliding_attention") cfg.layer_types[i] = LayerType::sliding_attention;
      else fail("config", src, ": unsupported layer type '", t, "' for layer ", i,
                " (supported: full_attention, sliding_attention)");
    }
  } else if (cfg.family == Family::gemma3) {
    int64_t pattern = get_int(j, "sliding_window_pattern", get_int(j, "_sliding_window_pattern", 6, src), src);
    if (pattern < 1) fail("config", src, ": sliding_window_pattern ", pattern, " should be >= 1");
    for (int64_t i = 0; i < cfg.num_layers; ++i)
      if ((i + 1) % pattern != 0) cfg.layer_types[static_cast<size_t>(i)] = LayerType::sliding_attention;
  } else if (cfg.family == Family::qwen2 || cfg.family == Family::qwen3) {
    if (get_bool(j, "use_sliding_window", false, src)) {
      const int64_t first = get_int(j, "max_window_layers", 28, src);
      for (int64_t i = first; i < cfg.num_layers; ++i)
        cfg.layer_types[static_cast<size_t>(i)] = LayerType::sliding_attention;
    }
  }
  const bool any_sliding = std::count(cfg.layer_types.begin(), cfg.layer_types.end(),
                                      LayerType::sliding_attention) > 0;
  if (any_sliding) {
    const int64_t def = cfg.family == Family::gemma3 ? 4096 : 0;
    cfg.sliding_window = get_int(j, "sliding_window", def, src);
    if (cfg.sliding_window <= 0)
      fail("config", src, ": sliding_attention layers need a positive 'sliding_window', got ",
           j.contains("sliding_window") ? j["sliding_window"].dump() : "none");
  } else {
    cfg.sliding_window = 0;
  }
}

ModelConfig parse_text_config(const json& top, const std::string& src) {
  if (!top.is_object()) fail("config", src, ": top level is not a JSON object");
  ModelConfig cfg;
  cfg.source = src;
  cfg.model_type = get_string(top, "model_type", "", src);
  if (has_value(top, "architectures")) {
    const json& a = top["architectures"];
    if (a.is_array() && !a.empty() && a[0].is_string()) cfg.architecture = a[0].get<std::string>();
  }
  cfg.family = detect_family(cfg.model_type, cfg.architecture, src);
  // gemma3 (multimodal) keeps the language model's settings under text_config.
  const bool nested = cfg.model_type == "gemma3" || cfg.architecture == "Gemma3ForConditionalGeneration";
  if (nested && !has_value(top, "text_config"))
    fail("config", src, ": model_type '", cfg.model_type, "' needs a 'text_config' object");
  const json& j = nested ? top["text_config"] : top;
  if (!j.is_object()) fail("config", src, ": 'text_config' should be an object");
  if (has_value(top, "quantization_config") || has_value(j, "quantization_config"))
    fail("config", src, ": pre-quantized checkpoints (quantization_config) are not supported; "
         "give the float16/bfloat16/float32 model");

  const bool gemma = cfg.family == Family::gemma3;
  cfg.vocab_size = gemma ? get_int(j, "vocab_size", 262208, src) : require_int(j, "vocab_size", src);
  cfg.hidden_size = require_int(j, "hidden_size", src);
  cfg.intermediate_size = require_int(j, "intermediate_size", src);
  cfg.num_layers = require_int(j, "num_hidden_layers", src);
  cfg.num_heads = require_int(j, "num_attention_heads", src);
  cfg.num_kv_heads = get_int(j, "num_key_value_heads", cfg.num_heads, src);
  const int64_t default_head_dim = gemma ? 256
                                   : cfg.family == Family::qwen3 ? 128
                                   : (cfg.num_heads > 0 ? cfg.hidden_size / cfg.num_heads : 0);
  cfg.head_dim = get_int(j, "head_dim", default_head_dim, src);
  cfg.max_position_embeddings = get_int(j, "max_position_embeddings", gemma ? 131072 : 2048, src);
  cfg.rms_norm_eps = get_double(j, "rms_norm_eps", 1e-6, src);

  for (auto [name, v] : {std::pair<const char*, int64_t>{"vocab_size", cfg.vocab_size},
                         {"hidden_size", cfg.hidden_size}, {"intermediate_size", cfg.intermediate_size},
                         {"num_hidden_layers", cfg.num_layers}, {"num_attention_heads", cfg.num_heads},
                         {"num_key_value_heads", cfg.num_kv_heads}, {"head_dim", cfg.head_dim}})
    if (v <= 0) fail("config", src, ": '", name, "' should be positive, got ", v);
  if (cfg.num_heads % cfg.num_kv_heads != 0)
    fail("config", src, ": num_attention_heads ", cfg.num_heads, " is not a multiple of num_key_value_heads ",
         cfg.num_kv_heads);
  if (cfg.head_dim % 2 != 0) fail("config", src, ": head_dim ", cfg.head_dim, " must be even for RoPE");
  if (!(cfg.rms_norm_eps > 0)) fail("config", src, ": rms_norm_eps should be positive, got ", cfg.rms_norm_eps);

  std::string act = get_string(j, "hidden_activation", "", src);
  if (act.empty()) act = get_string(j, "hidden_act", gemma ? "gelu_pytorch_tanh" : "silu", src);
  cfg.activation = parse_activation(act, src);

  const bool attention_bias = get_bool(j, "attention_bias", false, src);
  cfg.qkv_bias = cfg.family == Family::qwen2 ? true : attention_bias;
  cfg.o_bias = cfg.family == Family::qwen2 ? false : attention_bias;
  cfg.mlp_bias = cfg.family == Family::llama && get_bool(j, "mlp_bias", false, src);
  cfg.qk_norm = cfg.family == Family::qwen3 || gemma;
  cfg.gemma_norms = gemma;
  bool tie = get_bool(top, "tie_word_embeddings", gemma, src);
  if (nested && has_value(j, "tie_word_embeddings")) tie = get_bool(j, "tie_word_embeddings", tie, src);
  cfg.tie_word_embeddings = tie;

  if (gemma) {
    const double q_scalar = get_double(j, "query_pre_attn_scalar", 256, src);
    if (!(q_scalar > 0)) fail("config", src, ": query_pre_attn_scalar should be positive, got ", q_scalar);
    cfg.attn_scale = 1.0 / std::sqrt(q_scalar);
    cfg.embed_scale = std::sqrt(static_cast<double>(cfg.hidden_size));
    cfg.attn_softcap = get_double(j, "attn_logit_softcapping", 0, src);
    cfg.final_softcap = get_double(j, "final_logit_softcapping", 0, src);
    if (get_bool(j, "use_bidirectional_attention", false, src))
      fail("config", src, ": use_bidirectional_attention=true (an embedding model) is not supported");
  } else {
    cfg.attn_scale = 1.0 / std::sqrt(static_cast<double>(cfg.head_dim));
  }
  if (cfg.attn_softcap < 0 || cfg.final_softcap < 0)
    fail("config", src, ": logit softcapping values should be positive");

  parse_layer_types(j, src, cfg);
  parse_rope(j, src, cfg);

  cfg.torch_dtype = get_string(j, "dtype", get_string(j, "torch_dtype", get_string(top, "torch_dtype", "", src), src), src);
  auto ids_of = [&](const char* key) {
    auto v = parse_ids(j, key, src);
    return v.empty() && nested ? parse_ids(top, key, src) : v;
  };
  auto bos = ids_of("bos_token_id");
  cfg.bos_token_id = bos.empty() ? -1 : bos[0];
  auto pad = ids_of("pad_token_id");
  cfg.pad_token_id = pad.empty() ? -1 : pad[0];
  cfg.eos_token_ids = ids_of("eos_token_id");
  return cfg;
}

}  // namespace

ModelConfig parse_config(const std::string& json_text, const std::string& source) {
  json j;
  try {
    j = json::parse(json_text);
  } catch (const json::exception& e) {
    fail("config", source, ": not valid JSON (", e.what(), ")");
  }
  try {
    return parse_text_config(j, source);
  } catch (const json::exception& e) {  // a type surprise the field readers did not foresee
    fail("config", source, ": ", e.what());
  }
}

ModelConfig load_config(const std::string& folder) {
  const std::string path = is_directory(folder) ? path_join(folder, "config.json") : folder;
  if (!file_exists(path)) fail("config", folder, ": no config.json (is this a Hugging Face model folder?)");
  return parse_config(read_text_file(path), path);
}

std::vector<int64_t> stop_token_ids(const std::string& folder, const ModelConfig& config) {
  std::vector<int64_t> out;
  auto add = [&](int64_t id) {
    if (id >= 0 && std::find(out.begin(), out.end(), id) == out.end()) out.push_back(id);
  };
  for (auto id : config.eos_token_ids) add(id);
  const std::string gen = path_join(folder, "generation_config.json");
  if (is_directory(folder) && file_exists(gen)) {
    json j;
    try {
      j = json::parse(read_text_file(gen));
    } catch (const json::exception& e) {
      fail("config", gen, ": not valid JSON (", e.what(), ")");
    }
    for (auto id : parse_ids(j, "eos_token_id", gen)) add(id);
  }
  return out;
}

}  // namespace et::model
