// `edgetune eval`: how well a model (with or without a patch) does the turns of held-out
// conversations. For every assistant turn, the conversation up to that turn is rendered with the
// chat template as a generation prompt, the model continues greedily until its turn ends (an end
// of turn / EOS id, the template's end-of-turn text, or a ReAct "Observation:"), and the tool calls
// it wrote are scored against the turn's own (eval/tool_calls.h). The held-out loss over the
// assistant tokens (the number `train` reports as eval_loss) comes with it.
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "edgetune/eval/tool_calls.h"
#include "edgetune/tokenize/chat_template.h"

namespace et::model {
struct Model;
}

namespace et {

class Tokenizer;

struct EvalOptions {
  ChatTemplate chat_template = ChatTemplate::plain;
  int64_t max_new_tokens = 128;  // per turn
  int max_len = 2048;            // prompt + turn tokens: a turn stops there; a longer prompt is skipped (counted)
  int limit = 0;                 // evaluate at most this many conversations (0: all)
  bool loss = true;              // also the held-out loss
  std::vector<int64_t> stop_ids; // ids that end a turn (EOS, end-of-turn tokens)
};

struct TurnResult {
  std::string source;  // file:line of the conversation
  int message = 0;     // index of the assistant message in the conversation
  std::vector<ToolCall> expected;
  ParsedCalls got;
  std::string text;    // what the model wrote
  CallScore score;
};

struct EvalReport {
  int conversations = 0, turns = 0, call_turns = 0, skipped_turns = 0;
  int decisions = 0, names = 0, exact = 0, malformed_turns = 0;
  int64_t arguments_expected = 0, arguments_matched = 0;
  double loss = -1;  // mean over assistant tokens; -1 when not computed
  int64_t loss_tokens = 0;
  double seconds = 0;
  std::vector<TurnResult> details;
  nlohmann::ordered_json summary() const;  // the rates and counts (no per-turn details)
};

// The model's next assistant turn after `prefix`: the conversation rendered with a generation
// prompt, continued greedily until the turn ends, cut there. nullopt when the prompt has max_len
// tokens or more.
std::optional<std::string> generate_assistant_turn(const model::Model& model, const Tokenizer& tokenizer,
                                                   const Conversation& prefix, const EvalOptions& options);

EvalReport evaluate_conversations(const model::Model& model, const Tokenizer& tokenizer,
                                  const std::vector<Conversation>& conversations, const EvalOptions& options);

// Stop ids for `tmpl`: `base` plus the ids of the template's end-of-turn tokens when the
// tokenizer has them as single tokens (<|im_end|>, <|eot_id|>, <end_of_turn>) and its EOS.
std::vector<int64_t> turn_stop_ids(const Tokenizer& tokenizer, ChatTemplate tmpl, std::vector<int64_t> base);

}  // namespace et
