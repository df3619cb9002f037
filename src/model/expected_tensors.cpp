// The tensors a config implies (names and shapes), and their validation against the files:
// present, float dtype, shape, finite values. Finiteness is read from the stored bits (an
// all-ones exponent is inf or NaN in f32, f16 and bf16 alike), so checking a large model costs
// one pass over the memory map and no allocation.
#include <cstring>

#include "edgetune/core/error.h"
#include "edgetune/core/log.h"
#include "edgetune/model/model.h"
#include "tensor_check.h"

namespace et::model {

namespace {

std::string shape_str(const std::vector<int64_t>& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

// Returns the index of the first inf/NaN, or -1; sets *is_nan.
int64_t first_nonfinite(DType t, const uint8_t* p, int64_t n, bool* is_nan) {
  for (int64_t i = 0; i < n; ++i) {
    bool bad = false, nan = false;
    if (t == DType::f32) {
      uint32_t u;
      std::memcpy(&u, p + 4 * i, 4);
      bad = (u & 0x7f800000u) == 0x7f800000u;
      nan = bad && (u & 0x007fffffu);
    } else if (t == DType::bf16 || t == DType::f16) {
      uint16_t h;
      std::memcpy(&h, p + 2 * i, 2);
      const uint16_t exp_mask = t == DType::bf16 ? 0x7f80u : 0x7c00u;
      bad = (h & exp_mask) == exp_mask;
      nan = bad && (h & static_cast<uint16_t>(~exp_mask & 0x7fffu));
    } else if (t == DType::f64) {
      uint64_t u;
      std::memcpy(&u, p + 8 * i, 8);
      bad = (u & 0x7ff0000000000000ull) == 0x7ff0000000000000ull;
      nan = bad && (u & 0x000fffffffffffffull);
    }
    if (bad) {
      *is_nan = nan;
      return i;
    }
  }
  return -1;
}

}  // namespace

const TensorInfo& check_tensor(const SafetensorsSet& files, const ExpectedTensor& spec, bool check_values) {
  const TensorInfo* info = files.find(spec.name);
  if (!info)
    fail("model", files.folder(), ": missing tensor '", spec.name, "' (config.json implies shape ",
         shape_str(spec.shape), ")");
  const std::string& file = files.file_of(spec.name).path();
  if (!dtype_is_float(info->dtype))
    fail("model", file, ": tensor '", spec.name, "' has dtype ", dtype_name(info->dtype),
         "; expected F32, F16 or BF16");
  if (info->shape != spec.shape)
    fail("model", file, ": tensor '", spec.name, "' has shape ", info->shape_str(), ", config.json implies ",
         shape_str(spec.shape));
  if (check_values) {
    bool nan = false;
    const int64_t i = first_nonfinite(info->dtype, files.file_of(spec.name).data(*info), info->numel(), &nan);
    if (i >= 0)
      fail("model", file, ": tensor '", spec.name, "' has a ", nan ? "NaN" : "inf", " at index ", i);
  }
  return *info;
}

std::vector<ExpectedTensor> expected_tensors(const ModelConfig& c, const SafetensorsSet& files,
                                             std::string* prefix_out, bool* tied_out) {
  // Text models use "model."; Gemma 3 multimodal checkpoints nest the language model.
  std::string prefix = "model.", head = "lm_head.weight";
  for (const char* p : {"model.", "model.language_model.", "language_model.model."}) {
    if (files.has(std::string(p) + "embed_tokens.weight")) {
      prefix = p;
      break;
    }
  }
  if (prefix == "language_model.model.") head = "language_model.lm_head.weight";
  const bool tied = c.tie_word_embeddings;
  if (tied && files.has(head)) log_debug("model: ", head, " present but tie_word_embeddings is set; using embed_tokens");
  if (prefix_out) *prefix_out = prefix;
  if (tied_out) *tied_out = tied;
  return expected_tensors(c, prefix, head);
}

std::vector<ExpectedTensor> expected_tensors(const ModelConfig& c, const std::string& prefix, const std::string& head) {
  const bool tied = c.tie_word_embeddings;
  const int64_t H = c.hidden_size, I = c.intermediate_size, D = c.head_dim;
  std::vector<ExpectedTensor> out;
  out.push_back({prefix + "embed_tokens.weight", {c.vocab_size, H}});
  for (int64_t l = 0; l < c.num_layers; ++l) {
    const std::string p = prefix + "layers." + std::to_string(l) + ".";
    out.push_back({p + "input_layernorm.weight", {H}});
    out.push_back({p + "self_attn.q_proj.weight", {c.q_out(), H}});
    out.push_back({p + "self_attn.k_proj.weight", {c.kv_out(), H}});
    out.push_back({p + "self_attn.v_proj.weight", {c.kv_out(), H}});
    if (c.qkv_bias) {
      out.push_back({p + "self_attn.q_proj.bias", {c.q_out()}});
      out.push_back({p + "self_attn.k_proj.bias", {c.kv_out()}});
      out.push_back({p + "self_attn.v_proj.bias", {c.kv_out()}});
    }
    out.push_back({p + "self_attn.o_proj.weight", {H, c.q_out()}});
    if (c.o_bias) out.push_back({p + "self_attn.o_proj.bias", {H}});
    if (c.qk_norm) {
      out.push_back({p + "self_attn.q_norm.weight", {D}});
      out.push_back({p + "self_attn.k_norm.weight", {D}});
    }
    out.push_back({p + "post_attention_layernorm.weight", {H}});
    if (c.gemma_norms) {
      out.push_back({p + "pre_feedforward_layernorm.weight", {H}});
      out.push_back({p + "post_feedforward_layernorm.weight", {H}});
    }
    out.push_back({p + "mlp.gate_proj.weight", {I, H}});
    out.push_back({p + "mlp.up_proj.weight", {I, H}});
    out.push_back({p + "mlp.down_proj.weight", {H, I}});
    if (c.mlp_bias) {
      out.push_back({p + "mlp.gate_proj.bias", {I}});
      out.push_back({p + "mlp.up_proj.bias", {I}});
      out.push_back({p + "mlp.down_proj.bias", {H}});
    }
  }
  out.push_back({prefix + "norm.weight", {H}});
  if (!tied) out.push_back({head, {c.vocab_size, H}});
  return out;
}

std::string validate_tensors(const ModelConfig& config, const SafetensorsSet& files, bool check_values) {
  std::string stored;
  for (const auto& spec : expected_tensors(config, files)) {
    const TensorInfo& info = check_tensor(files, spec, check_values);
    const std::string name = dtype_name(info.dtype);
    stored = stored.empty() || stored == name ? name : "mixed";
  }
  return stored;
}

}  // namespace et::model
