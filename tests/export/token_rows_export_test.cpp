// A patch with trainable token rows: the native patch stores them and, applied to a fresh model,
// gives the trained model's forward; the merged model holds them in its embedding (same forward);
// PEFT's adapter gets them as its trainable-tokens tensor and config key; a GGUF LoRA adapter,
// which cannot carry them, is refused with a message that says what to use instead.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "edgetune/core/safetensors.h"
#include "edgetune/export/gguf_lora_export.h"
#include "edgetune/export/merged_export.h"
#include "edgetune/export/patch.h"
#include "edgetune/export/peft_export.h"
#include "edgetune/model/forward.h"
#include "export_test_util.h"

using namespace et;
using namespace et::test;

namespace {

AdapterSet trained_with_token_rows(model::Model& m) {
  Plan p = plan_all(m, AdapterOptions{});
  p.token_ids = {5, 11, 2};
  p.token_width = m.config.hidden_size;
  p.token_module = m.prefix + "embed_tokens";
  AdapterSet a = create_adapters(p, 3, torch::kCPU);
  randomize(a, 8);
  attach_adapters(m, a);
  return a;
}

}  // namespace

TEST(TokenRowsExport, PatchAndMergedModelGiveTheTrainedForward) {
  const std::string base = golden("qwen2");
  model::Model m = model::load_model(base);
  AdapterSet a = trained_with_token_rows(m);
  torch::NoGradGuard g;
  const torch::Tensor ids = torch::tensor(std::vector<int64_t>{1, 5, 7, 11, 2, 5, 3}).view({1, -1});
  const torch::Tensor want = model::forward(m, ids);

  const std::string path = path_join(temp_dir("token_rows_patch"), "patch.safetensors");
  write_patch(path, make_patch(a, base, "adapters:\n  trainable_tokens: [auto]\n"));
  model::Model fresh = model::load_model(base);
  const Patch p = apply_patch(fresh, path, base, false);
  EXPECT_EQ(p.plan.token_ids, a.plan.token_ids);
  EXPECT_LT(max_abs_diff(model::forward(fresh, ids), want), 1e-5);

  const std::string merged = temp_dir("token_rows_merged");
  export_merged(a, base, merged);
  EXPECT_LT(max_abs_diff(model::forward(model::load_model(merged), ids), want), 1e-4);
}

TEST(TokenRowsExport, PeftGetsTheTrainableTokensAndGgufIsRefused) {
  const std::string base = golden("qwen2");
  model::Model m = model::load_model(base);
  AdapterSet a = trained_with_token_rows(m);
  const std::string out = temp_dir("token_rows_peft");
  export_peft(a, base, out);
  const auto cfg = nlohmann::json::parse(read_text_file(path_join(out, "adapter_config.json")));
  EXPECT_EQ(cfg["trainable_token_indices"], nlohmann::json(a.plan.token_ids));
  SafetensorsFile f(path_join(out, "adapter_model.safetensors"));
  const std::string key = "base_model.model." + m.prefix + "embed_tokens.token_adapter.trainable_tokens_delta";
  const TensorInfo* t = f.find(key);
  ASSERT_NE(t, nullptr) << key;
  EXPECT_EQ(t->shape, (std::vector<int64_t>{3, m.config.hidden_size}));
  const std::vector<float> rows = f.read_f32(key);
  EXPECT_TRUE(torch::equal(torch::from_blob(const_cast<float*>(rows.data()), t->shape, torch::kFloat32), a.token_rows.detach()));
  try {
    export_gguf_lora(a, base, path_join(out, "x.gguf"));
    FAIL() << "a GGUF LoRA took token rows";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("merged"), std::string::npos) << e.what();
  }
}
