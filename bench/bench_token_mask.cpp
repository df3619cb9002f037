// The cost of constrained decoding per token (eval/token_mask.h): real turns replayed token by
// token through the mask, as generation would run it, with the Llama 2 vocabulary (32000 tokens).
// The turns are BFCL simple_python's answers written as Hermes calls (the first allowed value of
// each parameter, with the question's functions as the tools), a third of them after a sentence
// of text: names, numbers, strings, enums, lists and dicts, and free text.
//
//   build/bench/bench_token_mask      (from the repository root; ET_TOKENIZER / ET_BFCL override
//                                      ../shared/tokenizers/llama2/tokenizer.model, ../shared/data/bfcl)
//
// Per step: the mask over the vocabulary for the tokens left (`allowed`: the walk and the bitset;
// `apply`: the same written into a logits vector as -infinity), then the chosen token accepted.
// The counter us_per_token is the mean over all steps, in CPU time of the one thread that runs
// them (what a turn costs a core, whatever else the machine runs). Building the vocabulary's trie
// (once per tokenizer) and compiling each question's grammar (once per turn) are measured apart.
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <exception>
#include <memory>
#include <string>
#include <vector>

#include "edgetune/eval/bfcl.h"
#include "edgetune/eval/token_mask.h"
#include "edgetune/tokenize/token_bytes.h"
#include "edgetune/tokenize/tokenizer.h"

namespace {

using ojson = nlohmann::ordered_json;

std::string env_or(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v && *v ? v : fallback;
}

struct Turn {
  std::shared_ptr<const et::CallGrammar> grammar;
  std::vector<int32_t> ids;
};

struct Setup {
  std::unique_ptr<et::Tokenizer> tok;
  std::shared_ptr<const et::TokenTrie> trie;
  std::vector<Turn> turns;
  std::vector<ojson> tools;
  int64_t tokens = 0;
  int refused = 0;
};

Setup& setup() {
  static Setup s = [] {
    Setup out;
    out.tok = et::load_tokenizer(env_or("ET_TOKENIZER", "../shared/tokenizers/llama2/tokenizer.model"));
    out.trie = std::make_shared<et::TokenTrie>(et::token_bytes(*out.tok));
    const std::string bfcl = env_or("ET_BFCL", "../shared/data/bfcl");
    const auto examples =
        et::load_bfcl(bfcl + "/BFCL_v4_simple_python.json", bfcl + "/possible_answer/BFCL_v4_simple_python.json");
    for (size_t i = 0; i < examples.size(); ++i) {
      const auto& e = examples[i];
      if (e.expected.empty()) continue;
      ojson args = ojson::object();
      for (auto it = e.expected[0].allowed.begin(); it != e.expected[0].allowed.end(); ++it)
        for (const auto& v : it.value())
          if (v != "") {
            args[it.key()] = v;
            break;
          }
      std::string text = i % 3 == 0 ? "Let me work that out for you.\n" : "";
      text += "<tool_call>\n" + et::python_json(ojson{{"name", e.expected[0].name}, {"arguments", args}}) +
              "\n</tool_call>";
      Turn t;
      const ojson tools = et::bfcl_tools(e.functions);
      t.grammar = std::make_shared<et::CallGrammar>(et::CallSyntax::hermes, tools);
      for (int32_t id : out.tok->encode_continuation(text, true)) t.ids.push_back(id);
      // Keep only turns the grammar takes whole (an answer outside its own schema is skipped).
      et::ToolCallMask check(out.trie, t.grammar, {});
      bool ok = true;
      try {
        for (int32_t id : t.ids) check.accept(id);
      } catch (const std::exception&) {
        ok = false;
      }
      if (!ok || check.in_call()) {
        ++out.refused;
        continue;
      }
      out.tokens += static_cast<int64_t>(t.ids.size());
      out.tools.push_back(tools);
      out.turns.push_back(std::move(t));
    }
    return out;
  }();
  return s;
}

constexpr int64_t kBudget = 256;  // tokens per turn, as eval --max-tokens might give

void BM_TokenMask(benchmark::State& state, bool apply) {
  Setup& s = setup();
  std::vector<uint64_t> bits;
  std::vector<float> logits(static_cast<size_t>(s.trie->vocab), 0.0f);
  const std::vector<int64_t> stops = {s.tok->eos_id()};
  for (auto _ : state) {
    for (const Turn& t : s.turns) {
      et::ToolCallMask mask(s.trie, t.grammar, stops);
      for (size_t k = 0; k < t.ids.size(); ++k) {
        const int64_t remaining = kBudget - static_cast<int64_t>(k);
        if (apply) {
          mask.apply(logits, remaining);
          benchmark::DoNotOptimize(logits.data());
        } else {
          mask.allowed(remaining, bits);
          benchmark::DoNotOptimize(bits.data());
        }
        mask.accept(t.ids[k]);
      }
    }
  }
  state.counters["turns"] = static_cast<double>(s.turns.size());
  state.counters["tokens"] = static_cast<double>(s.tokens);
  state.counters["skipped_turns"] = s.refused;
  state.counters["us_per_token"] = benchmark::Counter(static_cast<double>(s.tokens) * 1e-6,
                                                      benchmark::Counter::kIsIterationInvariantRate |
                                                          benchmark::Counter::kInvert);
}

void BM_BuildTrie(benchmark::State& state) {
  Setup& s = setup();
  const et::TokenBytes tb = et::token_bytes(*s.tok);
  for (auto _ : state) benchmark::DoNotOptimize(et::TokenTrie(tb));
  state.counters["nodes"] = static_cast<double>(s.trie->nodes.size());
}

void BM_CompileGrammar(benchmark::State& state) {
  Setup& s = setup();
  for (auto _ : state)
    for (const ojson& t : s.tools) benchmark::DoNotOptimize(et::CallGrammar(et::CallSyntax::hermes, t));
  state.counters["us_per_grammar"] = benchmark::Counter(static_cast<double>(s.tools.size()) * 1e-6,
                                                        benchmark::Counter::kIsIterationInvariantRate |
                                                            benchmark::Counter::kInvert);
}

BENCHMARK_CAPTURE(BM_TokenMask, allowed, false)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_TokenMask, apply, true)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_BuildTrie)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_CompileGrammar)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
