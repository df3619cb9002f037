// `edgetune quantize`, `export` and `generate --patch` through the built binary, on a patch that a
// short `edgetune train` run makes (quant none, so the merged model is exact):
//  - quantize writes the same .etq as model::quantize_to_etq, whose model gives exactly the logits
//    of quantize-on-load; a damaged .etq fails naming the file;
//  - export --format peft / merged read the patch; the merged model generates exactly what
//    base + patch generates; bad arguments and a patch on another base are refused, --force
//    overrides the base check.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "edgetune/core/file_io.h"
#include "edgetune/core/safetensors.h"
#include "edgetune/export/patch.h"
#include "edgetune/model/forward.h"
#include "edgetune/model/model.h"
#include "edgetune/model/model_files.h"
#include "test_util.h"

using namespace et;
using et::test::golden;
using et::test::run_cli;

namespace {

// The first `n` conversations of the stories-tools training data.
std::string small_data(const std::string& dir, int n) {
  const std::string all = read_text_file(path_join(test::source_dir(), "data/stories-tools/train.jsonl"));
  size_t pos = 0;
  for (int i = 0; i < n && pos != std::string::npos; ++i) pos = all.find('\n', pos + 1);
  const std::string path = path_join(dir, "small.jsonl");
  write_file_atomic(path, all.substr(0, pos == std::string::npos ? all.size() : pos + 1));
  return path;
}

// Trains a short run on stories260K and returns the patch path.
std::string train_patch(const std::string& model, const std::string& dir) {
  const std::string recipe = path_join(dir, "recipe.yaml");
  write_file_atomic(recipe, "model:\n  path: " + model + "\n  device: cpu\nquant:\n  backbone: none\nadapters:\n  policy: all\n"
                            "  rank: 4\n  alpha: 8\ndata:\n  train: " + small_data(dir, 24) +
                            "\n  max_seq_len: 128\ntrain:\n  max_steps: 6\n  batch_size: 4\n  lr: 1.0e-2\n"
                            "  warmup_steps: 0\n  eval_every: 0\noutput:\n  dir: " + path_join(dir, "run") + "\n");
  auto r = run_cli({"train", recipe});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return path_join(dir, "run/patch.safetensors");
}

std::string greedy(const std::vector<std::string>& model_args, const std::string& prompt) {
  std::vector<std::string> args = {"generate"};
  args.insert(args.end(), model_args.begin(), model_args.end());
  for (const std::string& a : {std::string("--prompt"), prompt, std::string("--max-tokens"), std::string("24"),
                               std::string("--temperature"), std::string("0")})
    args.push_back(a);
  auto r = run_cli(args);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return r.out;
}

}  // namespace

TEST(QuantizeCli, WritesTheLibraryEtqAndItsModelMatchesQuantizeOnLoad) {
  for (const std::string& folder : {golden("llama"), golden("gemma3")}) {
    SCOPED_TRACE(folder);
    const std::string dir = test::temp_dir("cli-quantize");
    const std::string cli = path_join(dir, "cli.etq"), lib = path_join(dir, "lib.etq");
    auto r = run_cli({"quantize", folder, "-o", cli});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    model::quantize_to_etq(folder, lib);
    EXPECT_EQ(read_text_file(cli), read_text_file(lib)) << "the command writes what the library writes";
    model::LoadOptions q;
    q.quantize_nf4 = true;
    model::Model a = model::load_model(folder, q), b = model::load_model(cli, q);
    torch::Tensor ids = torch::arange(1, 25, torch::kLong).view({2, 12});
    torch::NoGradGuard g;
    EXPECT_TRUE(torch::equal(model::forward(a, ids), model::forward(b, ids)));
  }
  // A damaged .etq: every command that reads it fails naming the file.
  const std::string dir = test::temp_dir("cli-quantize-bad");
  const std::string good = path_join(dir, "good.etq");
  ASSERT_EQ(run_cli({"quantize", golden("llama"), "-o", good}).exit_code, 0);
  const std::string bytes = read_text_file(good);
  const std::string cut = path_join(dir, "cut.etq");
  write_file_atomic(cut, bytes.substr(0, bytes.size() / 2));
  std::string version = bytes;
  version[4] = 9;
  const std::string bad_version = path_join(dir, "version.etq");
  write_file_atomic(bad_version, version);
  for (const std::string& p : {cut, bad_version}) {
    SCOPED_TRACE(p);
    const std::string recipe = path_join(dir, "etq.yaml");
    write_file_atomic(recipe, "model:\n  path: " + p + "\ndata:\n  train: x.jsonl\n");
    for (const std::vector<std::string>& cmd :
         {std::vector<std::string>{"generate", "--model", p, "--prompt", "", "--max-tokens", "2"},
          std::vector<std::string>{"train", recipe}}) {
      auto r = run_cli(cmd);
      EXPECT_NE(r.exit_code, 0) << cmd[0];
      EXPECT_NE(r.err.find(p), std::string::npos) << cmd[0] << ": " << r.err;
    }
  }
}

TEST(ExportCli, PeftAndMergedFromATrainedPatch) {
  ET_REQUIRE_SHARED(model, "models/stories260K");
  const std::string dir = test::temp_dir("cli-export");
  const std::string patch = train_patch(model, dir);
  ASSERT_TRUE(file_exists(patch));
  Patch p = read_patch(patch);
  EXPECT_EQ(p.plan.count(AdapterKind::dedicated), 35);

  const std::string peft = path_join(dir, "peft");
  auto r = run_cli({"export", "--model", model, "--patch", patch, "--format", "peft", "-o", peft});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, "");
  auto cfg = nlohmann::json::parse(read_text_file(path_join(peft, "adapter_config.json")));
  EXPECT_EQ(cfg["r"], 4);
  EXPECT_EQ(cfg["base_model_name_or_path"], model);
  SafetensorsFile f(path_join(peft, "adapter_model.safetensors"));
  EXPECT_EQ(f.tensors().size(), 70u);
  // The exported B of a module is the patch's B (a trained, non-zero matrix).
  const std::string m = "model.layers.4.mlp.down_proj";
  std::vector<float> b = f.read_f32("base_model.model." + m + ".lora_B.weight");
  for (const auto& kv : p.tensors) {
    if (kv.first != m + ".lora_B") continue;
    ASSERT_EQ(static_cast<int64_t>(b.size()), kv.second.numel());
    auto t = kv.second.contiguous();
    EXPECT_EQ(std::memcmp(b.data(), t.data_ptr<float>(), b.size() * 4), 0);
    EXPECT_GT(t.abs().max().item<double>(), 0);
  }

  const std::string merged = path_join(dir, "merged");
  r = run_cli({"export", "--model", model, "--patch", patch, "--format", "merged", "-o", merged});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const std::string prompt : {"", "Anna wants to go to the school."}) {
    const std::string patched = greedy({"--model", model, "--patch", patch}, prompt);
    EXPECT_EQ(greedy({"--model", merged}, prompt), patched) << "prompt '" << prompt << "'";
  }
  // Chat generation with the patch renders the plain template and answers.
  r = run_cli({"generate", "--model", model, "--patch", patch, "--chat", "--prompt", "Tom wants to eat a cake.",
               "--max-tokens", "16", "--temperature", "0"});
  EXPECT_EQ(r.exit_code, 0) << r.err;

  // Bad arguments.
  r = run_cli({"export", "--model", model, "--patch", patch, "--format", "onnx", "-o", path_join(dir, "x")});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("onnx"), std::string::npos) << r.err;
  r = run_cli({"export", "--model", model, "--patch", path_join(dir, "absent.safetensors"), "--format", "peft", "-o",
               path_join(dir, "y")});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("absent.safetensors"), std::string::npos) << r.err;
  // A model file as the patch: not an edgetune patch.
  r = run_cli({"export", "--model", model, "--patch", path_join(model, "model.safetensors"), "--format", "peft",
               "-o", path_join(dir, "z")});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("model.safetensors"), std::string::npos) << r.err;
}

TEST(ExportCli, PatchOnAnotherBaseIsRefusedNamingTheMatrixUnlessForced) {
  ET_REQUIRE_SHARED(model, "models/stories260K");
  const std::string dir = test::temp_dir("cli-wrong-base");
  const std::string patch = train_patch(model, dir);
  // Another release of the base: one adapted matrix changed.
  const std::string other = test::temp_dir("cli-wrong-base-model");
  for (const char* f : {"config.json", "generation_config.json", "tokenizer.model", "tokenizer.json",
                        "tokenizer_config.json"})
    if (file_exists(path_join(model, f))) write_file_atomic(path_join(other, f), read_text_file(path_join(model, f)));
  {
    SafetensorsFile f(path_join(model, "model.safetensors"));
    std::vector<std::vector<float>> keep;
    std::vector<TensorToWrite> t;
    for (const auto& info : f.tensors()) {
      keep.push_back(f.read_f32(info.name));
      if (info.name == "model.layers.2.self_attn.v_proj.weight")
        for (float& x : keep.back()) x += 1e-3f;
      t.push_back({info.name, DType::f32, info.shape, keep.back().data(), keep.back().size() * 4});
    }
    write_safetensors(path_join(other, "model.safetensors"), t);
  }
  const std::vector<std::vector<std::string>> cmds = {
      {"export", "--model", other, "--patch", patch, "--format", "peft", "-o", path_join(dir, "p")},
      {"export", "--model", other, "--patch", patch, "--format", "merged", "-o", path_join(dir, "m")},
      {"generate", "--model", other, "--patch", patch, "--prompt", "Hi", "--max-tokens", "3", "--temperature", "0"}};
  for (const auto& cmd : cmds) {
    SCOPED_TRACE(cmd[0] + " " + cmd[cmd.size() - 3]);
    auto r = run_cli(cmd);
    EXPECT_NE(r.exit_code, 0);
    EXPECT_NE(r.err.find("model.layers.2.self_attn.v_proj"), std::string::npos) << r.err;
    std::vector<std::string> forced = cmd;
    forced.push_back("--force");
    r = run_cli(forced);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.err.find("model.layers.2.self_attn.v_proj"), std::string::npos) << "warns: " << r.err;
  }
  // A model of another size: refused too (golden llama has 3 layers, the patch adapts 5).
  auto r = run_cli({"export", "--model", golden("llama"), "--patch", patch, "--format", "peft", "-o",
                    path_join(dir, "q")});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find("model.layers.3."), std::string::npos) << r.err;
}
