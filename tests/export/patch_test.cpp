// The native patch: what make_patch + write_patch store reads back bit for bit (plan, recipe, base
// fingerprints, every adapter tensor) and gives the same forward; damaged patches are refused
// naming the file and the tensor; a patch on another base is refused naming the matrix that
// differs, unless forced.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <unistd.h>

#include <cstring>

#include "edgetune/core/safetensors.h"
#include "edgetune/export/patch.h"
#include "edgetune/model/forward.h"
#include "export_test_util.h"

using namespace et;
using namespace et::test;

namespace {

// Rewrites model.safetensors of `folder` with `name` scaled by `factor`.
void alter_tensor(const std::string& folder, const std::string& name, float factor) {
  const std::string path = path_join(folder, "model.safetensors");
  std::vector<std::vector<float>> keep;
  std::vector<TensorToWrite> t;
  {
    SafetensorsFile f(path);
    for (const auto& info : f.tensors()) {
      keep.push_back(f.read_f32(info.name));
      if (info.name == name)
        for (float& x : keep.back()) x *= factor;
      t.push_back({info.name, DType::f32, info.shape, keep.back().data(), keep.back().size() * 4});
    }
  }
  write_safetensors(path, t);
}

}  // namespace

TEST(Patch, RoundTripIsExactAndGivesTheSameForward) {
  const std::string base = golden("qwen2");
  model::Model m = model::load_model(base);
  AdapterSet a = create_adapters(mixed_plan(m), 4, torch::kCPU);
  randomize(a, 6);
  const std::string path = path_join(temp_dir("patch"), "patch.safetensors");
  write_patch(path, make_patch(a, base, "train:\n  lr: 0.001\n"));
  Patch p = read_patch(path);
  EXPECT_EQ(p.plan.to_json(), a.plan.to_json());
  EXPECT_EQ(p.recipe_yaml, "train:\n  lr: 0.001\n");
  EXPECT_EQ(p.base_path, base);
  EXPECT_EQ(p.base_config, read_text_file(path_join(base, "config.json")));
  auto want = a.named_parameters();
  ASSERT_EQ(p.tensors.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(p.tensors[i].first, want[i].first);
    EXPECT_TRUE(torch::equal(p.tensors[i].second, want[i].second.detach())) << want[i].first;
  }
  // One fingerprint per adapted matrix, with the stored bytes' norm.
  SafetensorsSet files(base);
  size_t adapted = 0;
  for (const auto& e : a.plan.entries) adapted += e.kind != AdapterKind::none;
  ASSERT_EQ(p.fingerprints.size(), adapted);
  for (const auto& fp : p.fingerprints) {
    std::vector<float> v = files.read_f32(fp.module + ".weight");
    double sq = 0;
    for (float x : v) sq += static_cast<double>(x) * x;
    EXPECT_NEAR(fp.norm, std::sqrt(sq), 1e-9 * std::sqrt(sq)) << fp.module;
    EXPECT_EQ(fp.dtype, "F32");
    EXPECT_EQ(fp.shape, files.get(fp.module + ".weight").shape);
  }
  AdapterSet back = adapters_from_patch(p, torch::kCPU);
  for (const auto& kv : back.named_parameters()) EXPECT_FALSE(kv.second.requires_grad()) << kv.first;
  torch::Tensor ids = sample_ids(m, 2, 8, 2);
  torch::NoGradGuard g;
  attach_adapters(m, a);
  torch::Tensor x = model::forward(m, ids);
  attach_adapters(m, back);
  EXPECT_TRUE(torch::equal(model::forward(m, ids), x));
  check_patch_base(p, base, false);  // the right base passes
}

TEST(Patch, DamagedPatchesNameFileAndTensor) {
  const std::string base = golden("llama");
  model::Model m = model::load_model(base);
  AdapterSet a = create_adapters(mixed_plan(m), 4, torch::kCPU);
  const std::string dir = temp_dir("patch-bad");
  const std::string good = path_join(dir, "good.safetensors");
  write_patch(good, make_patch(a, base, ""));
  SafetensorsFile f(good);
  auto rewrite = [&](const std::string& out, const std::string& drop, const std::string& reshape,
                     std::map<std::string, std::string> md) {
    std::vector<TensorToWrite> t;
    std::vector<std::vector<float>> keep;
    for (const auto& info : f.tensors()) {
      if (info.name == drop) continue;
      keep.push_back(f.read_f32(info.name));
      std::vector<int64_t> shape = info.shape;
      if (info.name == reshape) {
        keep.back().resize(keep.back().size() / static_cast<size_t>(shape[0]));
        shape[0] = 1;
      }
      t.push_back({info.name, DType::f32, shape, keep.back().data(), keep.back().size() * 4});
    }
    // As a patch written before checksums: the structure checks below are what refuse it.
    for (const auto& kv : f.metadata())
      if (!md.count(kv.first) && kv.first != "checksums") md[kv.first] = kv.second;
    write_safetensors(out, t, md);
  };
  const std::string tensor = "model.layers.1.self_attn.v_proj.lora_B";
  const std::string missing = path_join(dir, "missing.safetensors");
  rewrite(missing, tensor, "", {});
  std::string e = error_of([&] { read_patch(missing); });
  EXPECT_NE(e.find(missing), std::string::npos) << e;
  EXPECT_NE(e.find("tensors"), std::string::npos) << e;

  const std::string shape = path_join(dir, "shape.safetensors");
  rewrite(shape, "", tensor, {});
  e = error_of([&] { read_patch(shape); });
  EXPECT_NE(e.find(shape), std::string::npos) << e;
  EXPECT_NE(e.find(tensor), std::string::npos) << e;

  const std::string format = path_join(dir, "format.safetensors");
  rewrite(format, "", "", {{"format", "pt"}});
  e = error_of([&] { read_patch(format); });
  EXPECT_NE(e.find(format), std::string::npos) << e;
  EXPECT_NE(e.find("not an edgetune patch"), std::string::npos) << e;

  const std::string plan = path_join(dir, "plan.safetensors");
  rewrite(plan, "", "", {{"plan", "{\"format\": \"edgetune-plan\""}});
  e = error_of([&] { read_patch(plan); });
  EXPECT_NE(e.find(plan), std::string::npos) << e;
  // A fingerprint hash that is not 1-16 hex digits (too long for 64 bits, or not hex).
  for (const std::string bad : {"1234567890abcdef01", "xyz", ""}) {
    nlohmann::json fps = nlohmann::json::parse(f.metadata().at("base_fingerprint"));
    ASSERT_FALSE(fps.empty());
    fps[0]["hash"] = bad;
    const std::string hash = path_join(dir, "hash.safetensors");
    rewrite(hash, "", "", {{"base_fingerprint", fps.dump()}});
    e = error_of([&] { read_patch(hash); });
    EXPECT_NE(e.find(hash), std::string::npos) << e;
    EXPECT_NE(e.find("hex digits"), std::string::npos) << e;
  }
}

TEST(Patch, AnotherBaseIsRefusedNamingTheMatrixUnlessForced) {
  const std::string base = copy_folder(golden("llama"), "patch-base");
  model::Model m = model::load_model(base);
  AdapterSet a = create_adapters(mixed_plan(m), 4, torch::kCPU);
  Patch p = make_patch(a, base, "");
  const std::string other = copy_folder(golden("llama"), "patch-other");
  check_patch_base(p, other, false);  // identical bytes: accepted
  // One adapted matrix differs: refused, naming it.
  alter_tensor(other, "model.layers.2.mlp.down_proj.weight", 1.001f);
  std::string e = error_of([&] { check_patch_base(p, other, false); });
  EXPECT_NE(e.find("model.layers.2.mlp.down_proj"), std::string::npos) << e;
  EXPECT_NE(e.find("--force"), std::string::npos) << e;
  EXPECT_EQ(error_of([&] { check_patch_base(p, other, true); }), "");
  // A matrix without an adapter may differ (nothing of the patch depends on it).
  const std::string third = copy_folder(golden("llama"), "patch-third");
  alter_tensor(third, "model.layers.0.self_attn.v_proj.weight", 2.0f);
  check_patch_base(p, third, false);
  // A model of another family (qwen2, two layers): its layer 2 matrices do not exist.
  e = error_of([&] { check_patch_base(p, golden("qwen2"), false); });
  EXPECT_NE(e.find("model.layers.2."), std::string::npos) << e;
}

// The patch names its base by an absolute path, whatever the current folder was when it was made.
TEST(Patch, BasePathIsAbsolute) {
  const std::string base = golden("qwen2");
  model::Model m = model::load_model(base);
  AdapterSet a = create_adapters(mixed_plan(m), 4, torch::kCPU);
  char cwd[4096];
  ASSERT_NE(::getcwd(cwd, sizeof cwd), nullptr);
  ASSERT_EQ(::chdir(parent_path(base).c_str()), 0);
  Patch p = make_patch(a, "qwen2", "");
  ASSERT_EQ(::chdir(cwd), 0);
  EXPECT_EQ(p.base_path, base);
}

// A patch carries a checksum per tensor: one flipped bit in a tensor is refused naming it (a finite
// value stays finite, so nothing else would tell); a patch without checksums (written before them)
// loads as before.
TEST(Patch, ChecksumsCatchAFlippedBitAndOldPatchesStillLoad) {
  const std::string base = golden("llama");
  model::Model m = model::load_model(base);
  AdapterSet a = create_adapters(mixed_plan(m), 4, torch::kCPU);
  randomize(a, 2);
  const std::string dir = temp_dir("patch-sums");
  const std::string good = path_join(dir, "good.safetensors");
  write_patch(good, make_patch(a, base, ""));
  std::string bytes = read_text_file(good);
  bytes[bytes.size() - 4] = static_cast<char>(bytes[bytes.size() - 4] ^ 1);  // the last float's lowest bit
  const std::string flipped = path_join(dir, "flipped.safetensors");
  write_file_atomic(flipped, bytes);
  const std::string e = error_of([&] { read_patch(flipped); });
  EXPECT_NE(e.find(flipped), std::string::npos) << e;
  EXPECT_NE(e.find("fails its checksum"), std::string::npos) << e;

  std::vector<std::vector<float>> keep;
  std::vector<TensorToWrite> t;
  std::map<std::string, std::string> md;
  {
    SafetensorsFile f(good);
    md = f.metadata();
    for (const auto& info : f.tensors()) {
      keep.push_back(f.read_f32(info.name));
      t.push_back({info.name, DType::f32, info.shape, keep.back().data(), keep.back().size() * 4});
    }
  }
  ASSERT_EQ(md.erase("checksums"), 1u);
  const std::string old = path_join(dir, "old.safetensors");
  write_safetensors(old, t, md);
  Patch p = read_patch(old);
  Patch q = read_patch(good);
  ASSERT_EQ(p.tensors.size(), q.tensors.size());
  for (size_t i = 0; i < p.tensors.size(); ++i) EXPECT_TRUE(torch::equal(p.tensors[i].second, q.tensors[i].second));
}
