// config.json parsing: the four golden configs and stories260K (values checked against what the
// JSON says), both RoPE spellings, Gemma's older keys, the llama3 frequency rule against Meta's
// reference formulation, and errors that name the file and the value.
#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>

#include "edgetune/core/error.h"
#include "edgetune/model/config.h"
#include "edgetune/model/rope.h"
#include "model_test_util.h"

using namespace et::model;
using et::test::golden_dir;

namespace {

std::string error_of(const std::string& json_text) {
  try {
    parse_config(json_text, "dir/config.json");
  } catch (const et::Error& e) {
    return e.what();
  }
  return "";
}

nlohmann::json llama_like() {
  return {{"model_type", "llama"}, {"architectures", {"LlamaForCausalLM"}}, {"vocab_size", 100},
          {"hidden_size", 16}, {"intermediate_size", 32}, {"num_hidden_layers", 2},
          {"num_attention_heads", 4}};
}

}  // namespace

TEST(Config, GoldenLlama) {
  ModelConfig c = load_config(golden_dir("llama"));
  EXPECT_EQ(c.family, Family::llama);
  EXPECT_EQ(c.num_layers, 3);
  EXPECT_EQ(c.num_heads, 4);
  EXPECT_EQ(c.num_kv_heads, 2);
  EXPECT_EQ(c.head_dim, 8);
  EXPECT_FALSE(c.tie_word_embeddings);
  EXPECT_FALSE(c.qkv_bias);
  EXPECT_FALSE(c.qk_norm);
  EXPECT_EQ(c.activation, Activation::silu);
  EXPECT_EQ(c.rope_full.type, RopeType::llama3);
  EXPECT_DOUBLE_EQ(c.rope_full.theta, 500000.0);
  EXPECT_DOUBLE_EQ(c.rope_full.factor, 8.0);
  EXPECT_DOUBLE_EQ(c.rope_full.low_freq_factor, 1.0);
  EXPECT_DOUBLE_EQ(c.rope_full.high_freq_factor, 4.0);
  EXPECT_EQ(c.rope_full.original_max_position_embeddings, 8);
  EXPECT_DOUBLE_EQ(c.attn_scale, 1.0 / std::sqrt(8.0));
  EXPECT_EQ(c.eos_token_ids, std::vector<int64_t>{2});
  EXPECT_EQ(c.bos_token_id, 1);
  for (auto t : c.layer_types) EXPECT_EQ(t, LayerType::full_attention);
}

TEST(Config, GoldenQwen2HasQkvBiasWithoutTheKey) {
  ModelConfig c = load_config(golden_dir("qwen2"));
  EXPECT_EQ(c.family, Family::qwen2);
  EXPECT_TRUE(c.qkv_bias);
  EXPECT_FALSE(c.o_bias);
  EXPECT_TRUE(c.tie_word_embeddings);
  EXPECT_EQ(c.head_dim, 8);  // hidden / heads
  EXPECT_EQ(c.rope_full.type, RopeType::standard);
  EXPECT_DOUBLE_EQ(c.rope_full.theta, 1e6);
  EXPECT_EQ(c.sliding_window, 0);
}

TEST(Config, GoldenQwen3) {
  ModelConfig c = load_config(golden_dir("qwen3"));
  EXPECT_EQ(c.family, Family::qwen3);
  EXPECT_TRUE(c.qk_norm);
  EXPECT_FALSE(c.qkv_bias);
  EXPECT_EQ(c.head_dim, 16);
  EXPECT_EQ(c.q_out(), 64);
  EXPECT_DOUBLE_EQ(c.attn_scale, 0.25);
}

TEST(Config, GoldenGemma3) {
  ModelConfig c = load_config(golden_dir("gemma3"));
  EXPECT_EQ(c.family, Family::gemma3);
  EXPECT_TRUE(c.gemma_norms);
  EXPECT_TRUE(c.qk_norm);
  EXPECT_TRUE(c.tie_word_embeddings);
  EXPECT_EQ(c.activation, Activation::gelu_tanh);
  EXPECT_EQ(c.num_kv_heads, 1);
  EXPECT_EQ(c.head_dim, 16);
  EXPECT_DOUBLE_EQ(c.attn_scale, 1.0 / std::sqrt(16.0));  // query_pre_attn_scalar 16
  EXPECT_DOUBLE_EQ(c.embed_scale, std::sqrt(32.0));
  EXPECT_EQ(c.sliding_window, 6);
  ASSERT_EQ(c.layer_types.size(), 3u);
  EXPECT_EQ(c.layer_types[0], LayerType::sliding_attention);
  EXPECT_EQ(c.layer_types[1], LayerType::full_attention);
  EXPECT_EQ(c.layer_types[2], LayerType::sliding_attention);
  EXPECT_DOUBLE_EQ(c.rope_full.theta, 1e6);
  EXPECT_DOUBLE_EQ(c.rope_sliding.theta, 1e4);
  EXPECT_EQ(c.attn_softcap, 0);
  EXPECT_EQ(c.final_softcap, 0);
}

TEST(Config, Stories260KBothRopeSpellings) {
  ET_REQUIRE_SHARED(dir, "models/stories260K");
  ModelConfig c = load_config(dir);
  EXPECT_EQ(c.family, Family::llama);
  EXPECT_EQ(c.vocab_size, 512);
  EXPECT_EQ(c.num_layers, 5);
  EXPECT_EQ(c.head_dim, 8);
  EXPECT_TRUE(c.tie_word_embeddings);
  EXPECT_DOUBLE_EQ(c.rms_norm_eps, 1e-5);
  EXPECT_EQ(c.rope_full.type, RopeType::standard);
  EXPECT_DOUBLE_EQ(c.rope_full.theta, 10000.0);

  // The same config in the older spelling (rope_theta, no rope_parameters) means the same.
  auto j = nlohmann::json::parse(et::read_text_file(et::path_join(dir, "config.json")));
  j.erase("rope_parameters");
  j["rope_theta"] = 10000.0;
  j["rope_scaling"] = nullptr;
  ModelConfig old = parse_config(j.dump(), "old/config.json");
  EXPECT_EQ(old.rope_full.type, RopeType::standard);
  EXPECT_DOUBLE_EQ(old.rope_full.theta, 10000.0);
  EXPECT_TRUE(torch::equal(rope_inv_freq(old.rope_full, 8), rope_inv_freq(c.rope_full, 8)));
}

TEST(Config, OlderRopeScalingKey) {
  auto j = llama_like();
  j["rope_theta"] = 500000.0;
  j["rope_scaling"] = {{"type", "linear"}, {"factor", 4.0}};
  ModelConfig c = parse_config(j.dump(), "x/config.json");
  EXPECT_EQ(c.rope_full.type, RopeType::linear);
  EXPECT_DOUBLE_EQ(c.rope_full.factor, 4.0);
  EXPECT_DOUBLE_EQ(c.rope_full.theta, 500000.0);
}

TEST(Config, GemmaOlderKeysAndPattern) {
  nlohmann::json j = {{"model_type", "gemma3_text"}, {"vocab_size", 64}, {"hidden_size", 16},
                      {"intermediate_size", 32}, {"num_hidden_layers", 12}, {"num_attention_heads", 2},
                      {"num_key_value_heads", 1}, {"head_dim", 8}, {"rope_theta", 1e6},
                      {"rope_local_base_freq", 1e4}, {"sliding_window_pattern", 6}, {"sliding_window", 512},
                      {"rope_scaling", {{"rope_type", "linear"}, {"factor", 8.0}}}};
  ModelConfig c = parse_config(j.dump(), "g/config.json");
  for (int i = 0; i < 12; ++i)
    EXPECT_EQ(c.layer_types[i], (i + 1) % 6 == 0 ? LayerType::full_attention : LayerType::sliding_attention) << i;
  EXPECT_EQ(c.rope_full.type, RopeType::linear);
  EXPECT_DOUBLE_EQ(c.rope_full.factor, 8.0);
  EXPECT_DOUBLE_EQ(c.rope_full.theta, 1e6);
  EXPECT_EQ(c.rope_sliding.type, RopeType::standard);
  EXPECT_DOUBLE_EQ(c.rope_sliding.theta, 1e4);
  EXPECT_DOUBLE_EQ(c.attn_scale, 1.0 / 16.0);  // query_pre_attn_scalar defaults to 256
  EXPECT_TRUE(c.tie_word_embeddings);
}

TEST(Config, GemmaMultimodalTextConfigAndPerTypeRopeWithoutTheta) {
  // The shape of google/gemma-3-4b-it's config under transformers 5: per-type rope_parameters
  // that omit rope_theta, which then comes from rope_theta / rope_local_base_freq.
  nlohmann::json text = {{"model_type", "gemma3_text"}, {"hidden_size", 16}, {"intermediate_size", 32},
                         {"num_hidden_layers", 2}, {"num_attention_heads", 2}, {"num_key_value_heads", 1},
                         {"head_dim", 8}, {"vocab_size", 64}, {"rope_theta", 1e6}, {"rope_local_base_freq", 1e4},
                         {"layer_types", {"sliding_attention", "full_attention"}}, {"sliding_window", 1024},
                         {"rope_parameters", {{"full_attention", {{"factor", 8.0}, {"rope_type", "linear"}}},
                                              {"sliding_attention", {{"rope_type", "default"}}}}}};
  nlohmann::json j = {{"model_type", "gemma3"}, {"architectures", {"Gemma3ForConditionalGeneration"}},
                      {"text_config", text}, {"eos_token_id", {1, 106}}};
  ModelConfig c = parse_config(j.dump(), "mm/config.json");
  EXPECT_EQ(c.family, Family::gemma3);
  EXPECT_EQ(c.rope_full.type, RopeType::linear);
  EXPECT_DOUBLE_EQ(c.rope_full.theta, 1e6);
  EXPECT_DOUBLE_EQ(c.rope_sliding.theta, 1e4);
  EXPECT_EQ(c.eos_token_ids, (std::vector<int64_t>{1, 106}));
}

TEST(Config, Llama3FrequenciesMatchMetaReference) {
  ModelConfig c = load_config(golden_dir("llama"));
  // Meta's apply_scaling, written per frequency in double precision.
  const RopeSpec& s = c.rope_full;
  const int64_t D = 64;  // more frequencies than the golden's head_dim, to cross all three bands
  RopeSpec wide = s;
  wide.original_max_position_embeddings = 8192;
  wide.theta = 500000.0;
  torch::Tensor ours = rope_inv_freq(wide, D);
  const double lo_wl = 8192 / s.low_freq_factor, hi_wl = 8192 / s.high_freq_factor;
  int bands[3] = {0, 0, 0};
  for (int64_t i = 0; i < D / 2; ++i) {
    const double f = 1.0 / std::pow(500000.0, (2.0 * i) / D), wl = 2 * M_PI / f;
    double want;
    if (wl < hi_wl) want = f, bands[0]++;
    else if (wl > lo_wl) want = f / s.factor, bands[2]++;
    else {
      const double sm = (8192 / wl - s.low_freq_factor) / (s.high_freq_factor - s.low_freq_factor);
      want = (1 - sm) * f / s.factor + sm * f;
      bands[1]++;
    }
    EXPECT_NEAR(ours[i].item<double>(), want, 2e-6 * want) << i;
  }
  EXPECT_GT(bands[0], 0);
  EXPECT_GT(bands[1], 0);
  EXPECT_GT(bands[2], 0);
}

TEST(Config, UnsupportedArchitectureNamesFileAndValue) {
  nlohmann::json j = llama_like();
  j["model_type"] = "gpt2";
  j["architectures"] = {"GPT2LMHeadModel"};
  std::string e = error_of(j.dump());
  EXPECT_NE(e.find("dir/config.json"), std::string::npos) << e;
  EXPECT_NE(e.find("GPT2LMHeadModel"), std::string::npos) << e;
  EXPECT_NE(e.find("gpt2"), std::string::npos) << e;
}

TEST(Config, UnsupportedRopeTypeNamesFileAndValue) {
  nlohmann::json j = llama_like();
  j["rope_scaling"] = {{"rope_type", "yarn"}, {"factor", 4.0}};
  std::string e = error_of(j.dump());
  EXPECT_NE(e.find("dir/config.json"), std::string::npos) << e;
  EXPECT_NE(e.find("'yarn'"), std::string::npos) << e;
  j.erase("rope_scaling");
  j["rope_parameters"] = {{"rope_type", "dynamic"}, {"rope_theta", 1e4}, {"factor", 2.0}};
  e = error_of(j.dump());
  EXPECT_NE(e.find("'dynamic'"), std::string::npos) << e;
}

TEST(Config, MalformedValuesAreErrorsNotCrashes) {
  EXPECT_NE(error_of("{not json").find("not valid JSON"), std::string::npos);
  EXPECT_NE(error_of("[1, 2]").find("dir/config.json"), std::string::npos);
  nlohmann::json j = llama_like();
  j["hidden_size"] = "big";
  EXPECT_NE(error_of(j.dump()).find("'hidden_size'"), std::string::npos);
  j = llama_like();
  j.erase("num_hidden_layers");
  EXPECT_NE(error_of(j.dump()).find("num_hidden_layers"), std::string::npos);
  j = llama_like();
  j["num_key_value_heads"] = 3;
  EXPECT_NE(error_of(j.dump()).find("multiple"), std::string::npos);
  j = llama_like();
  j["hidden_act"] = "relu2";
  EXPECT_NE(error_of(j.dump()).find("'relu2'"), std::string::npos);
  j = llama_like();
  j["rope_scaling"] = {{"rope_type", "llama3"}, {"factor", 8.0}};
  EXPECT_NE(error_of(j.dump()).find("low_freq_factor"), std::string::npos);
  j = llama_like();
  j["layer_types"] = {"full_attention", "chunked_attention"};
  EXPECT_NE(error_of(j.dump()).find("chunked_attention"), std::string::npos);
  j = llama_like();
  j["eos_token_id"] = "two";
  EXPECT_NE(error_of(j.dump()).find("eos_token_id"), std::string::npos);
}

TEST(Config, StopIdsMergeGenerationConfig) {
  ET_REQUIRE_SHARED(dir, "models/stories260K");
  ModelConfig c = load_config(dir);
  EXPECT_EQ(stop_token_ids(dir, c), std::vector<int64_t>{2});
  std::string tmp = et::test::temp_dir("stopids");
  et::test::ScopedDir guard(tmp);
  et::write_file_atomic(et::path_join(tmp, "generation_config.json"), R"({"eos_token_id": [2, 7, 9]})");
  EXPECT_EQ(stop_token_ids(tmp, c), (std::vector<int64_t>{2, 7, 9}));
}
