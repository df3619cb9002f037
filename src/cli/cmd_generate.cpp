// `edgetune generate --model MODEL --prompt TEXT [...]`: continues the prompt with the model and
// prints only the continuation on stdout, as it is produced (logs go to stderr). An empty prompt
// starts from BOS. Temperature 0 is greedy; otherwise temperature / top-k / top-p sampling with
// a seed, so the same command prints the same text. With --chat --tools, --constrain decodes the
// assistant's turn by the tools' call grammar and --json prints the turn's calls with their
// confidence (so an application can send unsure calls to a larger model).
#include <algorithm>
#include <cstdio>
#include <memory>

#include "commands.h"
#include "edgetune/core/error.h"
#include "edgetune/core/file_io.h"
#include "edgetune/core/log.h"
#include "edgetune/eval/evaluate.h"
#include "edgetune/export/patch.h"
#include "edgetune/tokenize/chat_template.h"
#include "edgetune/model/config.h"
#include "edgetune/model/generate.h"
#include "edgetune/model/model.h"
#include "edgetune/model/model_files.h"
#include "edgetune/tokenize/stream_decoder.h"
#include "edgetune/tokenize/tokenizer.h"

namespace et::cli {

namespace {

struct GenerateArgs {
  std::string model, prompt, device = "cpu", dtype = "float32", patch, chat_template = "auto", system, tools;
  bool chat = false, force = false, constrain = false, json = false;
  int64_t max_tokens = 128;
  double temperature = 0.0, top_p = 1.0;
  int64_t top_k = 0;
  uint64_t seed = 0;
};

void write_out(const std::string& s) {
  if (s.empty()) return;
  std::fwrite(s.data(), 1, s.size(), stdout);
  std::fflush(stdout);
}

// One assistant turn after the rendered user turn, through eval's turn generator (the template's
// end of turn ends it; --constrain decodes by the call grammar); the calls read back with their
// confidence. --json prints {"text", "calls": [{"name", "arguments", "confidence"}], "confidence",
// "tokens", "constrained"}; otherwise the text as it is produced.
void run_tool_turn(const GenerateArgs& a, const model::Model& m, const Tokenizer& tok, const Conversation& conv,
                   ChatTemplate t) {
  EvalOptions o;
  o.chat_template = t;
  o.max_new_tokens = a.max_tokens;
  o.max_len = 1 << 30;
  o.loss = false;
  o.stop_ids = turn_stop_ids(tok, t, model::stop_token_ids(model::model_files_folder(a.model), m.config));
  o.constrain = a.constrain;
  model::SamplingOptions sampling;
  sampling.temperature = a.temperature;
  sampling.top_p = a.top_p;
  sampling.top_k = a.top_k;
  sampling.seed = a.seed;
  log_info("generate: one ", chat_template_name(t), " turn, up to ", a.max_tokens, " tokens",
           a.constrain ? ", constrained to the tools' call grammar" : "");
  const auto turn = generate_assistant_turn(m, tok, conv, o, sampling,
                                            a.json ? std::function<void(const std::string&)>() : std::function<void(const std::string&)>(write_out));
  if (!turn) fail("generate", "the prompt is too long");
  if (!a.json) {
    write_out("\n");
    log_info("generate: ", turn->ids.size(), " tokens, confidence ", turn->confidence);
    return;
  }
  nlohmann::ordered_json j;
  j["text"] = turn->text;
  j["calls"] = nlohmann::ordered_json::array();
  for (size_t i = 0; i < turn->calls.calls.size(); ++i)
    j["calls"].push_back({{"name", turn->calls.calls[i].name},
                          {"arguments", turn->calls.calls[i].arguments},
                          {"confidence", turn->call_confidence[i]}});
  j["malformed_calls"] = turn->calls.malformed;
  j["confidence"] = turn->confidence;
  j["tokens"] = turn->ids.size();
  j["constrained"] = a.constrain;
  std::printf("%s\n", j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace).c_str());
}

void run_generate(const GenerateArgs& a) {
  if (a.max_tokens < 0) fail("generate", "--max-tokens must be >= 0, got ", a.max_tokens);
  if ((a.constrain || a.json) && !a.chat) fail("generate", a.constrain ? "--constrain" : "--json", " needs --chat (one assistant turn)");
  if (a.constrain && a.tools.empty()) fail("generate", "--constrain needs --tools (the calls it constrains to)");
  model::LoadOptions lo;
  lo.device = model::parse_device(a.device);
  lo.dtype = model::parse_compute_dtype(a.dtype, "generate");
  model::Model m = model::load_model(a.model, lo);
  const auto tok = load_tokenizer(model::model_files_folder(a.model));
  if (!a.patch.empty()) {
    const Patch patch = apply_patch(m, a.patch, a.model, a.force);
    log_info("generate: applied ", a.patch, " (", patch.plan.count(AdapterKind::dedicated), " dedicated, ",
             patch.plan.count(AdapterKind::shared), " shared adapters)");
  }

  std::vector<int32_t> prompt;
  if (a.chat) {
    // The prompt is one user turn, rendered with the model's chat template up to the assistant's turn.
    Conversation conv;
    if (!a.tools.empty()) {
      try {
        conv.tools = nlohmann::ordered_json::parse(read_text_file(a.tools));
      } catch (const nlohmann::json::exception& e) {
        fail("generate", a.tools, ": not valid JSON (", e.what(), ")");
      }
      if (!conv.tools.is_array()) fail("generate", a.tools, ": expected a JSON list of tool schemas");
    }
    if (!a.system.empty()) conv.messages.push_back({Role::system, a.system, {}, ""});
    conv.messages.push_back({Role::user, a.prompt, {}, ""});
    const ChatTemplate t = a.chat_template == "auto"
                               ? choose_chat_template(model::family_name(m.config.family), *tok)
                               : parse_chat_template(a.chat_template);
    if (a.constrain || a.json) return run_tool_turn(a, m, *tok, conv, t);
    RenderedChat r = render_chat(conv, t, false, /*add_generation_prompt=*/true);
    if (r.bos && tok->bos_id() >= 0) prompt.push_back(tok->bos_id());
    auto ids = tok->encode(r.text(), /*add_special=*/false, /*parse_special=*/true);
    prompt.insert(prompt.end(), ids.begin(), ids.end());
  } else if (a.prompt.empty()) {
    const int64_t bos = tok->bos_id() >= 0 ? tok->bos_id() : m.config.bos_token_id;
    if (bos < 0) fail("generate", a.model, ": an empty prompt starts from BOS, but neither the tokenizer nor config.json has one");
    prompt.push_back(static_cast<int32_t>(bos));
  } else {
    prompt = tok->encode(a.prompt, /*add_special=*/true, /*parse_special=*/true);
    if (prompt.empty()) fail("generate", "the prompt encodes to no tokens");
  }
  for (int32_t id : prompt)
    if (id < 0 || id >= m.config.vocab_size)
      fail("generate", "the tokenizer produced id ", id, ", outside the model's vocabulary of ", m.config.vocab_size);

  // The model's context bounds the prompt and what follows it (RoPE and the KV cache end there).
  const int64_t context = m.config.max_position_embeddings;
  int64_t max_new = a.max_tokens;
  if (context > 0) {
    if (static_cast<int64_t>(prompt.size()) >= context)
      fail("generate", "the prompt is ", prompt.size(), " tokens; ", a.model, " has a context of ", context,
           " tokens (max_position_embeddings in config.json)");
    const int64_t room = context - static_cast<int64_t>(prompt.size());
    if (max_new > room) {
      log_warn("generate: --max-tokens ", a.max_tokens, " runs past the context of ", context,
               " tokens (max_position_embeddings); generating at most ", room);
      max_new = room;
    }
  }

  model::GenerateOptions o;
  o.max_new_tokens = max_new;
  o.sampling.temperature = a.temperature;
  o.sampling.top_p = a.top_p;
  o.sampling.top_k = a.top_k;
  o.sampling.seed = a.seed;
  o.stop_ids = model::stop_token_ids(model::model_files_folder(a.model), m.config);
  if (tok->eos_id() >= 0 && std::find(o.stop_ids.begin(), o.stop_ids.end(), tok->eos_id()) == o.stop_ids.end())
    o.stop_ids.push_back(tok->eos_id());
  log_info("generate: ", prompt.size(), " prompt tokens, up to ", max_new, " new, ",
           a.temperature > 0 ? "sampling" : "greedy");

  // The decoder first sees the prompt, so the continuation's first piece keeps its leading space.
  StreamDecoder stream(*tok);
  for (int32_t id : prompt) stream.push(id);
  std::vector<int64_t> ids(prompt.begin(), prompt.end());
  auto out = model::generate(m, ids, o, [&](int64_t id) {
    write_out(stream.push(static_cast<int32_t>(id)));
    return true;
  });
  write_out(stream.flush());
  write_out("\n");
  log_info("generate: ", out.size(), " tokens");
  if (context > 0 && static_cast<int64_t>(prompt.size() + out.size()) >= context)
    log_warn("generate: stopped at the context length (", context, " tokens, max_position_embeddings)");
}

}  // namespace

void add_generate_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("generate", "Continue a prompt with a model (stdout: the generated text only)");
  auto a = std::make_shared<GenerateArgs>();
  cmd->add_option("--model", a->model, "Hugging Face model folder")->required();
  cmd->add_option("--prompt", a->prompt, "prompt text (\"\" starts from BOS)")->required();
  cmd->add_option("--max-tokens", a->max_tokens, "most tokens to generate")->capture_default_str();
  cmd->add_option("--temperature", a->temperature, "0 = greedy")->capture_default_str();
  cmd->add_option("--top-p", a->top_p, "nucleus sampling mass, (0, 1]")->capture_default_str();
  cmd->add_option("--top-k", a->top_k, "sample among the k most likely tokens (0 = all)")->capture_default_str();
  cmd->add_option("--seed", a->seed, "random seed for sampling")->capture_default_str();
  cmd->add_option("--device", a->device, "cpu or cuda")->capture_default_str();
  cmd->add_option("--dtype", a->dtype, "compute dtype: float32 or bfloat16")->capture_default_str();
  cmd->add_option("--patch", a->patch, "apply a patch.safetensors made by `edgetune train`");
  cmd->add_flag("--force", a->force, "apply the patch even if it was trained on a different base");
  cmd->add_flag("--chat", a->chat, "render the prompt as a user turn with the model's chat template");
  cmd->add_option("--chat-template", a->chat_template, "auto, plain, llama3, chatml, qwen3 or gemma3")
      ->capture_default_str();
  cmd->add_option("--system", a->system, "system prompt (with --chat)");
  cmd->add_option("--tools", a->tools, "JSON file with a list of tool schemas offered to the model (with --chat)");
  cmd->add_flag("--constrain", a->constrain,
                "with --chat --tools: decode by the call grammar (calls in the template's syntax, an offered tool, "
                "arguments by its schema); the turn ends with the template's end of turn");
  cmd->add_flag("--json", a->json,
                "with --chat: print one JSON object: the turn's text and its calls, each with its confidence");
  cmd->callback([a] { run_generate(*a); });
}

}  // namespace et::cli
