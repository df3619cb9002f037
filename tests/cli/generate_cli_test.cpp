// `edgetune generate` and `edgetune inspect` through the built binary: greedy generation from BOS
// on stories260K prints exactly reference_outputs.json's greedy_text; sampling with a seed
// repeats; inspect describes a golden folder.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "edgetune/core/file_io.h"
#include "test_util.h"

using et::test::run_cli;

TEST(GenerateCli, GreedyFromBosPrintsReferenceText) {
  ET_REQUIRE_SHARED(dir, "models/stories260K");
  auto ref = nlohmann::json::parse(et::read_text_file(et::path_join(dir, "reference_outputs.json")));
  const std::string want = ref["greedy_text"];
  auto r = run_cli({"generate", "--model", dir, "--prompt", "", "--max-tokens", "64", "--temperature", "0"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::string out = r.out;
  if (!out.empty() && out.back() == '\n') out.pop_back();
  EXPECT_EQ(out, want);
}

TEST(GenerateCli, PromptContinuationAndSeededSampling) {
  ET_REQUIRE_SHARED(dir, "models/stories260K");
  auto ref = nlohmann::json::parse(et::read_text_file(et::path_join(dir, "reference_outputs.json")));
  const std::string text = ref["greedy_text"];
  // Greedy from "Once upon a time" continues the reference text (the prompt is not echoed).
  auto r = run_cli({"generate", "--model", dir, "--prompt", "Once upon a time", "--max-tokens", "10",
                    "--temperature", "0"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ASSERT_FALSE(r.out.empty());
  const std::string cont = r.out.substr(0, r.out.size() - 1);
  EXPECT_EQ(text.rfind("Once upon a time" + cont, 0), 0u) << "continuation: '" << cont << "'";
  std::vector<std::string> args = {"generate", "--model", dir, "--prompt", "Once", "--max-tokens", "30",
                                   "--temperature", "1.0", "--top-p", "0.95", "--top-k", "40", "--seed", "3"};
  auto a = run_cli(args), b = run_cli(args);
  ASSERT_EQ(a.exit_code, 0) << a.err;
  EXPECT_EQ(a.out, b.out);
  args.back() = "4";
  EXPECT_NE(run_cli(args).out, a.out);
}

TEST(InspectCli, DescribesGoldenFolders) {
  const std::string dir = et::path_join(et::test::source_dir(), "tests/golden/gemma3");
  auto r = run_cli({"inspect", dir});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const char* s : {"Gemma3ForCausalLM", "gemma3_text", "2 sliding_attention (window 6), 1 full_attention",
                        "tied to embed_tokens", "model.layers.2.mlp.down_proj.weight", "[32, 64]", "q_proj"})
    EXPECT_NE(r.out.find(s), std::string::npos) << s << "\n" << r.out;
  auto g = run_cli({"inspect", et::path_join(dir, "model.gguf")});
  EXPECT_EQ(g.exit_code, 1);
  EXPECT_NE(g.err.find("model.gguf"), std::string::npos) << g.err;
}

TEST(InspectCli, GgufAndEtqFiles) {
  ET_REQUIRE_SHARED(gguf, "tokenizers/gguf-vocab/ggml-vocab-gpt-2.gguf");
  auto r = run_cli({"inspect", gguf});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const char* s : {"GGUF v3", "general.architecture", "\"gpt2\"", "gguf-gpt2, vocab 50257"})
    EXPECT_NE(r.out.find(s), std::string::npos) << s << "\n" << r.out;
  const std::string dir = et::path_join(et::test::source_dir(), "tests/golden/qwen3");
  const std::string etq = et::path_join(et::test::temp_dir("inspect-etq"), "m.etq");
  ASSERT_EQ(run_cli({"quantize", dir, "-o", etq}).exit_code, 0);
  r = run_cli({"inspect", etq});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // 2 layers x 7 projections quantized; the architecture comes from the embedded config.json.
  for (const char* s : {".etq, NF4 backbone", "Qwen3ForCausalLM", "NF4            14 matrices", "embedded files config.json"})
    EXPECT_NE(r.out.find(s), std::string::npos) << s << "\n" << r.out;
}

TEST(InspectCli, Stories260KWithTokenizer) {
  ET_REQUIRE_SHARED(dir, "models/stories260K");
  auto r = run_cli({"inspect", dir});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const char* s : {"LlamaForCausalLM", "tied to embed_tokens", "vocab 512", "tokenizer "})
    EXPECT_NE(r.out.find(s), std::string::npos) << s << "\n" << r.out;
}
