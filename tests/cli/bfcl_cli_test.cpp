// `edgetune eval --bfcl` through the built binary: the summary fields of scored predictions
// (hand-counted), the per-example details, clear errors for bad input, and a model's own answers
// scored exactly as the same texts given as predictions.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "edgetune/core/file_io.h"
#include "test_util.h"

using et::path_join;
using et::read_text_file;
using et::write_file_atomic;
using et::test::run_cli;
using json = nlohmann::json;

namespace {

const char* kQuestions =
    R"({"id": "simple_python_0", "question": [[{"role": "user", "content": "Weather in Paris?"}]], "function": [{"name": "get_weather", "description": "weather", "parameters": {"type": "dict", "properties": {"city": {"type": "string"}}, "required": ["city"]}}]}
{"id": "simple_python_1", "question": [[{"role": "user", "content": "Weather in Oslo?"}]], "function": [{"name": "get_weather", "description": "weather", "parameters": {"type": "dict", "properties": {"city": {"type": "string"}}, "required": ["city"]}}]}
{"id": "parallel_0", "question": [[{"role": "user", "content": "Weather in Rome and Lima?"}]], "function": [{"name": "get_weather", "description": "weather", "parameters": {"type": "dict", "properties": {"city": {"type": "string"}}, "required": ["city"]}}]}
{"id": "irrelevance_0", "question": [[{"role": "user", "content": "Who wrote Hamlet?"}]], "function": [{"name": "get_weather", "description": "weather", "parameters": {"type": "dict", "properties": {"city": {"type": "string"}}, "required": ["city"]}}]}
)";
const char* kAnswers = R"({"id": "simple_python_0", "ground_truth": [{"get_weather": {"city": ["Paris"]}}]}
{"id": "simple_python_1", "ground_truth": [{"get_weather": {"city": ["Oslo"]}}]}
{"id": "parallel_0", "ground_truth": [{"get_weather": {"city": ["Rome"]}}, {"get_weather": {"city": ["Lima"]}}]}
)";

struct Files {
  std::string dir, questions, answers;
};

Files write_files(const std::string& tag) {
  Files f;
  f.dir = et::test::temp_dir(tag);
  f.questions = path_join(f.dir, "BFCL_v4_mix.json");
  f.answers = path_join(f.dir, "possible_answer.json");
  write_file_atomic(f.questions, kQuestions);
  write_file_atomic(f.answers, kAnswers);
  return f;
}

TEST(BfclCli, PredictionsSummaryAndDetails) {
  const Files f = write_files("bfcl_cli");
  const std::string pred = path_join(f.dir, "pred.jsonl"), details = path_join(f.dir, "details.json");
  write_file_atomic(pred,
                    R"({"id": "simple_python_0", "result": "[get_weather(city='paris')]"}
{"id": "simple_python_1", "result": "[get_weather(city='Rome')]"}
{"id": "parallel_0", "result": [{"name": "get_weather", "arguments": {"city": "Lima"}}, {"name": "get_weather", "arguments": {"city": "Rome"}}]}
{"id": "irrelevance_0", "result": "[get_weather(city="}
)");
  auto r = run_cli({"eval", "--bfcl", f.questions, "--answers", f.answers, "--predictions", pred, "--json", details});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json s = json::parse(r.out);  // stdout is one JSON object
  EXPECT_EQ(s["examples"], 4);
  EXPECT_EQ(s["correct"], 3);
  EXPECT_DOUBLE_EQ(s["accuracy"].get<double>(), 0.75);
  EXPECT_EQ(s["valid"], 3);
  EXPECT_DOUBLE_EQ(s["valid_rate"].get<double>(), 0.75);
  EXPECT_EQ(s["missing_predictions"], 0);
  EXPECT_EQ(s["predictions"], pred);
  const json& c = s["categories"];
  EXPECT_EQ(c["simple_python"]["examples"], 2);
  EXPECT_DOUBLE_EQ(c["simple_python"]["accuracy"].get<double>(), 0.5);
  EXPECT_DOUBLE_EQ(c["simple_python"]["valid_rate"].get<double>(), 1.0);
  EXPECT_DOUBLE_EQ(c["parallel"]["accuracy"].get<double>(), 1.0);
  EXPECT_DOUBLE_EQ(c["irrelevance"]["accuracy"].get<double>(), 1.0);  // output that does not parse is no call
  EXPECT_DOUBLE_EQ(c["irrelevance"]["valid_rate"].get<double>(), 0.0);
  const json& fn = s["functions"]["get_weather"];
  EXPECT_EQ(fn["calls"], 4);
  EXPECT_EQ(fn["matched"], 3);
  EXPECT_DOUBLE_EQ(fn["accuracy"].get<double>(), 0.75);
  const json d = json::parse(read_text_file(details));
  ASSERT_EQ(d["examples_detail"].size(), 4u);
  const json& wrong = d["examples_detail"][1];
  EXPECT_EQ(wrong["id"], "simple_python_1");
  EXPECT_EQ(wrong["category"], "simple_python");
  EXPECT_EQ(wrong["valid"], true);
  EXPECT_EQ(wrong["correct"], false);
  EXPECT_NE(wrong["reason"].get<std::string>().find("'city': \"Rome\" is not among the allowed values"),
            std::string::npos)
      << wrong["reason"];
  EXPECT_EQ(wrong["calls"][0]["arguments"]["city"], "Rome");
  EXPECT_EQ(d["examples_detail"][0]["reason"], "");
  EXPECT_NE(d["examples_detail"][3]["reason"].get<std::string>().find("does not parse"), std::string::npos);
}

TEST(BfclCli, BadInputIsNamed) {
  const Files f = write_files("bfcl_cli_bad");
  const std::string pred = path_join(f.dir, "pred.jsonl");
  write_file_atomic(pred, "{\"id\": \"simple_python_0\", \"result\": \"[]\"}\nnot json\n");
  auto r = run_cli({"eval", "--bfcl", f.questions, "--answers", f.answers, "--predictions", pred});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_TRUE(r.out.empty()) << r.out;
  EXPECT_NE(r.err.find(pred + ":2: not valid JSON"), std::string::npos) << r.err;
  // No answers for a category that needs them.
  r = run_cli({"eval", "--bfcl", f.questions, "--predictions", pred});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("needs its possible answers (--answers"), std::string::npos) << r.err;
  // Neither a model nor predictions, or both.
  r = run_cli({"eval", "--bfcl", f.questions, "--answers", f.answers});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("either --model"), std::string::npos) << r.err;
  r = run_cli({"eval", "--bfcl", f.questions, "--answers", f.answers, "--predictions", pred, "--model", f.dir});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("either --model"), std::string::npos) << r.err;
  // The conversation evaluation still asks for its own options.
  r = run_cli({"eval", "--data", pred});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("--model is required"), std::string::npos) << r.err;
  r = run_cli({"eval", "--help"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("--bfcl QUESTIONS.json --answers POSSIBLE.json"), std::string::npos) << r.out;
}

// A model's answers (stories260K writes stories, not calls) scored in eval, and the same texts
// scored as predictions: the same verdicts, so the model path's scores are the checker's.
TEST(BfclCli, ModelAnswersScoreLikeTheSameTextsAsPredictions) {
  ET_REQUIRE_SHARED(model, "models/stories260K");
  ET_REQUIRE_SHARED(bfcl, "data/bfcl/BFCL_v4_simple_python.json");
  const std::string dir = et::test::temp_dir("bfcl_cli_model");
  const std::string data = et::parent_path(bfcl);
  for (const std::string cat : {"simple_python", "irrelevance"}) {
    SCOPED_TRACE(cat);
    const std::string q = path_join(data, "BFCL_v4_" + cat + ".json");
    const std::string a = cat == "irrelevance" ? "" : path_join(data, "possible_answer/BFCL_v4_" + cat + ".json");
    const std::string details = path_join(dir, cat + ".json");
    std::vector<std::string> args = {"eval",         "--bfcl", q,           "--model", model,    "--limit", "3",
                                     "--max-tokens", "24",     "--max-len", "512",     "--json", details};
    if (!a.empty()) args.insert(args.end(), {"--answers", a});
    auto r = run_cli(args);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const json s = json::parse(r.out);
    EXPECT_EQ(s["examples"], 3);
    EXPECT_EQ(s["chat_template"], "plain");
    const json d = json::parse(read_text_file(details));
    std::string pred;
    for (const auto& x : d["examples_detail"]) pred += json{{"id", x["id"]}, {"result", x["output"]}}.dump() + "\n";
    const std::string pred_path = path_join(dir, cat + ".pred.jsonl");
    write_file_atomic(pred_path, pred);
    // Only the first three questions have predictions: the rest are missing, so compare those three.
    args = {"eval", "--bfcl", q, "--predictions", pred_path, "--json", details + ".p"};
    if (!a.empty()) args.insert(args.end(), {"--answers", a});
    r = run_cli(args);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    const json p = json::parse(read_text_file(details + ".p"));
    int correct = 0;
    for (size_t i = 0; i < 3; ++i) {
      const json &x = d["examples_detail"][i], &y = p["examples_detail"][i];
      EXPECT_FALSE(x["output"].get<std::string>().empty()) << x["id"];
      EXPECT_EQ(x["id"], y["id"]);
      EXPECT_EQ(x["correct"], y["correct"]) << x["id"];
      EXPECT_EQ(x["valid"], y["valid"]) << x["id"];
      EXPECT_EQ(x["reason"], y["reason"]) << x["id"];
      correct += x["correct"].get<bool>();
    }
    EXPECT_EQ(s["correct"], correct);
  }
}

}  // namespace
