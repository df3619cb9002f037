// `edgetune eval --model MODEL [--patch P] --data FILE [--json OUT]`: plays every assistant turn of
// held-out conversations (JSONL trajectories, both forms) with the model, greedily, and scores the
// tool calls it writes against the conversation's: call/no-call decision, tool names, exact calls,
// arguments; plus the held-out loss. stdout: the summary as JSON; --json OUT also gets every turn.
#include <cstdio>
#include <memory>

#include "commands.h"
#include "edgetune/core/error.h"
#include "edgetune/core/file_io.h"
#include "edgetune/core/log.h"
#include "edgetune/data/trajectory.h"
#include "edgetune/eval/evaluate.h"
#include "edgetune/export/patch.h"
#include "edgetune/model/config.h"
#include "edgetune/model/model.h"
#include "edgetune/model/model_files.h"
#include "edgetune/tokenize/tokenizer.h"

namespace et::cli {

namespace {

struct EvalArgs {
  std::string model, patch, data, json_out, device = "cpu", dtype = "float32", chat_template = "auto",
                                            format = "auto", system_prompt;
  bool force = false, no_loss = false;
  int64_t max_tokens = 128;
  int max_len = 2048, limit = 0;
};

nlohmann::ordered_json calls_json(const std::vector<ToolCall>& calls) {
  nlohmann::ordered_json a = nlohmann::ordered_json::array();
  for (const auto& c : calls) a.push_back({{"name", c.name}, {"arguments", c.arguments}});
  return a;
}

void run_eval(const EvalArgs& a) {
  if (a.max_tokens <= 0) fail("eval", "--max-tokens must be > 0, got ", a.max_tokens);
  if (a.limit < 0) fail("eval", "--limit must be >= 0, got ", a.limit);
  model::LoadOptions lo;
  lo.device = model::parse_device(a.device);
  lo.dtype = model::parse_compute_dtype(a.dtype, "eval");
  model::Model m = model::load_model(a.model, lo);
  const std::string folder = model::model_files_folder(a.model);
  const auto tok = load_tokenizer(folder);
  if (!a.patch.empty()) {
    apply_patch(m, a.patch, a.model, a.force);
    log_info("eval: applied ", a.patch);
  }
  TrajectoryLoadReport lr;
  auto convs = load_trajectories(a.data, a.format, "skip", &lr);
  if (convs.empty()) fail("eval", a.data, ": no usable conversations");
  if (!a.system_prompt.empty())  // as training does with data.system_prompt
    for (auto& c : convs)
      if (c.messages.empty() || c.messages[0].role != Role::system)
        c.messages.insert(c.messages.begin(), {Role::system, a.system_prompt, {}, ""});

  EvalOptions o;
  o.chat_template = a.chat_template == "auto" ? choose_chat_template(model::family_name(m.config.family), *tok)
                                              : parse_chat_template(a.chat_template);
  o.max_new_tokens = a.max_tokens;
  o.max_len = a.max_len;
  o.limit = a.limit;
  o.loss = !a.no_loss;
  o.stop_ids = turn_stop_ids(*tok, o.chat_template, model::stop_token_ids(folder, m.config));
  log_info("eval: ", convs.size(), " conversations from ", a.data, ", chat template ",
           chat_template_name(o.chat_template));
  const EvalReport r = evaluate_conversations(m, *tok, convs, o);

  nlohmann::ordered_json head{{"model", a.model}, {"patch", a.patch}, {"data", a.data}};
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
                                      {"exact", t.score.exact}});
    write_file_atomic(a.json_out, full.dump(2) + "\n");
  }
  std::printf("%s\n", head.dump().c_str());
}

}  // namespace

void add_eval_command(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "eval", "Score a model (and patch) on held-out conversations: tool-call accuracy and loss (stdout: JSON)");
  auto a = std::make_shared<EvalArgs>();
  cmd->add_option("--model", a->model, "Hugging Face model folder or .etq")->required();
  cmd->add_option("--patch", a->patch, "apply a patch.safetensors made by `edgetune train`");
  cmd->add_flag("--force", a->force, "apply the patch even if it was trained on a different base");
  cmd->add_option("--data", a->data, "JSONL conversations (chat or ReAct form)")->required();
  cmd->add_option("--json", a->json_out, "also write the summary and every turn (expected, got, text) here");
  cmd->add_option("--max-tokens", a->max_tokens, "most tokens generated per turn")->capture_default_str();
  cmd->add_option("--max-len", a->max_len,
                  "longest prompt + turn in tokens (a turn stops there; a longer prompt is skipped)")
      ->capture_default_str();
  cmd->add_option("--limit", a->limit, "evaluate only the first N conversations (0: all)")->capture_default_str();
  cmd->add_option("--format", a->format, "auto, chat or react")->capture_default_str();
  cmd->add_option("--chat-template", a->chat_template, "auto, plain, llama3, chatml, qwen3 or gemma3")
      ->capture_default_str();
  cmd->add_option("--system-prompt", a->system_prompt,
                  "system prompt for conversations that have none (as the recipe's data.system_prompt)");
  cmd->add_flag("--no-loss", a->no_loss, "skip the held-out loss");
  cmd->add_option("--device", a->device, "cpu or cuda")->capture_default_str();
  cmd->add_option("--dtype", a->dtype, "compute dtype: float32 or bfloat16")->capture_default_str();
  cmd->callback([a] { run_eval(*a); });
}

}  // namespace et::cli
