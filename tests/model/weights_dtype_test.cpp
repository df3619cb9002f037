// bf16 and f16 weight files load: each stored value converts to exactly the float torch gets
// for the same bits, and the logits stay within the rounding of the weights of transformers'
// fp32 golden logits. Also the bfloat16 compute dtype on the CPU.
#include <gtest/gtest.h>

#include "edgetune/model/forward.h"
#include "edgetune/model/model.h"
#include "model_test_util.h"

using namespace et::model;
using namespace et::test;

namespace {

// Writes a copy of the golden folder with every tensor converted by torch to `dt`.
std::string write_converted(const std::string& fam, torch::ScalarType dt, et::DType edt, const std::string& dst) {
  et::SafetensorsFile src(et::path_join(golden_dir(fam), "model.safetensors"));
  std::vector<torch::Tensor> keep;
  std::vector<et::TensorToWrite> w;
  for (const auto& t : src.tensors()) {
    auto f = src.read_f32(t.name);
    torch::Tensor c = torch::from_blob(f.data(), t.shape, torch::kFloat32).to(dt).contiguous();
    keep.push_back(c);
    w.push_back({t.name, edt, t.shape, c.data_ptr(), static_cast<size_t>(c.numel() * c.element_size())});
  }
  et::write_safetensors(et::path_join(dst, "model.safetensors"), w);
  et::write_file_atomic(et::path_join(dst, "config.json"),
                        et::read_text_file(et::path_join(golden_dir(fam), "config.json")));
  return dst;
}

// rel_tol bounds max |logit error| relative to max |logit|.
void check_half_file(const std::string& fam, torch::ScalarType dt, et::DType edt, double rel_tol) {
  ScopedDir dir(temp_dir("half"));
  write_converted(fam, dt, edt, dir.path);
  Model half = load_model(dir.path), full = load_model(golden_dir(fam));
  EXPECT_EQ(half.stored_dtype, et::dtype_name(edt));
  // Exact: the loaded fp32 weights are torch's rounding of the fp32 originals.
  auto lh = linear_layers(half), lf = linear_layers(full);
  for (size_t i = 0; i < lh.size(); ++i)
    ASSERT_TRUE(torch::equal(lh[i]->weight, lf[i]->weight.to(dt).to(torch::kFloat32))) << lh[i]->name;
  ASSERT_TRUE(torch::equal(half.embed_tokens, full.embed_tokens.to(dt).to(torch::kFloat32)));
  torch::NoGradGuard ng;
  torch::Tensor ids = read_golden(fam, "input_ids"), ref = read_golden(fam, "logits");
  const double err = max_abs_diff(forward(half, ids), ref);
  std::printf("[ half   ] %-7s %s weights: logits max abs err %.3g (max |logit| %.3g)\n", fam.c_str(),
              et::dtype_name(edt), err, ref.abs().max().item<double>());
  EXPECT_LT(err, rel_tol * ref.abs().max().item<double>());
  EXPECT_GT(err, 0);  // the rounding must show: the file really held 16-bit values
}

}  // namespace

// Tolerances, relative to the largest |logit|: bf16 keeps 8 significant bits (rounding <= 2^-9
// = 0.2% per weight), f16 11 bits (2^-12). Accumulated through 2-3 layers the measured logit
// error was 0.4-1.0% of max |logit| for bf16 weights and 0.05-0.12% for f16; the bounds are 3%
// and 0.4%.
TEST(WeightsDtype, Bf16FileLoads) {
  for (const auto& fam : golden_families()) {
    SCOPED_TRACE(fam);
    check_half_file(fam, torch::kBFloat16, et::DType::bf16, 0.03);
  }
}

TEST(WeightsDtype, F16FileLoads) {
  for (const auto& fam : golden_families()) {
    SCOPED_TRACE(fam);
    check_half_file(fam, torch::kFloat16, et::DType::f16, 0.004);
  }
}

TEST(WeightsDtype, Bf16ComputeOnCpu) {
  for (const auto& fam : golden_families()) {
    SCOPED_TRACE(fam);
    LoadOptions o;
    o.dtype = torch::kBFloat16;
    Model m = load_model(golden_dir(fam), o);
    EXPECT_EQ(m.embed_tokens.scalar_type(), torch::kBFloat16);
    torch::NoGradGuard ng;
    torch::Tensor ids = read_golden(fam, "input_ids"), ref = read_golden(fam, "logits");
    torch::Tensor logits = forward(m, ids);
    EXPECT_EQ(logits.scalar_type(), torch::kBFloat16);
    const double err = max_abs_diff(logits, ref);
    const double scale = ref.abs().max().item<double>();
    std::printf("[ bf16   ] %-7s bf16 compute on CPU: logits max abs err %.3g (%.2g%% of max |logit|)\n",
                fam.c_str(), err, 100 * err / scale);
    // bf16 activations as well as weights: measured 0.6-1.3% of max |logit|; bound 4%.
    EXPECT_LT(err, 0.04 * scale);
  }
}
