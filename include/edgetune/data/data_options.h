// Where the training data comes from and how it becomes token ids: `data.*` of a recipe.
#pragma once
#include <string>

namespace et {

struct DataOptions {
  std::string train;                 // JSONL trajectories
  std::string eval;                  // held-out JSONL (optional)
  std::string format = "auto";       // auto | chat | react
  std::string chat_template = "auto";  // auto | llama3 | chatml | qwen3 | gemma3 | plain
  bool last_turn_only = false;       // loss on the final assistant turn only
  bool pack = true;                  // pack sequences (no attention across them) or pad
  int max_seq_len = 512;             // tokens per packed row / truncation length
  std::string on_error = "skip";     // skip | fail: what a malformed line does
  std::string system_prompt;         // used when a conversation has none ("" = none)
  int eval_max_examples = 0;         // 0 = all
};

}  // namespace et
