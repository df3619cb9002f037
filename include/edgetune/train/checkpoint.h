// Training checkpoints: trainable tensors, AdamW state and where the run stood (step, data
// position, plan, recipe), in one safetensors file written atomically as
// <dir>/checkpoints/step-<NNNNNNNN>.safetensors. Only the newest `keep` are kept.
//
// Version 2 carries a checksum per tensor (core/checksums.h), verified on load, so a file with
// flipped bits is refused rather than resumed from, and the optimizer's own step count (a skipped
// step does not update AdamW); version 1 files (no checksums) still load.
#pragma once
#include <torch/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace et {

struct CheckpointState {
  int64_t step = 0;           // training steps done
  int64_t optimizer_steps = -1;  // AdamW updates applied (fewer when steps were skipped); -1: = step
  uint64_t data_epoch = 0;    // BatchStream position
  uint64_t data_cursor = 0;
  std::string plan_json;
  std::string recipe_yaml;
  std::vector<std::pair<std::string, torch::Tensor>> params;     // trainable tensors
  std::vector<std::pair<std::string, torch::Tensor>> optimizer;  // AdamW moments
};

// Writes the checkpoint and prunes older ones; returns its path.
std::string save_checkpoint(const std::string& run_dir, const CheckpointState& state, int keep);
// The checkpoints in <run_dir>/checkpoints, oldest first (full paths).
std::vector<std::string> list_checkpoints(const std::string& run_dir);
// The newest checkpoint in <run_dir>/checkpoints, or "" if there is none.
std::string latest_checkpoint(const std::string& run_dir);
// Reads a checkpoint (tensors on the CPU, float32). Validates the magic metadata, the plan JSON,
// every tensor's checksum and that every value is finite; throws naming the file.
CheckpointState load_checkpoint(const std::string& path);

// The newest checkpoint of the run that loads: a damaged one (truncated, failing its checksum) is
// renamed to <name>.damaged, with a warning naming it, and the next older one is tried. nullopt
// when there is none (or none is intact).
struct ResumePoint {
  std::string path;
  CheckpointState state;
};
std::optional<ResumePoint> load_resume_checkpoint(const std::string& run_dir);

// Removes the partial files an interrupted atomic write of the run's own outputs leaves
// (<name>.tmp.<pid>: recipe.resolved.yaml, metrics.jsonl, plan.json, patch.safetensors in run_dir,
// checkpoints/step-*, peft/adapter_*, anything in model/), with a message for each; returns how
// many. Call it only while holding the run folder's lock (no other run writes there then).
int remove_stale_temp_files(const std::string& run_dir);

}  // namespace et
