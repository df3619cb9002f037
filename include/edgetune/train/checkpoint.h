// Training checkpoints: trainable tensors, AdamW state and where the run stood (step, data
// position, plan, recipe), in one safetensors file written atomically as
// <dir>/checkpoints/step-<NNNNNNNN>.safetensors. Only the newest `keep` are kept.
#pragma once
#include <torch/types.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace et {

struct CheckpointState {
  int64_t step = 0;           // optimizer steps done
  uint64_t data_epoch = 0;    // BatchStream position
  uint64_t data_cursor = 0;
  std::string plan_json;
  std::string recipe_yaml;
  std::vector<std::pair<std::string, torch::Tensor>> params;     // trainable tensors
  std::vector<std::pair<std::string, torch::Tensor>> optimizer;  // AdamW moments
};

// Writes the checkpoint and prunes older ones; returns its path.
std::string save_checkpoint(const std::string& run_dir, const CheckpointState& state, int keep);
// The newest checkpoint in <run_dir>/checkpoints, or "" if there is none.
std::string latest_checkpoint(const std::string& run_dir);
// Reads a checkpoint (tensors on the CPU, float32). Validates the magic metadata and every tensor.
CheckpointState load_checkpoint(const std::string& path);

}  // namespace et
