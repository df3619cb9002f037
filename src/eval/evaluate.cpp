// Turn-by-turn evaluation of held-out conversations (evaluate.h).
#include "edgetune/eval/evaluate.h"

#include <algorithm>
#include <chrono>
#include <optional>

#include "edgetune/core/error.h"
#include "edgetune/core/log.h"
#include "edgetune/core/progress.h"
#include "edgetune/data/examples.h"
#include "edgetune/eval/bfcl.h"
#include "edgetune/eval/call_grammar.h"
#include "edgetune/eval/token_mask.h"
#include "edgetune/model/generate.h"
#include "edgetune/model/model.h"
#include "edgetune/tokenize/stream_decoder.h"
#include "edgetune/tokenize/token_bytes.h"
#include "edgetune/tokenize/tokenizer.h"
#include "edgetune/train/causal_lm_loss.h"

namespace et {

namespace {

// Text that ends a turn when the model writes it (cut there).
std::vector<std::string> turn_stop_texts(ChatTemplate t, bool react) {
  std::vector<std::string> out;
  switch (t) {
    case ChatTemplate::chatml:
    case ChatTemplate::qwen3: out.push_back("<|im_end|>"); break;
    case ChatTemplate::llama3: out.push_back("<|eot_id|>"); break;
    case ChatTemplate::gemma3: out.push_back("<end_of_turn>"); break;
    case ChatTemplate::plain:
      out.push_back(react ? "\nObservation:" : "\nUser:\n");
      if (!react) out.push_back("\nTool:\n");
      break;
  }
  return out;
}

// Cuts `text` at the first stop text (in ReAct, also right after the first complete Action Input:
// training never teaches the Observation label, which is not the model's to write); true when cut.
bool cut_at_stop(std::string& text, const std::vector<std::string>& stops, bool react) {
  size_t cut = react ? react_step_end(text) : std::string::npos;
  for (const auto& s : stops) cut = std::min(cut, text.find(s));
  if (cut == std::string::npos) return false;
  text.resize(cut);
  return true;
}

double rate(int64_t n, int64_t d) { return d > 0 ? static_cast<double>(n) / static_cast<double>(d) : 0.0; }

// Mean loss over the assistant tokens of the conversations, one conversation per forward.
void add_loss(const model::Model& m, const Tokenizer& tok, const std::vector<Conversation>& convs,
              const EvalOptions& o, EvalReport& r) {
  torch::NoGradGuard no_grad;
  LossOptions lo;
  lo.cut_layer = static_cast<int>(m.config.num_layers);
  double sum = 0;
  int64_t n = 0;
  for (const auto& c : convs) {
    const TokenizedExample ex = conversation_example(c, o.example, tok);
    if (ex.num_targets() == 0) continue;
    const auto rows = pack_examples({ex}, {0}, o.max_len, /*pack=*/false, 0);
    const Batch b = make_batch(rows, 0, 1, 0);
    if (b.num_targets == 0) continue;
    sum += causal_lm_loss_sum(m, to_tensors(b, m.device), lo).item<double>();
    n += b.num_targets;
  }
  r.loss = n > 0 ? sum / static_cast<double>(n) : -1;
  r.loss_tokens = n;
}

}  // namespace

std::vector<int64_t> turn_stop_ids(const Tokenizer& tok, ChatTemplate tmpl, std::vector<int64_t> base) {
  auto add = [&](int64_t id) {
    if (id >= 0 && std::find(base.begin(), base.end(), id) == base.end()) base.push_back(id);
  };
  add(tok.eos_id());
  for (const auto& s : turn_stop_texts(tmpl, false)) {
    if (s[0] != '<') continue;
    if (auto id = tok.piece_to_id(s)) add(*id);
  }
  return base;
}

std::string tool_calls_error(const nlohmann::ordered_json& tools, const ParsedCalls& calls) {
  if (calls.malformed > 0)
    return std::to_string(calls.malformed) + (calls.malformed == 1 ? " call does" : " calls do") + " not parse";
  nlohmann::ordered_json functions = nlohmann::ordered_json::array();
  if (tools.is_array())
    for (const auto& t : tools) functions.push_back(t.is_object() && t.contains("function") ? t["function"] : t);
  for (size_t i = 0; i < calls.calls.size(); ++i) {
    const std::string e = bfcl_schema_error(functions, calls.calls[i]);
    if (!e.empty()) return "call " + std::to_string(i + 1) + ": " + e;
  }
  return "";
}

std::optional<GeneratedTurn> generate_assistant_turn(const model::Model& m, const Tokenizer& tok, const Conversation& prefix,
                                                     const EvalOptions& o, const model::SamplingOptions& sampling,
                                                     const std::function<void(const std::string&)>& on_text) {
  const std::vector<std::string> stops = turn_stop_texts(o.chat_template, prefix.react);
  RenderedChat rc = render_chat(prefix, o.chat_template, false, /*add_generation_prompt=*/true);
  std::vector<int64_t> ids;
  if (rc.bos && tok.bos_id() >= 0) ids.push_back(tok.bos_id());
  for (int32_t id : tok.encode(rc.text(), false, /*parse_special=*/true)) ids.push_back(id);
  if (static_cast<int64_t>(ids.size()) >= o.max_len) return std::nullopt;
  model::GenerateOptions g;
  g.max_new_tokens = std::min<int64_t>(o.max_new_tokens, o.max_len - static_cast<int64_t>(ids.size()));
  g.sampling = sampling;
  g.stop_ids = o.stop_ids;
  std::unique_ptr<ToolCallMask> mask;
  if (o.constrain) {
    std::shared_ptr<const TokenTrie> trie = o.vocabulary ? o.vocabulary : std::make_shared<TokenTrie>(token_bytes(tok));
    auto grammar = std::make_shared<CallGrammar>(call_syntax_for(o.chat_template, prefix.react), prefix.tools);
    mask = std::make_unique<ToolCallMask>(trie, grammar, o.stop_ids);
    g.mask_logits = [&](int64_t step, std::vector<float>& logits) { mask->apply(logits, g.max_new_tokens - step); };
  }
  GeneratedTurn turn;
  StreamDecoder stream(tok, /*skip_special=*/false);
  std::string text;
  model::generate_steps(m, ids, g, [&](const model::TokenStep& s) {
    if (mask) mask->accept(static_cast<int32_t>(s.id));
    turn.ids.push_back(static_cast<int32_t>(s.id));
    turn.logprobs.push_back(s.logprob);
    const std::string piece = stream.push(static_cast<int32_t>(s.id));
    text += piece;
    turn.ends.push_back(text.size());
    if (on_text && !piece.empty()) on_text(piece);
    std::string cut = text;
    return !cut_at_stop(cut, stops, prefix.react);
  });
  const std::string rest = stream.flush();
  text += rest;
  if (on_text && !rest.empty()) on_text(rest);
  if (!turn.ends.empty()) turn.ends.back() = text.size();
  cut_at_stop(text, stops, prefix.react);
  turn.text = std::move(text);
  turn.calls = parse_tool_calls(turn.text);
  turn.confidence = 1;
  for (const auto& [b, e] : turn.calls.spans) {
    turn.call_confidence.push_back(span_confidence(turn.ends, turn.logprobs, b, e));
    turn.confidence = std::min(turn.confidence, turn.call_confidence.back());
  }
  if (turn.calls.calls.empty()) turn.confidence = span_confidence(turn.ends, turn.logprobs, 0, turn.text.size() + 1);
  return turn;
}

EvalReport evaluate_conversations(const model::Model& m, const Tokenizer& tok, const std::vector<Conversation>& all,
                                  const EvalOptions& o) {
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<Conversation> convs = all;
  if (o.limit > 0 && static_cast<int>(convs.size()) > o.limit) convs.resize(static_cast<size_t>(o.limit));
  EvalReport r;
  r.conversations = static_cast<int>(convs.size());
  r.constrained = o.constrain;
  EvalOptions opts = o;
  if (opts.constrain && !opts.vocabulary) opts.vocabulary = std::make_shared<TokenTrie>(token_bytes(tok));
  int total = 0;
  for (const auto& c : convs)
    for (const auto& msg : c.messages) total += msg.role == Role::assistant;
  Progress bar("eval", total);
  int done = 0;
  for (const auto& c : convs) {
    for (size_t k = 0; k < c.messages.size(); ++k) {
      if (c.messages[k].role != Role::assistant) continue;
      bar.update(++done);
      Conversation prefix = c;
      prefix.messages.resize(k);
      std::optional<GeneratedTurn> turn = generate_assistant_turn(m, tok, prefix, opts);
      if (!turn) {
        ++r.skipped_turns;
        continue;
      }
      TurnResult t;
      t.source = c.source;
      t.message = static_cast<int>(k);
      t.expected = expected_calls(c.messages[k], c.react);
      t.text = std::move(turn->text);
      t.got = std::move(turn->calls);
      t.score = score_calls(t.expected, t.got);
      t.confidence = turn->confidence;
      t.call_confidence = std::move(turn->call_confidence);
      t.invalid = tool_calls_error(c.tools, t.got);
      t.valid = t.invalid.empty();
      r.valid_turns += t.valid;
      ++r.turns;
      r.call_turns += !t.expected.empty();
      r.decisions += t.score.decision;
      if (!t.expected.empty()) {
        r.names += t.score.names;
        r.exact += t.score.exact;
      }
      r.malformed_turns += t.got.malformed > 0;
      r.arguments_expected += t.score.arguments_expected;
      r.arguments_matched += t.score.arguments_matched;
      r.details.push_back(std::move(t));
    }
  }
  bar.finish();
  if (r.skipped_turns > 0)
    log_warn("eval: ", r.skipped_turns, " turns skipped: their prompt has ", o.max_len, " tokens or more (--max-len)");
  if (o.loss) add_loss(m, tok, convs, o, r);
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

std::vector<CoveragePoint> EvalReport::coverage() const {
  std::vector<double> confidence;
  std::vector<bool> correct;
  for (const auto& t : details)
    if (!t.expected.empty()) {
      confidence.push_back(t.confidence);
      correct.push_back(t.score.exact);
    }
  return coverage_table(confidence, correct);
}

nlohmann::ordered_json EvalReport::summary() const {
  nlohmann::ordered_json j;
  j["conversations"] = conversations;
  j["turns"] = turns;
  j["tool_call_turns"] = call_turns;
  j["skipped_turns"] = skipped_turns;
  j["call_decision_accuracy"] = rate(decisions, turns);
  j["tool_name_accuracy"] = rate(names, call_turns);
  j["tool_call_exact_match"] = rate(exact, call_turns);
  j["argument_accuracy"] = rate(arguments_matched, arguments_expected);
  j["malformed_call_rate"] = rate(malformed_turns, turns);
  j["valid_rate"] = rate(valid_turns, turns);
  j["constrained"] = constrained;
  j["coverage"] = coverage_json(coverage());
  if (loss >= 0) {
    j["eval_loss"] = loss;
    j["eval_loss_tokens"] = loss_tokens;
  }
  j["seconds"] = seconds;
  return j;
}

}  // namespace et
