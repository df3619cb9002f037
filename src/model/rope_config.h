// Reads the RoPE settings of config.json into one RopeSpec per attention type.
#pragma once
#include <nlohmann/json.hpp>
#include <string>

#include "edgetune/model/config.h"

namespace et::model::detail {

// Fills cfg.rope_full and cfg.rope_sliding from `j` (the text config object). Accepts
//   - rope_parameters: {"rope_type": ..., "rope_theta": ..., ...}          (newer, one for all)
//   - rope_parameters: {"full_attention": {...}, "sliding_attention": {...}} (newer, Gemma 3)
//   - rope_theta [+ rope_scaling] [+ rope_local_base_freq for Gemma]      (older)
// Gemma's sliding layers default to plain RoPE with rope_local_base_freq (10000).
void parse_rope(const nlohmann::json& j, const std::string& src, ModelConfig& cfg);

}  // namespace et::model::detail
