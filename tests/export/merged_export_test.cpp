// The merged model: export_merged -> load_model of the merged folder gives the logits of the base
// with the adapters attached (fp32, tight tolerance, trained non-zero adapters of every kind);
// adapted tensors are W + s*B*A by hand, all others are the base's bytes, side files are copied; a
// bfloat16 base is merged in float32 and rounded once.
#include <gtest/gtest.h>

#include <cstring>

#include "edgetune/core/dtype.h"
#include "edgetune/core/safetensors.h"
#include "edgetune/export/merged_export.h"
#include "edgetune/model/forward.h"
#include "export_test_util.h"

using namespace et;
using namespace et::test;

namespace {

std::vector<std::string> folders() {
  std::vector<std::string> out = {golden("llama"), golden("qwen2"), golden("qwen3"), golden("gemma3")};
  const std::string s = shared_path("models/stories260K");
  if (!s.empty()) out.push_back(s);
  return out;
}

}  // namespace

TEST(MergedExport, MergedModelEqualsAdapterForward) {
  for (const auto& folder : folders()) {
    for (bool rslora : {false, true}) {
      SCOPED_TRACE(folder + (rslora ? " rslora" : ""));
      model::Model m = model::load_model(folder);
      AdapterSet a = create_adapters(mixed_plan(m, rslora), 3, torch::kCPU);
      randomize(a, 17);
      attach_adapters(m, a);
      torch::Tensor ids = sample_ids(m, 2, 16, 1);
      torch::NoGradGuard g;
      torch::Tensor want = model::forward(m, ids);
      const std::string out = temp_dir("merged");
      export_merged(a, folder, out);
      model::Model merged = model::load_model(out);
      torch::Tensor got = model::forward(merged, ids);
      const double err = max_abs_diff(got, want);
      std::printf("[ merged ] %s%s: max |logits merged - adapter| = %.3g (max |logit| %.3g)\n", folder.c_str(),
                  rslora ? " rslora" : "", err, want.abs().max().item<double>());
      // The same sums in another order: float32 rounding, relative to the logits' size.
      EXPECT_LT(err, 1e-5 * std::max(1.0, want.abs().max().item<double>()));
      detach_adapters(m);
      EXPECT_GT(max_abs_diff(model::forward(m, ids), want), 1e-3) << "the adapters must change the output";

      // Tensor by tensor against the base file.
      SafetensorsSet base(folder), mf(out);
      EXPECT_EQ(mf.names(), base.names());
      std::map<std::string, const PlanEntry*> adapted;
      for (const auto& e : a.plan.entries)
        if (e.kind != AdapterKind::none) adapted[e.module + ".weight"] = &e;
      for (const auto& name : base.names()) {
        const TensorInfo& bt = base.get(name);
        const TensorInfo& mt = mf.get(name);
        EXPECT_EQ(mt.dtype, bt.dtype) << name;
        EXPECT_EQ(mt.shape, bt.shape) << name;
        auto it = adapted.find(name);
        if (it == adapted.end()) {
          ASSERT_EQ(mt.end - mt.begin, bt.end - bt.begin) << name;
          EXPECT_EQ(std::memcmp(mf.file_of(name).data(mt), base.file_of(name).data(bt), bt.end - bt.begin), 0) << name;
          continue;
        }
        // W + s * B A with B, A the per-module (effective) pair, written out by hand.
        LoraPair p = a.effective(it->second->module);
        const double s = rslora ? it->second->alpha / std::sqrt(static_cast<double>(it->second->rank))
                                : it->second->alpha / it->second->rank;
        std::vector<float> w = base.read_f32(name), mw = mf.read_f32(name);
        torch::Tensor W = torch::from_blob(w.data(), bt.shape, torch::kFloat32).to(torch::kFloat64);
        torch::Tensor M = torch::from_blob(mw.data(), bt.shape, torch::kFloat32).to(torch::kFloat64);
        torch::Tensor hand = W + s * at::matmul(p.B.detach().to(torch::kFloat64), p.A.detach().to(torch::kFloat64));
        EXPECT_LT(max_abs_diff(M, hand), 1e-5) << name;
      }
      for (const char* side : {"config.json", "tokenizer.json", "tokenizer.model", "tokenizer_config.json"}) {
        const std::string p = path_join(folder, side);
        EXPECT_EQ(file_exists(path_join(out, side)), file_exists(p)) << side;
        if (file_exists(p)) {
          EXPECT_EQ(read_text_file(path_join(out, side)), read_text_file(p)) << side;
        }
      }
    }
  }
}

TEST(MergedExport, Bfloat16BaseIsMergedInFloat32AndRoundedOnce) {
  // A bf16 copy of the golden Llama.
  const std::string src = golden("llama");
  const std::string dir = temp_dir("merged-bf16");
  write_file_atomic(path_join(dir, "config.json"), read_text_file(path_join(src, "config.json")));
  SafetensorsSet files(src);
  std::vector<std::vector<uint16_t>> bufs;
  std::vector<TensorToWrite> t;
  for (const auto& name : files.names()) {
    std::vector<float> v = files.read_f32(name);
    std::vector<uint16_t> b(v.size());
    for (size_t i = 0; i < v.size(); ++i) b[i] = f32_to_bf16(v[i]);
    bufs.push_back(std::move(b));
    t.push_back({name, DType::bf16, files.get(name).shape, bufs.back().data(), bufs.back().size() * 2});
  }
  write_safetensors(path_join(dir, "model.safetensors"), t);

  model::Model m = model::load_model(dir);
  AdapterSet a = create_adapters(mixed_plan(m), 3, torch::kCPU);
  randomize(a, 5);
  const std::string out = temp_dir("merged-bf16-out");
  export_merged(a, dir, out);
  SafetensorsSet base(dir), mf(out);
  const std::string name = "model.layers.1.self_attn.q_proj.weight";  // shared q
  const TensorInfo& mt = mf.get(name);
  ASSERT_EQ(mt.dtype, DType::bf16);
  std::vector<float> w = base.read_f32(name);
  torch::Tensor dw = a.delta_weight("model.layers.1.self_attn.q_proj").contiguous();
  const uint16_t* got = reinterpret_cast<const uint16_t*>(mf.file_of(name).data(mt));
  const float* d = dw.data_ptr<float>();
  int64_t mismatches = 0;
  for (size_t i = 0; i < w.size(); ++i) mismatches += got[i] != f32_to_bf16(w[i] + d[i]);
  EXPECT_EQ(mismatches, 0);
}

TEST(MergedExport, PatchForAnotherModelIsRefused) {
  model::Model llama = model::load_model(golden("llama"));
  AdapterSet a = create_adapters(mixed_plan(llama), 0, torch::kCPU);
  // qwen2 has 2 layers: layer 2's matrices do not exist there.
  try {
    export_merged(a, golden("qwen2"), temp_dir("merged-wrong"));
    FAIL() << "merged a patch into a model without its matrices";
  } catch (const et::Error& e) {
    EXPECT_NE(std::string(e.what()).find("model.layers.2."), std::string::npos) << e.what();
  }
  // gemma3's q_proj is 64 x 32, the Llama patch's 32 x 32.
  try {
    export_merged(a, golden("gemma3"), temp_dir("merged-shape"));
    FAIL() << "merged a patch into matrices of another shape";
  } catch (const et::Error& e) {
    EXPECT_NE(std::string(e.what()).find("q_proj"), std::string::npos) << e.what();
  }
}
