// `edgetune eval`: how well a model (with or without a patch) does the turns of held-out
// conversations. For every assistant turn, the conversation up to that turn is rendered with the
// chat template as a generation prompt, the model continues greedily until its turn ends (an end
// of turn / EOS id, the template's end-of-turn text, or a ReAct "Observation:"), and the tool calls
// it wrote are scored against the turn's own (eval/tool_calls.h). The held-out loss over the
// assistant tokens (the number `train` reports as eval_loss) comes with it.
//
// With constrain, decoding is restricted to the call grammar of the template's syntax and the
// conversation's tools (eval/call_grammar.h, eval/token_mask.h): every call the model writes
// parses and fits its tool's schema. Every turn carries a confidence (eval/confidence.h); the
// report gives the exact-match accuracy of the most confident call turns at 50%, 80% and 100%
// coverage, and how many turns are valid (they parse, and each call names an offered tool with
// its required arguments, no unknown ones, values of the schema's types).
#pragma once
#include "edgetune/data/examples.h"
#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "edgetune/eval/confidence.h"
#include "edgetune/eval/tool_calls.h"
#include "edgetune/model/sampler.h"
#include "edgetune/tokenize/chat_template.h"

namespace et::model {
struct Model;
}

namespace et {

class Tokenizer;

struct TokenTrie;

struct EvalOptions {
  ChatTemplate chat_template = ChatTemplate::plain;
  int64_t max_new_tokens = 128;  // per turn
  int max_len = 2048;            // prompt + turn tokens: a turn stops there; a longer prompt is skipped (counted)
  int limit = 0;                 // evaluate at most this many conversations (0: all)
  // How the held-out loss turns a conversation into an example: training's own way (a patch's
  // recipe gives its system prompt, last_turn_only and max_seq_len).
  ExampleOptions example;
  bool loss = true;              // also the held-out loss
  std::vector<int64_t> stop_ids; // ids that end a turn (EOS, end-of-turn tokens)
  bool constrain = false;        // decode by the call grammar
  // The tokenizer's trie for constrain; built from the tokenizer when null.
  std::shared_ptr<const TokenTrie> vocabulary;
};

// One generated assistant turn.
struct GeneratedTurn {
  std::string text;               // cut at the end of the turn
  std::vector<int32_t> ids;       // the tokens generated (the last may lie past the cut)
  std::vector<double> logprobs;   // of each token, under the distribution it was chosen from
  std::vector<size_t> ends;       // where each token's text ends in the uncut text
  ParsedCalls calls;              // read back from text
  std::vector<double> call_confidence;  // per call of `calls`
  double confidence = 1;          // the turn's (eval/confidence.h)
};

struct TurnResult {
  std::string source;  // file:line of the conversation
  int message = 0;     // index of the assistant message in the conversation
  std::vector<ToolCall> expected;
  ParsedCalls got;
  std::string text;    // what the model wrote
  CallScore score;
  double confidence = 1;
  std::vector<double> call_confidence;
  bool valid = true;   // parses; every call fits an offered tool's schema
  std::string invalid; // why not
};

struct EvalReport {
  int conversations = 0, turns = 0, call_turns = 0, skipped_turns = 0;
  int decisions = 0, names = 0, exact = 0, malformed_turns = 0, valid_turns = 0;
  bool constrained = false;
  int64_t arguments_expected = 0, arguments_matched = 0;
  double loss = -1;  // mean over assistant tokens; -1 when not computed
  int64_t loss_tokens = 0;
  double seconds = 0;
  std::vector<TurnResult> details;
  nlohmann::ordered_json summary() const;  // the rates and counts (no per-turn details)
  // Exact match of the call turns, most confident first, at 50%, 80%, 100% coverage.
  std::vector<CoveragePoint> coverage() const;
};

// The model's next assistant turn after `prefix`: the conversation rendered with a generation
// prompt, continued greedily (or by `sampling`) until the turn ends, cut there; with
// options.constrain by the call grammar of the conversation's tools. on_text, when given, sees the
// text as it grows (before the cut). nullopt when the prompt has max_len tokens or more.
std::optional<GeneratedTurn> generate_assistant_turn(const model::Model& model, const Tokenizer& tokenizer,
                                                     const Conversation& prefix, const EvalOptions& options,
                                                     const model::SamplingOptions& sampling = {},
                                                     const std::function<void(const std::string&)>& on_text = nullptr);

// Why `calls` (read from a turn) are not valid calls of the conversation's tools: "" when they are.
std::string tool_calls_error(const nlohmann::ordered_json& tools, const ParsedCalls& calls);

EvalReport evaluate_conversations(const model::Model& model, const Tokenizer& tokenizer,
                                  const std::vector<Conversation>& conversations, const EvalOptions& options);

// Stop ids for `tmpl`: `base` plus the ids of the template's end-of-turn tokens when the
// tokenizer has them as single tokens (<|im_end|>, <|eot_id|>, <end_of_turn>) and its EOS.
std::vector<int64_t> turn_stop_ids(const Tokenizer& tokenizer, ChatTemplate tmpl, std::vector<int64_t> base);

}  // namespace et
