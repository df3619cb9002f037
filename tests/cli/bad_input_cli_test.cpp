// Broken model folders through the CLI: `edgetune inspect` and `edgetune generate` exit non-zero
// (not by a signal) with a message naming the file and the tensor (or config.json and the value).
#include <gtest/gtest.h>

#include "../model/broken_model.h"
#include "../model/model_test_util.h"
#include "test_util.h"

using namespace et::test;

namespace {

std::string golden_llama() { return et::path_join(source_dir(), "tests/golden/llama"); }

}  // namespace

class BadInputCli : public ::testing::TestWithParam<Breakage> {};

TEST_P(BadInputCli, InspectAndGenerateFailCleanly) {
  ScopedDir guard(temp_dir("badcli"));
  const std::string dir = guard.path;
  const auto must = make_broken_model(golden_llama(), dir, GetParam());
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"inspect", dir}, {"generate", "--model", dir, "--prompt", "", "--max-tokens", "4"}}) {
    auto r = run_cli(args);
    EXPECT_GT(r.exit_code, 0) << args[0];
    EXPECT_LT(r.exit_code, 128) << args[0] << " died by a signal: " << r.err;
    EXPECT_TRUE(r.out.empty()) << args[0] << " printed: " << r.out;
    for (const auto& s : must) EXPECT_NE(r.err.find(s), std::string::npos) << args[0] << ": '" << s << "' not in: " << r.err;
  }
}

INSTANTIATE_TEST_SUITE_P(Breakages, BadInputCli, ::testing::ValuesIn(all_breakages()),
                         [](const auto& info) { return std::string(breakage_name(info.param)); });

TEST(BadInputCli, BadOptions) {
  const std::string dir = golden_llama();
  auto r = run_cli({"generate", "--model", dir, "--prompt", "", "--device", "tpu"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("tpu"), std::string::npos) << r.err;
  r = run_cli({"generate", "--model", et::path_join(dir, "missing"), "--prompt", "x"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("config.json"), std::string::npos) << r.err;
  r = run_cli({"inspect", et::path_join(dir, "config.json")});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("not a model folder, .etq or .gguf file"), std::string::npos) << r.err;
}
