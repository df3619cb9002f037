// A recipe is the whole configuration of a run, as data: one struct with defaults, and a table
// (recipe_fields) that gives every key its dotted path, type and help text. Values come from the
// defaults, then a YAML file, then `--set key=value` overrides; the resolved recipe is written
// next to the outputs. Unknown keys and wrong types are errors naming the key path (and the
// nearest valid key).
#pragma once
#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "edgetune/adapt/adapter_options.h"
#include "edgetune/data/data_options.h"

namespace et {

struct ModelOptions {
  std::string path;                // Hugging Face folder or .etq
  std::string device = "auto";     // auto | cpu | cuda
  std::string dtype = "auto";      // auto (bf16 on GPU, fp32 on CPU) | float32 | bfloat16
  std::string init = "pretrained"; // pretrained (weights from the folder) | random (from config.json)
};

struct TrainOptions {
  int max_steps = 100;
  int batch_size = 4;              // sequences (packed rows) per micro-batch
  int grad_accum = 1;              // micro-batches per optimizer step
  double lr = 2e-4;
  std::string schedule = "cosine";  // cosine | linear | constant
  int warmup_steps = 10;
  double min_lr_ratio = 0.1;       // final lr = lr * min_lr_ratio (cosine/linear)
  double weight_decay = 0.0;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double adam_eps = 1e-8;
  double max_grad_norm = 1.0;      // 0 disables clipping
  int max_bad_steps = 3;           // skipped steps in a row that stop the run (0: never stop)
  double loss_spike_factor = 4.0;  // a loss above max(f * first, first + ln vocab) is exploded (0: off)
  int64_t seed = 0;
  int eval_every = 50;             // 0: only at the start and the end
  int save_every = 100;            // checkpoint period in steps (0: only at the end)
  int log_every = 1;
  bool grad_checkpoint = false;
  int threads = 0;                 // CPU threads (0: all cores)
  std::string cut_cache = "auto";  // auto | on | off: keep the hidden states at the cut layer
  int cut_cache_max_mb = 4096;     // auto: only when the cache fits in this many MB
  std::string kernels = "fast";    // fast | reference (ops::KernelPath)
  int memory_budget = 0;           // MiB the run must fit in (0: off); see train/memory_plan.h
};

struct OutputOptions {
  std::string dir = "runs/edgetune";
  bool export_peft = true;          // write peft/ at the end
  int keep_checkpoints = 2;
};

struct Recipe {
  ModelOptions model;
  QuantOptions quant;
  AdapterOptions adapters;
  DataOptions data;
  TrainOptions train;
  OutputOptions output;
};

// One key of the table. `value` points into a Recipe.
struct RecipeField {
  std::string key;   // "train.lr"
  std::string help;
  std::variant<int*, int64_t*, double*, bool*, std::string*, std::vector<std::string>*> value;
  std::vector<std::string> choices;  // allowed values for strings (empty: any)
  // A file or folder: relative in a recipe file, it resolves against the recipe's folder; in
  // --set (and as a default), against the current folder.
  bool path = false;
};

std::vector<RecipeField> recipe_fields(Recipe& r);

// Loads a YAML recipe over the defaults. Relative paths in it (the keys marked `path`) resolve
// against the recipe's folder, made absolute.
Recipe load_recipe(const std::string& yaml_path);
// Parses a YAML document (`origin` names it in errors). Relative paths resolve against `base_dir`
// when it is given, else they stay as written.
Recipe parse_recipe(const std::string& yaml_text, const std::string& origin, const std::string& base_dir = "");
// Makes every relative path key absolute against the current folder (after the --set overrides,
// whose paths are the user's, typed where they stand).
void absolutize_recipe_paths(Recipe& r);
// Applies one "key=value" override (value parsed as a YAML scalar or flow sequence).
void apply_override(Recipe& r, const std::string& assignment);
// Checks cross-field constraints (choices, positive sizes); throws naming the key.
void validate_recipe(const Recipe& r);
// The resolved recipe as YAML (every key, nested maps).
std::string recipe_to_yaml(const Recipe& r);
// A table of every key: type, default and help (for `edgetune train --explain`).
std::string explain_recipe();
// The valid key closest to `key` by edit distance ("" if none is close).
std::string nearest_recipe_key(const std::string& key);

}  // namespace et
