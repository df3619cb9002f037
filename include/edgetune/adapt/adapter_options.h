// What adapters to attach and how: the `adapters.*` and `quant.*` part of a recipe.
#pragma once
#include <string>
#include <vector>

namespace et {

// GradCut (DESIGN.md): calibrate shared adapters with per-matrix vectors, prune by score, then
// give dedicated adapters to the most important survivors.
struct GradCutOptions {
  int shared_rank = 16;          // phase 1 shared LoRA rank per module type
  double shared_alpha = 32;      // and its alpha
  int initial_full_steps = 5;    // calibration steps before pruning starts
  int prune_interval = 10;       // prune every k steps after that
  int prune_step = 3;            // matrices pruned per type each time
  double keep_attention = 0.75;  // fraction of layers kept per attention type (18/24 in the paper)
  double keep_mlp = 14.0 / 24.0; // fraction kept per MLP type (14/24)
  double w_importance = 1.0;     // w_I
  double w_cost = 2.0;           // w_C
  double threshold = 0.25;       // T: dedicated if normalized importance > mean + T*std
  int dedicated_rank = 4;
  double dedicated_alpha = 8;
  std::string cost = "flops";    // "flops" (ours) or "depth" (L - layer, the paper)
  int calibration_steps = 0;     // 0: as many as pruning needs to reach the keep counts
  double warmup_fraction = 0;    // ours: matrices below the cut train for this fraction of the steps, then freeze
};

struct AdapterOptions {
  std::string policy = "all";    // all | gradcut | list | full | none
  int rank = 8;
  double alpha = 16;
  double dropout = 0.0;
  bool rslora = false;           // scale alpha/sqrt(r) instead of alpha/r
  std::vector<std::string> targets = {"q_proj", "k_proj", "v_proj", "o_proj",
                                      "gate_proj", "up_proj", "down_proj"};
  // policy=list: matrices by name ("layers.3.self_attn.q_proj") or "layers.3.*"
  std::vector<std::string> list;
  std::string plan;              // a plan.json to reuse (policy gradcut)
  // Embedding rows to train (ids, pieces, or "auto"): see train/trainable_tokens.h.
  std::vector<std::string> trainable_tokens;
  GradCutOptions gradcut;
};

struct QuantOptions {
  std::string backbone = "nf4";  // nf4 | none
};

}  // namespace et
