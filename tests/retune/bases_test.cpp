// What ReTune accepts as bases: two bases of another architecture are refused naming the tensor;
// a base-old that is not the patch's base is refused naming the matrix (--force warns and goes on);
// .etq bases are compared on their dequantized NF4 weights.
#include <gtest/gtest.h>

#include "edgetune/model/model_files.h"
#include "edgetune/quant/etq_file.h"
#include "edgetune/quant/nf4.h"
#include "edgetune/retune/base_weights.h"
#include "edgetune/retune/drift.h"
#include "retune_test_util.h"

using namespace et;
using namespace et::test;

namespace {

std::string plain_copy(const std::string& src, const std::string& tag) {
  return noisy_copy(src, tag, 0.0, [](const std::string&) { return false; });
}

}  // namespace

TEST(RetuneBases, AnotherArchitectureIsRefusedNamingTheTensor) {
  const std::string a = plain_copy(golden("llama"), "retune-arch-a");
  model::Model m = model::load_model(a);
  const std::string patch = path_join(temp_dir("retune-arch"), "patch.safetensors");
  write_random_patch(a, mixed_plan(m), patch, 2);
  // Qwen2's golden model: other sizes and biases.
  std::string e = error_of([&] { drift_report(patch, a, golden("qwen2"), {}); });
  EXPECT_NE(e.find("tensor '"), std::string::npos) << e;
  EXPECT_NE(e.find("different architectures"), std::string::npos) << e;
  EXPECT_NE(e.find(golden("qwen2")), std::string::npos) << e;
  // check_same_architecture on its own names the tensor too.
  BaseWeights wa(a), wq(golden("qwen2"));
  e = error_of([&] { check_same_architecture(wa, wq); });
  EXPECT_NE(e.find("tensor '"), std::string::npos) << e;
  // A folder whose tensor does not match its own config.json is refused when opened.
  const std::string broken = plain_copy(a, "retune-arch-broken");
  std::string cfg = read_text_file(path_join(broken, "config.json"));
  cfg.replace(cfg.find("\"intermediate_size\": 64"), 23, "\"intermediate_size\": 96");
  write_file_atomic(path_join(broken, "config.json"), cfg);
  e = error_of([&] { BaseWeights w(broken); });
  EXPECT_NE(e.find("model.layers.0.mlp.gate_proj.weight"), std::string::npos) << e;
  EXPECT_NE(e.find(broken), std::string::npos) << e;
}

TEST(RetuneBases, BaseOldMustBeThePatchsBaseUnlessForced) {
  const std::string a = plain_copy(golden("llama"), "retune-fp-a");
  model::Model m = model::load_model(a);
  const std::string patch = path_join(temp_dir("retune-fp"), "patch.safetensors");
  write_random_patch(a, mixed_plan(m), patch, 2);
  const std::string other = noisy_copy(a, "retune-fp-other", 1e-3, [](const std::string& n) {
    return n == "model.layers.1.mlp.down_proj.weight";
  });
  const std::string e = error_of([&] { drift_report(patch, other, a, {}); });
  EXPECT_NE(e.find("model.layers.1.mlp.down_proj"), std::string::npos) << e;
  EXPECT_NE(e.find("--force"), std::string::npos) << e;
  RetuneOptions forced;
  forced.force = true;
  const DriftReport r = drift_report(patch, other, a, forced);
  EXPECT_FALSE(r.old_fingerprint_matches);
  EXPECT_GT(r.mu_D, 0.0);
  EXPECT_TRUE(drift_report(patch, a, other, {}).old_fingerprint_matches);
}

TEST(RetuneBases, EtqBasesDriftByTheirDequantizedWeights) {
  const std::string a = plain_copy(golden("llama"), "retune-etq-a");
  model::Model m = model::load_model(a);
  const std::string dir = temp_dir("retune-etq");
  const std::string patch = path_join(dir, "patch.safetensors");
  const Patch p = write_random_patch(a, mixed_plan(m), patch, 3);
  const std::string b = noisy_copy(a, "retune-etq-b", 2e-3, is_projection, 4);
  const std::string qa = path_join(dir, "a.etq"), qb = path_join(dir, "b.etq");
  model::quantize_to_etq(a, qa);
  model::quantize_to_etq(b, qb);
  // The .etq of the patch's base carries its source's fingerprints: accepted as base-old.
  const DriftReport same = drift_report(patch, qa, qa, {});
  EXPECT_EQ(same.decision, RetuneDecision::reuse);
  EXPECT_EQ(same.mu_D, 0.0);
  EXPECT_NE(same.old_kind.find("NF4"), std::string::npos) << same.old_kind;
  const DriftReport r = drift_report(patch, qa, qb, {});
  // Reference: the dense weights of the models load_model dequantizes from the two files.
  const quant::EtqContents ea = quant::read_etq(qa), eb = quant::read_etq(qb);
  std::vector<torch::Tensor> y;
  size_t row = 0;
  for (const auto& e : p.plan.entries) {
    if (e.kind == AdapterKind::none) continue;
    const std::string n = e.module + ".weight";
    const torch::Tensor wa = quant::nf4_dequantize(ea.nf4.at(n), torch::kFloat32, torch::kCPU).to(torch::kFloat64);
    const torch::Tensor wb = quant::nf4_dequantize(eb.nf4.at(n), torch::kFloat32, torch::kCPU).to(torch::kFloat64);
    const torch::Tensor d = (wb - wa).reshape({-1});
    y.push_back(d.square());
    EXPECT_NEAR(r.matrices[row].relative_drift, d.norm().item<double>() / wa.norm().item<double>(), 1e-9) << n;
    ++row;
  }
  const torch::Tensor Y = torch::cat(y);
  EXPECT_NEAR(r.mu_D, Y.mean().item<double>(), 1e-9 * r.mu_D);
  EXPECT_NEAR(r.sigma_D, Y.std(false).item<double>(), 1e-9 * r.sigma_D);
  // Differs from the dense drift (the quantization error of each release is in it).
  const DriftReport dense = drift_report(patch, a, b, {});
  EXPECT_NE(r.mu_D, dense.mu_D);
  EXPECT_EQ(r.mu_P, dense.mu_P);
}
