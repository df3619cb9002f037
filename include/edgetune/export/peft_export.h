// Hugging Face PEFT LoRA adapter: <dir>/adapter_config.json + <dir>/adapter_model.safetensors.
// Keys base_model.model.<module>.lora_A.weight (r x in) and .lora_B.weight (out x r); PEFT scales
// by lora_alpha/r (lora_alpha/sqrt(r) with use_rslora). target_modules lists the adapted modules by
// full path, so only they get adapters; per-module ranks and alphas that differ from the default
// go into rank_pattern / alpha_pattern. A shared adapter is written as each module's exact
// (A_m, B_m) = (diag(a_m) A_t, diag(b_m) B_t). Modules without an adapter are absent.
#pragma once
#include <string>

#include "edgetune/adapt/adapters.h"

namespace et {

// Writes the adapter folder atomically per file. base_model_name_or_path is the base's own name
// when its config.json carries `_name_or_path` (a hub id such as "Qwen/Qwen2.5-0.5B"), else the
// absolute path of base_path.
void export_peft(const AdapterSet& adapters, const std::string& base_path, const std::string& out_dir);

}  // namespace et
