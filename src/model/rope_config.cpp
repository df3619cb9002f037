// RoPE settings from config.json, old and new spellings (see rope_config.h). The defaults per
// family follow transformers' configuration classes: theta 10000 (Llama, Qwen2, Qwen3),
// 1e6 for Gemma 3's full-attention layers and 1e4 for its sliding layers.
#include "rope_config.h"

#include "edgetune/core/error.h"
#include "json_fields.h"

namespace et::model::detail {

namespace {

RopeSpec parse_one(const json& r, double default_theta, const std::string& src, const std::string& key) {
  RopeSpec s;
  s.theta = default_theta;
  if (r.is_null()) return s;
  if (!r.is_object()) fail("config", src, ": '", key, "' should be an object, got ", r.dump());
  std::string type = get_string(r, "rope_type", "", src);
  if (type.empty()) type = get_string(r, "type", "default", src);
  s.theta = get_double(r, "rope_theta", default_theta, src);
  if (type == "default") {
    s.type = RopeType::standard;
  } else if (type == "linear") {
    s.type = RopeType::linear;
    if (!has_value(r, "factor")) fail("config", src, ": '", key, "' has rope_type linear but no factor");
    s.factor = get_double(r, "factor", 1.0, src);
  } else if (type == "llama3") {
    s.type = RopeType::llama3;
    for (const char* k : {"factor", "low_freq_factor", "high_freq_factor", "original_max_position_embeddings"})
      if (!has_value(r, k)) fail("config", src, ": '", key, "' has rope_type llama3 but no ", k);
    s.factor = get_double(r, "factor", 1.0, src);
    s.low_freq_factor = get_double(r, "low_freq_factor", 1.0, src);
    s.high_freq_factor = get_double(r, "high_freq_factor", 4.0, src);
    s.original_max_position_embeddings = get_int(r, "original_max_position_embeddings", 8192, src);
    if (s.high_freq_factor == s.low_freq_factor)
      fail("config", src, ": '", key, "' has low_freq_factor == high_freq_factor (", s.low_freq_factor, ")");
  } else {
    fail("config", src, ": unsupported rope type '", type, "' in '", key,
         "' (supported: default, linear, llama3)");
  }
  if (s.type != RopeType::standard && !(s.factor > 0))
    fail("config", src, ": '", key, "' has a non-positive factor ", s.factor);
  if (!(s.theta > 0)) fail("config", src, ": '", key, "' has a non-positive rope_theta ", s.theta);
  return s;
}

}  // namespace

void parse_rope(const json& j, const std::string& src, ModelConfig& cfg) {
  const bool gemma = cfg.family == Family::gemma3;
  const double theta = get_double(j, "rope_theta", gemma ? 1e6 : 1e4, src);
  const double local_theta = get_double(j, "rope_local_base_freq", 1e4, src);
  if (get_double(j, "partial_rotary_factor", 1.0, src) != 1.0)
    fail("config", src, ": partial_rotary_factor ", j["partial_rotary_factor"].dump(), " is not supported");

  if (has_value(j, "rope_parameters")) {
    const json& rp = j["rope_parameters"];
    if (!rp.is_object()) fail("config", src, ": 'rope_parameters' should be an object, got ", rp.dump());
    const bool per_type = rp.contains("full_attention") || rp.contains("sliding_attention");
    if (per_type) {
      for (auto it = rp.begin(); it != rp.end(); ++it)
        if (it.key() != "full_attention" && it.key() != "sliding_attention")
          fail("config", src, ": rope_parameters has an unknown layer type '", it.key(), "'");
      cfg.rope_full = parse_one(rp.value("full_attention", json()), theta, src, "rope_parameters.full_attention");
      cfg.rope_sliding = rp.contains("sliding_attention")
                             ? parse_one(rp["sliding_attention"], local_theta, src, "rope_parameters.sliding_attention")
                             : cfg.rope_full;
    } else {
      cfg.rope_full = parse_one(rp, theta, src, "rope_parameters");
      cfg.rope_sliding = gemma ? parse_one(json(), local_theta, src, "rope_local_base_freq") : cfg.rope_full;
    }
    return;
  }
  const json scaling = j.is_object() && j.contains("rope_scaling") ? j["rope_scaling"] : json();
  cfg.rope_full = parse_one(scaling, theta, src, "rope_scaling");
  cfg.rope_sliding = gemma ? parse_one(json(), local_theta, src, "rope_local_base_freq") : cfg.rope_full;
}

}  // namespace et::model::detail
