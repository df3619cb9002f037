// Outputs that cannot be written are refused before the work that makes them starts: plan -o,
// eval --json, train's output.dir and export -o to a missing folder or a place that takes no new
// files each fail at once, naming the option and the path, with no model loaded.
#include <gtest/gtest.h>

#include "cli_test_util.h"
#include "edgetune/core/file_io.h"
#include "test_util.h"

using et::path_join;
using et::test::tiny_train;
using et::test::with;

// Outputs that cannot be written are refused before the work starts (no model is loaded).
TEST(OutputPathsCli, UnwritableOutputsAreRefusedBeforeTheWork) {
  ET_REQUIRE_SHARED(model, "models/stories260K");
  const std::string work = et::test::temp_dir("cli-outputs");
  const std::string missing = path_join(work, "missing");
  const std::string data = path_join(et::test::source_dir(), "data/stories-tools/eval.jsonl");
  struct Case {
    std::vector<std::string> args;
    std::string names;
  };
  std::vector<std::string> plan = with(tiny_train(model, path_join(work, "run"), {}), {"-o", path_join(missing, "plan.json")});
  plan[0] = "plan";
  const std::vector<Case> cases = {
      {plan, "[plan -o] " + path_join(missing, "plan.json")},
      {{"eval", "--model", model, "--data", data, "--json", path_join(missing, "eval.json")},
       "[eval --json] " + path_join(missing, "eval.json")},
      {tiny_train(model, "/proc/edgetune-run", {}), "[output.dir] /proc/edgetune-run"},
      {{"export", "--model", model, "--patch", path_join(work, "p.safetensors"), "--format", "gguf", "-o",
        path_join(missing, "a.gguf")},
       "[export -o] " + path_join(missing, "a.gguf")},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.args[0]);
    auto r = et::test::run_cli(c.args);
    EXPECT_EQ(r.exit_code, 1) << r.err;
    EXPECT_NE(r.err.find(c.names), std::string::npos) << r.err;
    EXPECT_EQ(r.err.find("loading"), std::string::npos) << "refused before loading the model: " << r.err;
    EXPECT_EQ(r.err.find("loaded"), std::string::npos) << r.err;
  }
}

