// BFCL questions answered by a model (bfcl.h): each question is rendered with the chat template and
// the offered functions as tools, the model's turn is generated greedily (one question at a time,
// with the KV cache; with options.constrain by the call grammar of the offered functions), and the
// text is read and scored as a prediction would be, with the turn's confidence.
#include <algorithm>
#include <chrono>

#include "edgetune/core/log.h"
#include "edgetune/core/progress.h"
#include "edgetune/eval/bfcl.h"
#include "edgetune/eval/token_mask.h"
#include "edgetune/tokenize/token_bytes.h"

namespace et {

BfclReport run_bfcl_model(const model::Model& m, const Tokenizer& tok, const std::vector<BfclExample>& all,
                          const EvalOptions& o) {
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<BfclExample> examples = all;
  if (o.limit > 0 && static_cast<int>(examples.size()) > o.limit) examples.resize(static_cast<size_t>(o.limit));
  BfclReport r;
  r.examples = examples;
  r.constrained = o.constrain;
  EvalOptions opts = o;
  if (opts.constrain && !opts.vocabulary) opts.vocabulary = std::make_shared<TokenTrie>(token_bytes(tok));
  Progress bar("bfcl", static_cast<int64_t>(examples.size()));
  for (size_t i = 0; i < examples.size(); ++i) {
    const BfclExample& e = examples[i];
    bar.update(static_cast<int64_t>(i + 1));
    Conversation c;
    c.tools = bfcl_tools(e.functions);
    c.messages = e.question;
    c.source = e.source;
    const std::optional<GeneratedTurn> turn = generate_assistant_turn(m, tok, c, opts);
    if (!turn) {
      BfclResult s;
      s.id = e.id;
      s.category = e.category;
      s.matched.assign(e.expected.size(), false);
      s.reason = "the prompt has " + std::to_string(o.max_len) + " tokens or more (--max-len)";
      r.results.push_back(std::move(s));
      ++r.skipped;
      continue;
    }
    BfclResult s = score_bfcl(e, parse_bfcl_output(turn->text));
    s.text = turn->text;
    s.confidence = turn->confidence;
    r.results.push_back(std::move(s));
  }
  bar.finish();
  if (r.skipped > 0)
    log_warn("bfcl: ", r.skipped, " questions skipped: their prompt has ", o.max_len, " tokens or more (--max-len)");
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

}  // namespace et
