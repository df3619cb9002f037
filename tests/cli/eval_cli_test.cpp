// `edgetune eval` end to end through the built binary. A tiny Llama is pretrained from scratch
// (adapters.policy full) until it has memorized two conversations (a tool call, its result and an
// answer), so its greedy turns are known: evaluated on those conversations every call must be
// exact; evaluated on the same conversations with other expected arguments the tool names still
// match while the arguments do not; and the held-out loss eval reports equals the eval_loss that
// `train` reports for the same file (two independent code paths: per-conversation vs packed rows).
// --constrain leaves the memorized (valid) turns as they are, and with tools whose enum excludes
// the memorized city it turns the model's invalid calls into valid ones (eval and generate --json,
// which also gives the call's confidence). A QLoRA patch's held-out loss under --quant nf4 is the
// one training reported.
#include <gtest/gtest.h>

#include <cmath>
#include <map>

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

// The tool; city_schema is the "city" parameter's schema.
nlohmann::ordered_json weather_tools(const std::string& city_schema = R"({"type": "string"})") {
  return nlohmann::ordered_json::parse(
      R"([{"type": "function", "function": {"name": "get_weather", "description": "weather in a city",
           "parameters": {"type": "object", "properties": {"city": )" +
      city_schema + R"(}, "required": ["city"]}}}])");
}

std::string conversation(const std::string& city, const std::string& asked_city, const std::string& answer,
                         const nlohmann::ordered_json& tools = weather_tools()) {
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
  EXPECT_EQ(o["backbone"], "dense");
  EXPECT_EQ(o["constrained"], false);

  // --constrain where the model already writes valid calls changes nothing it writes.
  const std::string constrained_details = path_join(dir, "eval-constrained.json");
  ev = run_cli({"eval", "--model", model, "--data", data, "--max-len", "256", "--no-loss", "--constrain", "--json",
                constrained_details});
  ASSERT_EQ(ev.exit_code, 0) << ev.err;
  const auto c = nlohmann::json::parse(ev.out);
  EXPECT_EQ(c["constrained"], true);
  EXPECT_DOUBLE_EQ(c["tool_call_exact_match"].get<double>(), 1.0);
  EXPECT_DOUBLE_EQ(c["valid_rate"].get<double>(), 1.0);
  const auto cfull = nlohmann::json::parse(read_text_file(constrained_details));
  for (size_t i = 0; i < 4; ++i)
    EXPECT_EQ(cfull["turns_detail"][i]["text"], full["turns_detail"][i]["text"]) << "turn " << i;
  // The coverage table: 50%, 80%, 100% of the 2 call turns, confidences in (0, 1].
  ASSERT_EQ(c["coverage"].size(), 3u);
  EXPECT_EQ(c["coverage"][0]["items"], 1);
  EXPECT_EQ(c["coverage"][2]["items"], 2);
  EXPECT_DOUBLE_EQ(c["coverage"][2]["accuracy"].get<double>(), 1.0);
  for (const auto& t : cfull["turns_detail"]) {
    EXPECT_GT(t["confidence"].get<double>(), 0.0);
    EXPECT_LE(t["confidence"].get<double>(), 1.0);
  }
  EXPECT_NE(ev.err.find("coverage"), std::string::npos) << "the coverage table goes to stderr: " << ev.err;

  // Tools whose city is an enum without the memorized cities: unconstrained the model still writes
  // Paris and Lima (calls these tools refuse), constrained every call names one of the enum's.
  const auto enum_tools = weather_tools(R"({"type": "string", "enum": ["Rome", "Oslo"]})");
  const std::string enum_data = path_join(dir, "enum.jsonl");
  write_file_atomic(enum_data, conversation("Rome", "Paris", "sunny", enum_tools) +
                                   conversation("Oslo", "Lima", "foggy", enum_tools));
  ev = run_cli({"eval", "--model", model, "--data", enum_data, "--max-len", "256", "--no-loss"});
  ASSERT_EQ(ev.exit_code, 0) << ev.err;
  EXPECT_DOUBLE_EQ(nlohmann::json::parse(ev.out)["valid_rate"].get<double>(), 0.5);  // the two answers only
  const std::string enum_details = path_join(dir, "eval-enum.json");
  ev = run_cli({"eval", "--model", model, "--data", enum_data, "--max-len", "256", "--no-loss", "--constrain",
                "--json", enum_details});
  ASSERT_EQ(ev.exit_code, 0) << ev.err;
  EXPECT_DOUBLE_EQ(nlohmann::json::parse(ev.out)["valid_rate"].get<double>(), 1.0);
  const auto efull = nlohmann::json::parse(read_text_file(enum_details));
  int calls = 0;
  for (const auto& t : efull["turns_detail"])
    for (const auto& g : t["got"]) {
      ++calls;
      EXPECT_EQ(g["name"], "get_weather");
      const std::string city = g["arguments"]["city"].get<std::string>();
      EXPECT_TRUE(city == "Rome" || city == "Oslo") << city;
    }
  EXPECT_EQ(calls, 2);

  // generate --chat --tools --json: the call with its confidence; --constrain keeps it in the enum.
  const std::string tools_file = path_join(dir, "tools.json");
  write_file_atomic(tools_file, enum_tools.dump());
  for (bool constrain : {false, true}) {
    SCOPED_TRACE(constrain ? "constrained" : "free");
    std::vector<std::string> args = {"generate", "--model", model, "--chat", "--tools", tools_file, "--prompt",
                                     "How is the weather in Paris?", "--max-tokens", "96", "--json"};
    if (constrain) args.push_back("--constrain");
    auto g = run_cli(args);
    ASSERT_EQ(g.exit_code, 0) << g.err;
    const auto j = nlohmann::json::parse(g.out);
    EXPECT_EQ(j["constrained"], constrain);
    ASSERT_EQ(j["calls"].size(), 1u) << g.out;
    EXPECT_EQ(j["calls"][0]["name"], "get_weather");
    const std::string city = j["calls"][0]["arguments"]["city"].get<std::string>();
    if (constrain) EXPECT_TRUE(city == "Rome" || city == "Oslo") << city;
    else EXPECT_EQ(city, "Paris");
    const double conf = j["calls"][0]["confidence"].get<double>();
    EXPECT_GT(conf, 0.0);
    EXPECT_LE(conf, 1.0);
    EXPECT_DOUBLE_EQ(j["confidence"].get<double>(), conf);  // the turn's: its only call's
  }
}

// --quant nf4 (and auto, the default, for a QLoRA patch) runs the backbone the patch trained on:
// its held-out loss is train's eval_loss, while the dense backbone (PEFT's) gives another, and
// eval says which one ran.
TEST(EvalCli, QuantNf4ComparesWithTrainingLoss) {
  ET_REQUIRE_SHARED(stories, "models/stories260K");
  const std::string dir = et::test::temp_dir("eval_cli_nf4");
  const std::string data = path_join(dir, "data.jsonl");
  write_file_atomic(data, conversation("Paris", "Paris", "sunny") + conversation("Lima", "Lima", "foggy"));
  const std::string recipe = path_join(dir, "qlora.yaml");
  write_file_atomic(recipe, "model:\n  path: " + stories + "\nquant:\n  backbone: nf4\nadapters:\n  policy: all\n"
                            "  rank: 4\n  alpha: 8\ndata:\n  train: " + data + "\n  eval: " + data +
                            "\n  max_seq_len: 256\n  pack: false\ntrain:\n  max_steps: 4\n  batch_size: 2\n"
                            "  lr: 1.0e-2\n  warmup_steps: 0\n  eval_every: 0\n  save_every: 0\n  seed: 0\n"
                            "output:\n  dir: " + path_join(dir, "run") + "\n  export_peft: false\n");
  auto train = run_cli({"train", recipe});
  ASSERT_EQ(train.exit_code, 0) << train.err;
  const double trained = nlohmann::json::parse(train.out)["eval_loss_after"].get<double>();
  const std::string patch = path_join(dir, "run/patch.safetensors");
  auto nf4 = run_cli({"eval", "--model", stories, "--patch", patch, "--data", data, "--quant", "nf4", "--max-tokens",
                      "1"});
  ASSERT_EQ(nf4.exit_code, 0) << nf4.err;
  const auto n = nlohmann::json::parse(nf4.out);
  EXPECT_EQ(n["backbone"], "nf4");
  EXPECT_EQ(n["patch_backbone"], "nf4");
  EXPECT_NEAR(n["eval_loss"].get<double>(), trained, 1e-4);
  // Without --quant, eval runs the backbone the patch trained on.
  auto plain = run_cli({"eval", "--model", stories, "--patch", patch, "--data", data, "--max-tokens", "1"});
  ASSERT_EQ(plain.exit_code, 0) << plain.err;
  EXPECT_EQ(nlohmann::json::parse(plain.out)["backbone"], "nf4");
  EXPECT_NEAR(nlohmann::json::parse(plain.out)["eval_loss"].get<double>(), trained, 1e-4);
  auto dense = run_cli({"eval", "--model", stories, "--patch", patch, "--data", data, "--quant", "none",
                        "--max-tokens", "1"});
  ASSERT_EQ(dense.exit_code, 0) << dense.err;
  const auto d = nlohmann::json::parse(dense.out);
  EXPECT_EQ(d["backbone"], "dense");
  EXPECT_GT(std::abs(d["eval_loss"].get<double>() - trained), 1e-3) << "NF4 and dense backbones gave the same loss";
  EXPECT_NE(dense.err.find("NF4"), std::string::npos) << "no warning that the patch trained on NF4: " << dense.err;
  auto bad = run_cli({"eval", "--model", stories, "--data", data, "--quant", "int8"});
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_NE(bad.err.find("--quant"), std::string::npos) << bad.err;
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

// Training and eval build examples through one path: eval's held-out loss on a patch is the
// eval_loss training reported, with the recipe's data.last_turn_only on and off and its
// data.system_prompt (which eval takes from the patch).
TEST(EvalCli, HeldOutLossIsTrainingsWithAndWithoutLastTurnOnly) {
  ET_REQUIRE_SHARED(stories, "models/stories260K");
  const std::string dir = et::test::temp_dir("eval_cli_examples");
  const std::string data = path_join(dir, "data.jsonl");
  write_file_atomic(data, conversation("Paris", "Paris", "sunny") + conversation("Lima", "Lima", "foggy"));
  std::map<bool, int64_t> tokens;
  for (const bool last_only : {false, true}) {
    SCOPED_TRACE(last_only ? "last_turn_only" : "every turn");
    const std::string run = path_join(dir, last_only ? "last" : "all");
    const std::string recipe = run + ".yaml";
    write_file_atomic(recipe, "model:\n  path: " + stories + "\nquant:\n  backbone: nf4\nadapters:\n  policy: all\n"
                              "  rank: 4\n  alpha: 8\ndata:\n  train: " + data + "\n  eval: " + data +
                              "\n  max_seq_len: 256\n  pack: false\n  system_prompt: You tell the weather.\n"
                              "  last_turn_only: " + (last_only ? "true" : "false") +
                              "\ntrain:\n  max_steps: 3\n  batch_size: 2\n  lr: 1.0e-2\n  warmup_steps: 0\n"
                              "  eval_every: 0\n  save_every: 0\n  seed: 0\noutput:\n  dir: " + run +
                              "\n  export_peft: false\n");
    auto train = run_cli({"train", recipe});
    ASSERT_EQ(train.exit_code, 0) << train.err;
    const double trained = nlohmann::json::parse(train.out)["eval_loss_after"].get<double>();
    auto e = run_cli({"eval", "--model", stories, "--patch", path_join(run, "patch.safetensors"), "--data", data,
                      "--max-tokens", "1"});
    ASSERT_EQ(e.exit_code, 0) << e.err;
    const auto j = nlohmann::json::parse(e.out);
    EXPECT_NEAR(j["eval_loss"].get<double>(), trained, 1e-4);
    tokens[last_only] = j["eval_loss_tokens"].get<int64_t>();
  }
  EXPECT_LT(tokens[true], tokens[false]) << "last_turn_only scored as many tokens as every turn";
}
