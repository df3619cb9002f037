// Berkeley Function Calling Leaderboard (BFCL) scoring with the leaderboard's AST rules.
//
// Files (see ../shared/data/README.md): questions `BFCL_v4_<cat>.json`, one JSON object a line with
// `id`, `question` (turns, each a list of {"role", "content"}) and `function` (the offered function
// docs: name, description, `parameters` as a JSON schema whose top type is "dict"); possible answers
// `possible_answer/BFCL_v4_<cat>.json` with `id` and `ground_truth`: a list of calls, each
// {function_name: {param: [allowed values...]}}. The category comes from the id ("simple_python_12"
// -> simple_python) or else from the file name. A chat JSONL file (the trajectory format, with
// "tools" and an assistant turn that makes the expected tool_calls) is read as the same examples.
//
// A call matches an expected call (bfcl_call_mismatch) when, checked against the expected
// function's schema:
//   - the function name is the expected one;
//   - every parameter the schema requires is given;
//   - every parameter given is in the schema and in the answer (else it is unexpected);
//   - each value has its schema type: "string", "integer" (not a boolean), "float"/"number" (an
//     integer is accepted), "boolean", "array"/"list" and "tuple" (items by "items"), "dict"/"object"
//     (declared properties by their types), "any"; a value of another type passes as a variable when
//     the answer's own values have that type (the answer says `x="data['sales']"` for an array);
//   - each value is among the allowed ones: strings compare normalized (spaces and `,./-_*^` removed,
//     lowercase, `'` as `"`), numbers by value (2 == 2.0), lists element by element, dicts key by key,
//     at every depth; a dict that is an allowed value (or an item of an allowed list) maps each key to
//     its own list of allowed values, deeper values are written as they are;
//   - every parameter of the answer that is not given has "" among its allowed values (optional).
// An example is correct when the output has exactly as many calls as expected and they match:
// in order, or for "parallel" categories in any order (a one-to-one assignment); in "irrelevance"
// categories when the output makes no call (output that does not parse is no call there, as on the
// leaderboard).
//
// Where the leaderboard's checker is shallower we apply the same rules at every depth: it checks
// item types one level deep and the types inside dicts not at all, takes an integer for a float
// only as the parameter's own value, normalizes strings only in the outer list, and matches parallel
// calls greedily (a perfect assignment can exist that its greedy order misses). JSON has no tuples,
// so a Python tuple is an array (accepted for "array" parameters too).
//
// Output validity (valid_rate) is separate from correctness: an output is valid when it parses
// (plain text without calls parses too) and every call names an offered function with its
// required parameters, no unknown ones and values of the schema types (and among the schema's
// "enum" values where it lists them; the leaderboard's checker does not look at enums, so they
// count for validity, not correctness).
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "edgetune/eval/evaluate.h"
#include "edgetune/tokenize/chat_template.h"

namespace et::model {
struct Model;
}

namespace et {

class Tokenizer;

// How an example's calls are compared: in order, in any order, or "no call is correct".
enum class BfclRule { ordered, any_order, no_call };
BfclRule bfcl_rule_for_category(const std::string& category);  // irrelevance / parallel / the rest

struct BfclExpectedCall {
  std::string name;
  nlohmann::ordered_json allowed = nlohmann::ordered_json::object();  // param -> [allowed values...]
};

struct BfclExample {
  std::string id, category, source;  // source: "file:line" of the question
  BfclRule rule = BfclRule::ordered;
  std::vector<ChatMessage> question;                                   // all turns, in order
  nlohmann::ordered_json functions = nlohmann::ordered_json::array();  // function docs, BFCL form
  std::vector<BfclExpectedCall> expected;                              // empty for no_call
};

// Category from an id ("parallel_multiple_3" -> "parallel_multiple", "live_simple_0-0-0" ->
// "live_simple"), else from a file name ("BFCL_v4_simple_python.json" -> "simple_python"), else "".
std::string bfcl_category(const std::string& id, const std::string& path);

// Questions (BFCL JSON lines or chat JSONL) with their answers. `answers` may be empty when every
// question is of an irrelevance category or the file is chat JSONL. Errors name the file and line:
// "[bfcl] possible_answer.json:12: ground_truth is not a list".
std::vector<BfclExample> load_bfcl(const std::string& questions, const std::string& answers);

// Chat JSONL conversations as examples: the question is everything before the first assistant
// turn, the expected calls that turn's tool_calls (each argument's value the only allowed one),
// the functions the "tools". The id is the line's "id" or "file:line"; the category comes from the
// id, else from the calls: none -> irrelevance, one -> simple (multiple when several functions are
// offered), several -> parallel (parallel_multiple).
std::vector<BfclExample> load_bfcl_chat(const std::string& path);

// What a model output holds: its calls, or that it is meant as calls but does not parse.
struct BfclOutput {
  std::vector<ToolCall> calls;
  bool malformed = false;
  std::string error;  // why it does not parse
};

// A model output as text: a Python call list "[f(a=1)]", a JSON list of {"name", "arguments"}
// (arguments may be a JSON string; {"function": {...}} and BFCL's decoded [{"f": {...}}] are read
// too), or our templates' tool-call markup (eval/tool_calls.h); text with none of these is no call.
BfclOutput parse_bfcl_output(const std::string& text);
// A prediction's "result": a string as above, or the JSON list (or one call object) itself.
BfclOutput parse_bfcl_result(const nlohmann::ordered_json& result);

// Strings as the leaderboard compares them.
std::string bfcl_normalize(const std::string& s);
// Why `call` does not match `expected`, checked against `function` (the expected function's doc):
// "" when it matches.
std::string bfcl_call_mismatch(const nlohmann::ordered_json& function, const ToolCall& call,
                               const BfclExpectedCall& expected);
// Why `call` is not a valid call of one of `functions`: "" when it is.
std::string bfcl_schema_error(const nlohmann::ordered_json& functions, const ToolCall& call);

struct BfclResult {
  std::string id, category;
  bool valid = false, correct = false;
  std::string reason;         // why not correct (or not valid), "" when both hold
  std::vector<bool> matched;  // per expected call: matched by an output call
  BfclOutput output;
  std::string text;         // the output as given or generated
  double confidence = -1;   // of a generated output (eval/confidence.h); -1 for a given one
};

BfclResult score_bfcl(const BfclExample& example, const BfclOutput& output);

struct BfclReport {
  std::vector<BfclExample> examples;  // in the order of the results
  std::vector<BfclResult> results;
  int missing = 0;  // examples without a prediction (scored as wrong and invalid)
  int skipped = 0;  // examples whose prompt was too long to generate from (scored so too)
  bool constrained = false;
  double seconds = 0;
  // examples, correct, accuracy, valid, valid_rate, categories {cat: {examples, accuracy,
  // valid_rate}}, functions {name: {calls, matched, accuracy}} (per expected call); for generated
  // outputs also constrained and coverage (accuracy of the most confident 50%, 80%, 100%).
  nlohmann::ordered_json summary() const;
  std::vector<CoveragePoint> coverage() const;  // over the examples with a generated output
  nlohmann::ordered_json details() const;  // one object per example
};

struct BfclPrediction {
  std::string id;
  nlohmann::ordered_json result;
  std::string source;  // file:line
};

// Predictions JSONL, {"id": ..., "result": ...} a line. Errors name file:line (a line that is not
// such an object, a repeated id).
std::vector<BfclPrediction> load_bfcl_predictions(const std::string& path);

// Scores the predictions of `examples` (an example without one is wrong, and counted as missing);
// a prediction for an id that is not among the examples is an error.
BfclReport score_bfcl_predictions(const std::vector<BfclExample>& examples,
                                  const std::vector<BfclPrediction>& predictions);

// The offered functions as chat-template tools: {"type": "function", "function": {...}} with
// BFCL's types in JSON-schema words ("dict" -> "object", "float" -> "number", "tuple" -> "array").
nlohmann::ordered_json bfcl_tools(const nlohmann::ordered_json& functions);

// Renders each question with the chat template and the offered functions, generates the model's
// turn greedily (eval/evaluate.h: generate_assistant_turn; options.constrain: by the call grammar of
// the offered functions) and scores it. options.limit > 0 scores only the first examples.
BfclReport run_bfcl_model(const model::Model& model, const Tokenizer& tokenizer,
                          const std::vector<BfclExample>& examples, const EvalOptions& options);

}  // namespace et
