// `edgetune eval` end to end through the built binary. A tiny Llama is pretrained from scratch
// (adapters.policy full) until it has memorized two conversations (a tool call, its result and an
// answer), so its greedy turns are known: evaluated on those conversations every call must be
// exact; evaluated on the same conversations with other expected arguments the tool names still
// match while the arguments do not; and the held-out loss eval reports equals the eval_loss that
// `train` reports for the same file (two independent code paths: per-conversation vs packed rows).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "edgetune/core/file_io.h"
#include "test_util.h"

using et::path_join;
using et::read_text_file;
using et::write_file_atomic;
using et::test::run_cli;

namespace {

const char* kConfig = R"({
  "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 64,
  "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
  "vocab_size": 512, "max_position_embeddings": 512, "rms_norm_eps": 1e-05, "rope_theta": 10000.0,
  "tie_word_embeddings": true, "hidden_act": "silu", "bos_token_id": 1, "eos_token_id": 2,
  "torch_dtype": "float32"})";

std::string conversation(const std::string& city, const std::string& asked_city, const std::string& answer) {
  nlohmann::ordered_json tools = nlohmann::ordered_json::parse(
      R"([{"type": "function", "function": {"name": "get_weather", "description": "weather in a city",
           "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}])");
  nlohmann::ordered_json c;
  c["tools"] = tools;
  c["messages"] = nlohmann::ordered_json::array(
      {{{"role", "user"}, {"content", "How is the weather in " + asked_city + "?"}},
       {{"role", "assistant"},
        {"content", ""},
        {"tool_calls", {{{"function", {{"name", "get_weather"}, {"arguments", {{"city", city}}}}}}}}},
       {{"role", "tool"}, {"content", answer}},
       {{"role", "assistant"}, {"content", "It is " + answer + " in " + asked_city + "."}}});
  return c.dump() + "\n";
}

TEST(EvalCli, MemorizedCallsScoreExactAndOtherArgumentsDoNot) {
  ET_REQUIRE_SHARED(tokenizer, "models/stories260K/tokenizer.model");
  const std::string dir = et::test::temp_dir("eval_cli");
  const std::string init = path_join(dir, "init");
  et::make_dirs(init);
  write_file_atomic(path_join(init, "config.json"), kConfig);
  write_file_atomic(path_join(init, "tokenizer.model"), read_text_file(tokenizer));
  const std::string data = path_join(dir, "data.jsonl"), other = path_join(dir, "other.jsonl");
  write_file_atomic(data, conversation("Paris", "Paris", "sunny") + conversation("Lima", "Lima", "foggy"));
  write_file_atomic(other, conversation("Rome", "Paris", "sunny") + conversation("Oslo", "Lima", "foggy"));
  const std::string recipe = path_join(dir, "memorize.yaml");
  write_file_atomic(recipe, "model:\n  path: " + init + "\n  init: random\nquant:\n  backbone: none\n"
                            "adapters:\n  policy: full\ndata:\n  train: " + data + "\n  eval: " + data +
                            "\n  max_seq_len: 256\n  pack: false\ntrain:\n  max_steps: 200\n  batch_size: 2\n"
                            "  lr: 3.0e-3\n  warmup_steps: 10\n  eval_every: 0\n  save_every: 0\n  seed: 0\n"
                            "output:\n  dir: " + path_join(dir, "run") + "\n  export_peft: false\n");
  auto train = run_cli({"train", recipe});
  ASSERT_EQ(train.exit_code, 0) << train.err;
  const auto summary = nlohmann::json::parse(train.out);
  ASSERT_LT(summary["eval_loss_after"].get<double>(), 0.05) << "the tiny model did not memorize the data";
  const std::string model = path_join(dir, "run/model");

  const std::string details = path_join(dir, "eval.json");
  auto ev = run_cli({"eval", "--model", model, "--data", data, "--max-len", "256", "--json", details});
  ASSERT_EQ(ev.exit_code, 0) << ev.err;
  const auto r = nlohmann::json::parse(ev.out);
  EXPECT_EQ(r["conversations"], 2);
  EXPECT_EQ(r["turns"], 4);
  EXPECT_EQ(r["tool_call_turns"], 2);
  EXPECT_DOUBLE_EQ(r["call_decision_accuracy"].get<double>(), 1.0) << read_text_file(details);
  EXPECT_DOUBLE_EQ(r["tool_call_exact_match"].get<double>(), 1.0) << read_text_file(details);
  EXPECT_DOUBLE_EQ(r["argument_accuracy"].get<double>(), 1.0);
  EXPECT_DOUBLE_EQ(r["malformed_call_rate"].get<double>(), 0.0);
  // The same loss as train's final evaluation of the same file, from another code path.
  EXPECT_NEAR(r["eval_loss"].get<double>(), summary["eval_loss_after"].get<double>(), 1e-4);
  const auto full = nlohmann::json::parse(read_text_file(details));
  ASSERT_EQ(full["turns_detail"].size(), 4u);
  EXPECT_EQ(full["turns_detail"][0]["got"][0]["arguments"]["city"], "Paris");

  // Expected arguments the model never saw: the names still match, the arguments do not.
  ev = run_cli({"eval", "--model", model, "--data", other, "--max-len", "256", "--no-loss"});
  ASSERT_EQ(ev.exit_code, 0) << ev.err;
  const auto o = nlohmann::json::parse(ev.out);
  EXPECT_DOUBLE_EQ(o["tool_name_accuracy"].get<double>(), 1.0);
  EXPECT_DOUBLE_EQ(o["tool_call_exact_match"].get<double>(), 0.0);
  EXPECT_DOUBLE_EQ(o["argument_accuracy"].get<double>(), 0.0);
  EXPECT_FALSE(o.contains("eval_loss"));
}

TEST(EvalCli, BadInputFailsWithTheFileName) {
  ET_REQUIRE_SHARED(model, "models/stories260K");
  const std::string dir = et::test::temp_dir("eval_cli_bad");
  auto r = run_cli({"eval", "--model", model, "--data", path_join(dir, "missing.jsonl")});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("missing.jsonl"), std::string::npos) << r.err;
  const std::string junk = path_join(dir, "junk.jsonl");
  write_file_atomic(junk, "not json\n");
  r = run_cli({"eval", "--model", model, "--data", junk});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("junk.jsonl"), std::string::npos) << r.err;
}

}  // namespace
