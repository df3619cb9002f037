// `edgetune eval --model MODEL [--patch P] --data FILE [--constrain] [--quant auto|none|nf4] [--json OUT]`:
// plays every assistant turn of held-out conversations (JSONL trajectories, both forms) with the
// model, greedily (--constrain: by the call grammar), and scores the tool calls it writes against
// the conversation's: call/no-call decision, tool names, exact calls, arguments, valid calls, the
// accuracy of the most confident calls; plus the held-out loss, on the backbone the patch trained
// on (--quant auto: NF4 for a QLoRA patch), the dense one (none, as PEFT runs it) or NF4. stdout:
// the summary as JSON with the backbone it ran; --json
// OUT also gets every turn. The coverage table goes to stderr.
//
// `edgetune eval --bfcl QUESTIONS --answers POSSIBLE (--model MODEL [--patch P] | --predictions
// PRED.jsonl) [--constrain] [--json OUT]`: Berkeley Function Calling Leaderboard questions scored
// with its AST rules (eval/bfcl.h), from the model's greedy answers (--constrain: by the call
// grammar of the offered functions) or from given outputs ({"id", "result"} a line). stdout: examples, accuracy, valid_rate, per category and per function; --json OUT adds
// every example (valid, correct, the reason of a failure, the output).
#include <algorithm>
#include <cstdio>
#include <memory>

#include "commands.h"
#include "edgetune/core/error.h"
#include "edgetune/core/file_io.h"
#include "edgetune/core/log.h"
#include "edgetune/core/writable.h"
#include "edgetune/data/trajectory.h"
#include "edgetune/eval/bfcl.h"
#include "edgetune/eval/evaluate.h"
#include "edgetune/export/patch.h"
#include "edgetune/model/config.h"
#include "edgetune/model/model.h"
#include "edgetune/model/model_files.h"
#include "edgetune/quant/etq_file.h"
#include "edgetune/tokenize/tokenizer.h"
#include "edgetune/train/recipe.h"

namespace et::cli {

namespace {

struct EvalArgs {
  std::string model, patch, data, json_out, device = "cpu", dtype = "float32", chat_template = "auto",
                                            format = "auto", system_prompt, quant = "auto";
  std::string bfcl, answers, predictions;
  bool force = false, no_loss = false, constrain = false;
  int64_t max_tokens = 128;
  int max_len = 2048, limit = 0;
};

nlohmann::ordered_json calls_json(const std::vector<ToolCall>& calls) {
  nlohmann::ordered_json a = nlohmann::ordered_json::array();
  for (const auto& c : calls) a.push_back({{"name", c.name}, {"arguments", c.arguments}});
  return a;
}

struct LoadedModel {
  model::Model model;
  std::unique_ptr<Tokenizer> tokenizer;
  std::vector<int64_t> stop_ids;  // the model's own (generation_config / config)
  nlohmann::ordered_json precision;  // what ran: backbone, compute dtype, the patch's training backbone
  std::optional<Recipe> patch_recipe;  // the recipe the patch was trained with (when it has a readable one)
};

// The backbone a patch trained on, from the recipe it carries (false when unknown).
bool patch_trained_on_nf4(const std::string& patch) {
  try {
    return parse_recipe(read_patch(patch).recipe_yaml, patch).quant.backbone == "nf4";
  } catch (const Error&) {
    return false;  // unreadable here: apply_patch names the problem
  }
}

LoadedModel load_for_eval(const EvalArgs& a) {
  if (a.quant != "auto" && a.quant != "none" && a.quant != "nf4")
    fail("eval", "--quant is auto, none or nf4, got '", a.quant, "'");
  model::LoadOptions lo;
  lo.device = model::parse_device(a.device);
  lo.dtype = model::parse_compute_dtype(a.dtype, "eval");
  lo.quantize_nf4 = a.quant == "nf4" || (a.quant == "auto" && !a.patch.empty() && patch_trained_on_nf4(a.patch));
  LoadedModel out{model::load_model(a.model, lo), nullptr, {}, nlohmann::ordered_json::object(), std::nullopt};
  const std::string folder = model::model_files_folder(a.model);
  out.tokenizer = load_tokenizer(folder);
  // An .etq file is NF4 whatever --quant says.
  const bool nf4 = lo.quantize_nf4 || quant::is_etq_file(a.model);
  out.precision["backbone"] = nf4 ? "nf4" : "dense";
  out.precision["dtype"] = a.dtype;
  if (!a.patch.empty()) {
    const Patch p = apply_patch(out.model, a.patch, a.model, a.force);
    log_info("eval: applied ", a.patch);
    std::string trained = "unknown";
    try {
      out.patch_recipe = parse_recipe(p.recipe_yaml, a.patch);
      trained = out.patch_recipe->quant.backbone == "nf4" ? "nf4" : "dense";
    } catch (const Error&) {
      // a patch without a readable recipe: its backbone and data settings are not known
    }
    out.precision["patch_backbone"] = trained;
    if (trained != "unknown" && trained != out.precision["backbone"])
      log_warn("eval: the patch was trained on a", trained == "nf4" ? "n NF4" : " dense", " backbone; this eval runs the ",
               nf4 ? "NF4" : "dense", " one", trained == "nf4" ? " (--quant nf4 runs it as trained)" : "",
               ", so its loss differs from training's eval_loss");
  }
  log_info("eval: backbone ", nf4 ? "NF4 (4-bit)" : "dense", ", compute ", a.dtype);
  out.stop_ids = model::stop_token_ids(folder, out.model.config);
  return out;
}

EvalOptions eval_options(const EvalArgs& a, const LoadedModel& lm) {
  EvalOptions o;
  o.chat_template = a.chat_template == "auto"
                        ? choose_chat_template(model::family_name(lm.model.config.family), *lm.tokenizer)
                        : parse_chat_template(a.chat_template);
  o.max_new_tokens = a.max_tokens;
  // Never past the positions the model was trained for (stories260K: 512).
  const int64_t positions = lm.model.config.max_position_embeddings;
  o.max_len = positions > 0 ? static_cast<int>(std::min<int64_t>(a.max_len, positions)) : a.max_len;
  o.limit = a.limit;
  o.loss = !a.no_loss;
  o.stop_ids = turn_stop_ids(*lm.tokenizer, o.chat_template, lm.stop_ids);
  o.constrain = a.constrain;
  // The held-out loss builds examples as training did: the patch recipe's last_turn_only and
  // max_seq_len (the system prompt is in the conversations already: effective_system_prompt).
  o.example.chat_template = o.chat_template;
  o.example.max_len = o.max_len;
  if (lm.patch_recipe) {
    o.example.last_turn_only = lm.patch_recipe->data.last_turn_only;
    o.example.max_len = lm.patch_recipe->data.max_seq_len;
  }
  return o;
}

// --system-prompt, else the one the patch was trained with (data.system_prompt).
std::string effective_system_prompt(const EvalArgs& a, const std::optional<Recipe>& patch_recipe) {
  if (!a.system_prompt.empty() || !patch_recipe) return a.system_prompt;
  return patch_recipe->data.system_prompt;
}

// As training does with data.system_prompt: the first message of a conversation without one.
void add_system_prompt(std::vector<ChatMessage>& messages, const std::string& prompt) {
  if (!prompt.empty() && (messages.empty() || messages[0].role != Role::system))
    messages.insert(messages.begin(), {Role::system, prompt, {}, ""});
}

void print_coverage(const std::vector<CoveragePoint>& table, const std::string& what) {
  if (log_level() > LogLevel::warn) return;
  std::fprintf(stderr, "%s", coverage_text(table, what).c_str());
}

nlohmann::ordered_json::string_t dump_json(const nlohmann::ordered_json& j, int indent) {
  // Generated text may hold broken UTF-8: written with replacement characters, never a throw.
  return j.dump(indent, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

void run_bfcl(const EvalArgs& a) {
  if (!a.data.empty()) fail("eval", "--data and --bfcl are two evaluations: give one of them");
  if (a.model.empty() == a.predictions.empty())
    fail("eval", "--bfcl needs either --model (generate the answers) or --predictions (score given ones)");
  if (!a.predictions.empty() && !a.patch.empty()) fail("eval", "--patch goes with --model, not with --predictions");
  if (!a.predictions.empty() && a.constrain)
    fail("eval", "--constrain goes with --model: given predictions are scored as they are");
  std::vector<BfclExample> examples = load_bfcl(a.bfcl, a.answers);
  log_info("eval: ", examples.size(), " BFCL questions from ", a.bfcl);
  nlohmann::ordered_json head{{"questions", a.bfcl}, {"answers", a.answers}};
  BfclReport r;
  if (!a.predictions.empty()) {
    for (auto& e : examples) add_system_prompt(e.question, a.system_prompt);
    head["predictions"] = a.predictions;
    r = score_bfcl_predictions(examples, load_bfcl_predictions(a.predictions));
  } else {
    const LoadedModel lm = load_for_eval(a);
    const std::string system_prompt = effective_system_prompt(a, lm.patch_recipe);
    for (auto& e : examples) add_system_prompt(e.question, system_prompt);
    const EvalOptions o = eval_options(a, lm);
    log_info("eval: chat template ", chat_template_name(o.chat_template));
    head["model"] = a.model;
    head["patch"] = a.patch;
    head["chat_template"] = chat_template_name(o.chat_template);
    head.update(lm.precision);
    r = run_bfcl_model(lm.model, *lm.tokenizer, examples, o);
    print_coverage(r.coverage(), "examples");
  }
  head.update(r.summary());
  if (!a.json_out.empty()) {
    nlohmann::ordered_json full = head;
    full["examples_detail"] = r.details();
    write_file_atomic(a.json_out, dump_json(full, 2) + "\n");
  }
  std::printf("%s\n", dump_json(head, -1).c_str());
}

void run_eval(const EvalArgs& a) {
  if (a.max_tokens <= 0) fail("eval", "--max-tokens must be > 0, got ", a.max_tokens);
  if (a.limit < 0) fail("eval", "--limit must be >= 0, got ", a.limit);
  check_writable_file(a.json_out, "eval --json");  // before the model runs for minutes
  if (!a.bfcl.empty()) return run_bfcl(a);
  if (!a.answers.empty() || !a.predictions.empty()) fail("eval", "--answers and --predictions go with --bfcl");
  if (a.model.empty()) fail("eval", "--model is required (or --bfcl QUESTIONS with --predictions PRED.jsonl)");
  if (a.data.empty()) fail("eval", "--data is required (or --bfcl QUESTIONS)");
  const LoadedModel lm = load_for_eval(a);
  const model::Model& m = lm.model;
  const auto& tok = lm.tokenizer;
  TrajectoryLoadReport lr;
  auto convs = load_trajectories(a.data, a.format, "skip", &lr);
  if (convs.empty()) fail("eval", a.data, ": no usable conversations");
  const std::string system_prompt = effective_system_prompt(a, lm.patch_recipe);
  for (auto& c : convs) add_system_prompt(c.messages, system_prompt);

  const EvalOptions o = eval_options(a, lm);
  log_info("eval: ", convs.size(), " conversations from ", a.data, ", chat template ",
           chat_template_name(o.chat_template));
  const EvalReport r = evaluate_conversations(m, *tok, convs, o);
  print_coverage(r.coverage(), "call turns");

  nlohmann::ordered_json head{{"model", a.model}, {"patch", a.patch}, {"data", a.data}};
  head.update(lm.precision);
  head.update(r.summary());
  if (!a.json_out.empty()) {
    nlohmann::ordered_json full = head;
    full["turns_detail"] = nlohmann::ordered_json::array();
    for (const auto& t : r.details)
      full["turns_detail"].push_back({{"source", t.source},
                                      {"message", t.message},
                                      {"expected", calls_json(t.expected)},
                                      {"got", calls_json(t.got.calls)},
                                      {"malformed", t.got.malformed},
                                      {"text", t.text},
                                      {"decision", t.score.decision},
                                      {"names", t.score.names},
                                      {"exact", t.score.exact},
                                      {"confidence", t.confidence},
                                      {"call_confidence", t.call_confidence},
                                      {"valid", t.valid},
                                      {"invalid", t.invalid}});
    write_file_atomic(a.json_out, dump_json(full, 2) + "\n");
  }
  std::printf("%s\n", dump_json(head, -1).c_str());
}

}  // namespace

void add_eval_command(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "eval",
      "Score a model (and patch) on held-out conversations: tool-call accuracy and loss; or on BFCL function-calling "
      "questions (--bfcl) from the model's answers or given ones (--predictions) (stdout: JSON)");
  cmd->footer(
      "Usage:\n"
      "  edgetune eval --model MODEL [--patch P] --data FILE [--constrain] [--quant nf4] [--json OUT]\n"
      "  edgetune eval --bfcl QUESTIONS.json --answers POSSIBLE.json (--model MODEL [--patch P] | --predictions "
      "PRED.jsonl) [--constrain] [--json OUT]\n"
      "The coverage table (stderr, and \"coverage\" in the JSON): the accuracy of the most confident 50%, 80% and "
      "100% of the calls.");
  auto a = std::make_shared<EvalArgs>();
  cmd->add_option("--model", a->model, "Hugging Face model folder or .etq");
  cmd->add_option("--patch", a->patch, "apply a patch.safetensors made by `edgetune train`");
  cmd->add_flag("--force", a->force, "apply the patch even if it was trained on a different base");
  cmd->add_option("--data", a->data, "JSONL conversations (chat or ReAct form)");
  cmd->add_option("--bfcl", a->bfcl,
                  "BFCL questions (BFCL_v4_<category>.json) or chat JSONL to score with the leaderboard's AST rules");
  cmd->add_option("--answers", a->answers,
                  "with --bfcl: the possible answers (possible_answer/BFCL_v4_<category>.json); not needed for "
                  "irrelevance questions or chat JSONL");
  cmd->add_option("--predictions", a->predictions,
                  "with --bfcl, instead of --model: JSONL of {\"id\": ..., \"result\": ...}, the result a Python call "
                  "string \"[f(a=1)]\" or a JSON list of {\"name\", \"arguments\"}");
  cmd->add_option("--json", a->json_out,
                  "also write the summary and every turn (expected, got, text) or BFCL example (valid, correct, reason) "
                  "here");
  cmd->add_option("--max-tokens", a->max_tokens, "most tokens generated per turn")->capture_default_str();
  cmd->add_option("--max-len", a->max_len,
                  "longest prompt + turn in tokens, at most the model's max_position_embeddings (a turn stops there; a "
                  "longer prompt is skipped)")
      ->capture_default_str();
  cmd->add_option("--limit", a->limit, "evaluate only the first N conversations or BFCL questions (0: all)")
      ->capture_default_str();
  cmd->add_option("--format", a->format, "auto, chat or react")->capture_default_str();
  cmd->add_option("--chat-template", a->chat_template, "auto, plain, llama3, chatml, qwen3 or gemma3")
      ->capture_default_str();
  cmd->add_option("--system-prompt", a->system_prompt,
                  "system prompt for conversations (or BFCL questions) that have none (as the recipe's "
                  "data.system_prompt; default: the one the patch was trained with)");
  cmd->add_flag("--no-loss", a->no_loss, "skip the held-out loss");
  cmd->add_flag("--constrain", a->constrain,
                "decode by the call grammar: calls in the template's syntax, an offered tool's name, arguments by its "
                "schema (text answers stay possible)");
  cmd->add_option("--quant", a->quant,
                  "backbone precision: auto (the one the patch trained on: NF4 for a QLoRA patch; dense without a "
                  "patch), none (dense, as PEFT runs it) or nf4 (the 4-bit backbone QLoRA trains on)")
      ->capture_default_str();
  cmd->add_option("--device", a->device, "cpu or cuda")->capture_default_str();
  cmd->add_option("--dtype", a->dtype, "compute dtype: float32 or bfloat16")->capture_default_str();
  cmd->callback([a] { run_eval(*a); });
}

}  // namespace et::cli
