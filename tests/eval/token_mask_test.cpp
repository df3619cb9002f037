// The token mask against brute force: at every step of random constrained turns, the trie walk
// allows exactly the tokens whose bytes the grammar accepts one by one (and whose call still fits
// the budget), on real vocabularies (stories260K's 512 pieces, Llama 2's 32000) and on a small
// hand-made one; and turns decoded under any budget end in text whose calls parse and fit their
// schemas.
#include <gtest/gtest.h>

#include <random>

#include "edgetune/eval/bfcl.h"
#include "edgetune/eval/token_mask.h"
#include "edgetune/eval/tool_calls.h"
#include "test_util.h"

namespace et {
namespace {

using ojson = nlohmann::ordered_json;

ojson eat_and_go_tools() {
  return ojson::parse(R"([
    {"type": "function", "function": {"name": "eat", "parameters": {"type": "object",
      "properties": {"food": {"type": "string"}, "count": {"type": "integer"}}, "required": ["food"]}}},
    {"type": "function", "function": {"name": "go", "parameters": {"type": "object",
      "properties": {"place": {"type": "string", "enum": ["park", "beach"]}, "fast": {"type": "boolean"},
      "stops": {"type": "array", "items": {"type": "number"}}}, "required": ["place"]}}}])");
}

std::vector<bool> brute_force(const TokenTrie& trie, const CallGrammar& g, const CallState& s, int64_t remaining,
                              const std::vector<int64_t>& stops) {
  std::vector<bool> ok(static_cast<size_t>(trie.vocab), false);
  if (remaining <= 0) return ok;
  for (int32_t id = 0; id < trie.vocab; ++id) {
    if (trie.special[static_cast<size_t>(id)]) {
      ok[static_cast<size_t>(id)] =
          CallGrammar::at_text(s) && std::find(stops.begin(), stops.end(), id) != stops.end();
      continue;
    }
    const std::string& b = trie.bytes[static_cast<size_t>(id)];
    if (b.empty()) continue;
    CallState t;
    copy_state(t, s);
    ok[static_cast<size_t>(id)] = g.advance(t, b) && g.completion_length(t) <= remaining - 1;
  }
  return ok;
}

// How far text has got into the syntax's call opening (in a call: past it).
int opening_progress(CallSyntax syntax, const CallState& s) {
  if (s.in_call) return 100;
  switch (syntax) {
    case CallSyntax::hermes: return s.tag;
    case CallSyntax::react: return s.line >= 0 ? s.line + 1 : 0;
    case CallSyntax::llama3_json: return 0;  // "{" opens the call at once
  }
  return 0;
}

// Random constrained turns with `budget` tokens, checked against brute force every check_every
// steps. Picks among the allowed tokens at random, preferring (two times in three) ones that get
// further into an opening in text or nearer the end of a call.
void check_turns(const TokenTrie& trie, const std::vector<int64_t>& stops, CallSyntax syntax, int turns,
                 int64_t budget, int check_every, std::mt19937& rng) {
  const ojson t = eat_and_go_tools();
  ojson functions = ojson::array();
  for (const auto& x : t) functions.push_back(x["function"]);
  auto grammar = std::make_shared<CallGrammar>(syntax, t);
  auto shared_trie = std::shared_ptr<const TokenTrie>(&trie, [](const TokenTrie*) {});
  int calls = 0;
  for (int k = 0; k < turns; ++k) {
    ToolCallMask mask(shared_trie, grammar, stops);
    std::string text;
    std::vector<uint64_t> bits;
    for (int64_t step = 0; step < budget; ++step) {
      const int64_t remaining = budget - step;
      mask.allowed(remaining, bits);
      std::vector<int32_t> allowed, closer;
      const int64_t len = grammar->completion_length(mask.state());
      for (int32_t id = 0; id < trie.vocab; ++id)
        if ((bits[static_cast<size_t>(id >> 6)] >> (id & 63)) & 1) allowed.push_back(id);
      if (step % check_every == 0) {
        const std::vector<bool> want = brute_force(trie, *grammar, mask.state(), remaining, stops);
        for (int32_t id = 0; id < trie.vocab; ++id) {
          const bool got = (bits[static_cast<size_t>(id >> 6)] >> (id & 63)) & 1;
          ASSERT_EQ(got, want[static_cast<size_t>(id)])
              << "token " << id << " '" << trie.bytes[static_cast<size_t>(id)] << "' after '" << text << "'";
        }
      }
      ASSERT_FALSE(allowed.empty()) << "no token may follow '" << text << "'";
      for (int32_t id : allowed) {
        if (trie.special[static_cast<size_t>(id)]) continue;
        CallState s;
        copy_state(s, mask.state());
        grammar->advance(s, trie.bytes[static_cast<size_t>(id)]);
        const bool nearer = mask.in_call() ? grammar->completion_length(s) < len
                                           : opening_progress(syntax, s) > opening_progress(syntax, mask.state());
        if (nearer) closer.push_back(id);
      }
      const auto& pool = !closer.empty() && rng() % 3 != 0 ? closer : allowed;
      const int32_t id = pool[rng() % pool.size()];
      if (trie.special[static_cast<size_t>(id)]) break;  // a stop token ends the turn
      mask.accept(id);
      text += trie.bytes[static_cast<size_t>(id)];
    }
    EXPECT_TRUE(CallGrammar::at_text(mask.state())) << "the budget ran out inside a call: " << text;
    const ParsedCalls p = parse_tool_calls(text);
    EXPECT_EQ(p.malformed, 0) << text;
    for (const auto& c : p.calls) EXPECT_EQ(bfcl_schema_error(functions, c), "") << text;
    calls += static_cast<int>(p.calls.size());
  }
  EXPECT_GT(calls, 0) << "no turn made a call";
}

TEST(TokenMask, MatchesBruteForceOnStories260K) {
  ET_REQUIRE_SHARED(path, "models/stories260K");
  const auto tok = load_tokenizer(path);
  const TokenTrie trie(token_bytes(*tok));
  std::mt19937 rng(11);
  for (CallSyntax syntax : {CallSyntax::hermes, CallSyntax::llama3_json, CallSyntax::react}) {
    SCOPED_TRACE(call_syntax_name(syntax));
    check_turns(trie, {tok->eos_id()}, syntax, 12, 150, 1, rng);
    check_turns(trie, {tok->eos_id()}, syntax, 12, 75, 1, rng);  // tight: calls must close in time
  }
}

TEST(TokenMask, MatchesBruteForceOnLlama2) {
  ET_REQUIRE_SHARED(path, "tokenizers/llama2/tokenizer.model");
  const auto tok = load_tokenizer(path);
  const TokenTrie trie(token_bytes(*tok));
  EXPECT_EQ(trie.vocab, 32000);
  std::mt19937 rng(5);
  check_turns(trie, {tok->eos_id()}, CallSyntax::hermes, 3, 200, 5, rng);
  check_turns(trie, {tok->eos_id()}, CallSyntax::react, 2, 120, 5, rng);
}

TEST(TokenMask, HandMadeVocabularyWithMultibyteAndSharedBytes) {
  TokenBytes tb;
  // Every ASCII byte, multi-byte pieces and split characters, tokens that span structure.
  for (int b = 0x20; b < 0x7F; ++b) tb.bytes.push_back(std::string(1, static_cast<char>(b)));
  for (const char* s : {"<tool_call>", "<tool", "_call>", "</tool_call>", "{\"", "\":", "\", \"", "\"}}", "eat",
                        "food", "\xC3\xA9", "\xC3", "\xA9", "\xE2\x82", "\xAC", "caf\xC3\xA9\"", " \"", "\n", "}}\n",
                        "name", "arguments", "\"name\": \"", "go", "park", "Action", "Action:", " Input:", "12", "-0.",
                        "e+", "true", "\\n", "\\", "A"})
    tb.bytes.push_back(s);
  tb.special.assign(tb.bytes.size(), false);
  tb.bytes.push_back("</s>");
  tb.special.push_back(true);
  const TokenTrie trie(tb);
  std::mt19937 rng(2);
  const int64_t eos = static_cast<int64_t>(tb.bytes.size() - 1);
  for (CallSyntax syntax : {CallSyntax::hermes, CallSyntax::llama3_json, CallSyntax::react}) {
    SCOPED_TRACE(call_syntax_name(syntax));
    check_turns(trie, {eos}, syntax, 30, 150, 1, rng);
    check_turns(trie, {eos}, syntax, 30, 75, 1, rng);
  }
}

}  // namespace
}  // namespace et
