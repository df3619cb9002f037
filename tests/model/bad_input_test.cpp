// Bad model folders at the library level: each defect is an et::Error whose message names the
// file and the tensor (or config.json and the value), never a crash. The same defects are run
// through the CLI in tests/cli/bad_input_cli_test.cpp.
#include <gtest/gtest.h>
#include <torch/cuda.h>

#include "broken_model.h"
#include "edgetune/core/error.h"
#include "edgetune/model/model.h"
#include "model_test_util.h"

using namespace et::test;

class BadInput : public ::testing::TestWithParam<Breakage> {};

TEST_P(BadInput, LoadFailsWithContext) {
  ScopedDir dir(temp_dir("badmodel"));
  const auto must = make_broken_model(golden_dir("llama"), dir.path, GetParam());
  std::string msg;
  try {
    et::model::load_model(dir.path);
  } catch (const et::Error& e) {
    msg = e.what();
  }
  ASSERT_FALSE(msg.empty()) << "load_model accepted a broken folder";
  for (const auto& s : must) EXPECT_NE(msg.find(s), std::string::npos) << "'" << s << "' not in: " << msg;
}

INSTANTIATE_TEST_SUITE_P(Breakages, BadInput, ::testing::ValuesIn(all_breakages()),
                         [](const auto& info) { return std::string(breakage_name(info.param)); });

TEST(BadInput, NoModelFilesOrConfig) {
  ScopedDir dir(temp_dir("empty"));
  EXPECT_THROW(et::model::load_model(dir.path), et::Error);
  et::write_file_atomic(et::path_join(dir.path, "config.json"), et::read_text_file(et::path_join(golden_dir("llama"), "config.json")));
  try {
    et::model::load_model(dir.path);
    FAIL() << "no safetensors accepted";
  } catch (const et::Error& e) {
    EXPECT_NE(std::string(e.what()).find("model.safetensors"), std::string::npos) << e.what();
  }
  EXPECT_THROW(et::model::load_model(et::path_join(dir.path, "nope")), et::Error);
}

TEST(BadInput, WrongDtypeAndComputeOptions) {
  EXPECT_THROW(et::model::parse_compute_dtype("float16", "x"), et::Error);
  EXPECT_THROW(et::model::parse_device("tpu"), et::Error);
  if (!torch::cuda::is_available()) {
    EXPECT_THROW(et::model::parse_device("cuda"), et::Error);
  }
}
