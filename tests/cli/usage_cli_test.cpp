// The command line itself: no arguments prints the usage and exits 2 (a usage error); an unknown
// command is named with the list of commands; global options (--log-level) work before or after
// the command; generate stops at the model's context length with a message.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "edgetune/core/file_io.h"
#include "test_util.h"

using et::path_join;
using et::read_text_file;
using et::write_file_atomic;
using et::test::run_cli;

TEST(UsageCli, NoArgumentsPrintsUsageAndExitsWithAUsageError) {
  auto r = run_cli({});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_EQ(r.out, "");
  for (const char* s : {"Usage", "--log-level", "no command given", "train", "generate", "retune"})
    EXPECT_NE(r.err.find(s), std::string::npos) << s << " in: " << r.err;
  // Only global options, still no command.
  r = run_cli({"--log-level", "warn"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("no command given"), std::string::npos) << r.err;
}

TEST(UsageCli, UnknownCommandIsNamedWithTheCommands) {
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"trian", "recipe.yaml"}, {"--log-level", "debug", "trian"}}) {
    auto r = run_cli(args);
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_NE(r.err.find("unknown command 'trian'"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("inspect, tokenize, generate, quantize, plan, train, export, eval, retune"),
              std::string::npos)
        << r.err;
    EXPECT_EQ(r.err.find("A subcommand is required"), std::string::npos) << r.err;
  }
  // Help and version still work and exit 0.
  EXPECT_EQ(run_cli({"--help"}).exit_code, 0);
  EXPECT_EQ(run_cli({"--version"}).exit_code, 0);
  EXPECT_EQ(run_cli({"train", "--help"}).exit_code, 0);
  // An unknown option of a known command is a usage error too.
  auto r = run_cli({"inspect", "--no-such-option", "x"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("--no-such-option"), std::string::npos) << r.err;
}

TEST(UsageCli, GlobalOptionsBeforeOrAfterTheCommand) {
  ET_REQUIRE_SHARED(model, "models/stories260K");
  const std::vector<std::string> gen = {"generate", "--model", model, "--prompt", "", "--max-tokens", "4",
                                        "--temperature", "0"};
  auto plain = run_cli(gen);
  ASSERT_EQ(plain.exit_code, 0) << plain.err;
  EXPECT_NE(plain.err.find("generate:"), std::string::npos) << "info logs by default: " << plain.err;
  std::vector<std::string> before = {"--log-level", "warn"};
  before.insert(before.end(), gen.begin(), gen.end());
  std::vector<std::string> after = gen;
  after.insert(after.end(), {"--log-level", "warn"});
  std::vector<std::string> after_eq = gen;
  after_eq.push_back("--log-level=warn");
  for (const auto& args : {before, after, after_eq}) {
    auto r = run_cli(args);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, plain.out);
    EXPECT_EQ(r.err, "") << "--log-level warn hides the info lines";
  }
}

// A copy of stories260K whose config.json says the context is 24 tokens.
TEST(UsageCli, GenerateStopsAtTheContextLength) {
  ET_REQUIRE_SHARED(model, "models/stories260K");
  const std::string dir = et::test::temp_dir("cli-context");
  for (const char* f : {"model.safetensors", "tokenizer.model", "tokenizer.json", "tokenizer_config.json",
                        "generation_config.json"})
    write_file_atomic(path_join(dir, f), read_text_file(path_join(model, f)));
  auto cfg = nlohmann::json::parse(read_text_file(path_join(model, "config.json")));
  cfg["max_position_embeddings"] = 24;
  write_file_atomic(path_join(dir, "config.json"), cfg.dump());
  auto r = run_cli({"generate", "--model", dir, "--prompt", "", "--max-tokens", "100000", "--temperature", "0"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("stopped at the context length (24 tokens"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("generate: 23 tokens"), std::string::npos) << "BOS + 23 new tokens fill 24: " << r.err;
  // The same text as asking for exactly the room left (greedy, the reference has no EOS that early).
  auto exact = run_cli({"generate", "--model", dir, "--prompt", "", "--max-tokens", "23", "--temperature", "0"});
  ASSERT_EQ(exact.exit_code, 0) << exact.err;
  EXPECT_EQ(r.out, exact.out);
  // A prompt that already fills the context is refused, naming the limit.
  std::string long_prompt;
  for (int i = 0; i < 40; ++i) long_prompt += "Once upon a time ";
  r = run_cli({"generate", "--model", dir, "--prompt", long_prompt, "--max-tokens", "4"});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("max_position_embeddings"), std::string::npos) << r.err;
}
