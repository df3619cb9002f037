// The quantized backbone: quantize_to_etq stores exactly what quantize-on-load computes (every NF4
// buffer, every dense tensor's bytes, the side files), a model loaded from the .etq gives exactly
// the logits of the folder loaded with quantize_nf4, and QLoRA (an adapter on a frozen NF4 weight,
// dequantized just in time) equals LoRA on a dense model holding the dequantized values: same
// logits, same adapter gradients.
#include <ATen/CPUGeneratorImpl.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <map>

#include "edgetune/model/forward.h"
#include "edgetune/model/model.h"
#include "edgetune/model/model_files.h"
#include "edgetune/quant/etq_file.h"
#include "edgetune/quant/nf4.h"
#include "model_test_util.h"

using namespace et;
using namespace et::model;
using namespace et::test;

namespace {

bool same_bytes(const torch::Tensor& a, const torch::Tensor& b) {
  if (a.scalar_type() != b.scalar_type() || a.sizes() != b.sizes()) return false;
  auto x = a.contiguous().cpu(), y = b.contiguous().cpu();
  return std::memcmp(x.data_ptr(), y.data_ptr(), static_cast<size_t>(x.nbytes())) == 0;
}

bool is_projection_name(const std::string& n) {
  for (const char* k : {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"})
    if (n.find(std::string(".") + k + ".weight") != std::string::npos) return true;
  return false;
}

// Model folders to check: every golden family, and the real stories260K when ../shared has it.
std::vector<std::string> model_folders() {
  std::vector<std::string> out;
  for (const auto& f : golden_families()) out.push_back(golden_dir(f));
  const std::string s = shared_path("models/stories260K");
  if (!s.empty()) out.push_back(s);
  return out;
}

torch::Tensor sample_ids(const Model& m, int64_t rows, int64_t len, uint64_t seed) {
  auto gen = at::detail::createCPUGenerator(seed);
  return at::randint(1, m.config.vocab_size, {rows, len}, gen, at::TensorOptions().dtype(at::kLong));
}

}  // namespace

TEST(QuantizeToEtq, StoresExactlyWhatQuantizeOnLoadComputes) {
  for (const std::string& folder : model_folders()) {
    SCOPED_TRACE(folder);
    const std::string out = path_join(temp_dir("qlora-etq"), "model.etq");
    QuantizeReport rep = quantize_to_etq(folder, out);
    quant::EtqContents etq = quant::read_etq(out);
    SafetensorsSet files(folder);
    int64_t projections = 0;
    for (const std::string& name : files.names()) {
      SCOPED_TRACE(name);
      const TensorInfo& t = files.get(name);
      if (is_projection_name(name)) {
        ++projections;
        ASSERT_TRUE(etq.nf4.count(name)) << "projection not quantized";
        EXPECT_FALSE(etq.file->has(name)) << "projection also stored dense";
        // The reference: nf4_quantize of the folder's float32 values.
        std::vector<float> v = files.read_f32(name);
        quant::Nf4Weight want = quant::nf4_quantize(torch::from_blob(v.data(), t.shape, torch::kFloat32), name);
        const quant::Nf4Weight& got = etq.nf4.at(name);
        EXPECT_EQ(got.shape, want.shape);
        EXPECT_TRUE(same_bytes(got.packed, want.packed));
        EXPECT_TRUE(same_bytes(got.absmax_q, want.absmax_q));
        EXPECT_TRUE(same_bytes(got.absmax2, want.absmax2));
        EXPECT_TRUE(same_bytes(got.code8, want.code8));
        EXPECT_EQ(std::memcmp(&got.offset, &want.offset, 4), 0);
      } else {
        ASSERT_TRUE(etq.file->has(name)) << "dense tensor missing";
        const TensorInfo& e = etq.file->get(name);
        EXPECT_EQ(e.dtype, t.dtype);
        EXPECT_EQ(e.shape, t.shape);
        ASSERT_EQ(e.end - e.begin, t.end - t.begin);
        EXPECT_EQ(std::memcmp(etq.file->data(e), files.file_of(name).data(t), t.end - t.begin), 0);
      }
    }
    EXPECT_EQ(rep.quantized_matrices, projections);
    EXPECT_EQ(static_cast<int64_t>(etq.nf4.size()), projections);
    for (const char* side : {"config.json", "tokenizer.json", "tokenizer.model", "tokenizer_config.json",
                             "generation_config.json"}) {
      const std::string p = path_join(folder, side);
      if (!file_exists(p)) {
        EXPECT_FALSE(etq.side_files.count(side)) << side;
        continue;
      }
      ASSERT_TRUE(etq.side_files.count(side)) << side;
      EXPECT_EQ(etq.side_files.at(side), read_text_file(p)) << side;
    }
    // The embedded files come back as a folder (in a cache under a temp dir here).
    setenv("XDG_CACHE_HOME", temp_dir("qlora-cache").c_str(), 1);
    const std::string files_dir = model_files_folder(out);
    EXPECT_EQ(read_text_file(path_join(files_dir, "config.json")), read_text_file(path_join(folder, "config.json")));
    EXPECT_EQ(model_files_folder(folder), folder);
  }
}

TEST(QuantizeToEtq, LoadedEtqGivesExactlyTheLogitsOfQuantizeOnLoad) {
  for (const std::string& folder : model_folders()) {
    SCOPED_TRACE(folder);
    const std::string out = path_join(temp_dir("qlora-etq-load"), "model.etq");
    quantize_to_etq(folder, out);
    LoadOptions q;
    q.quantize_nf4 = true;
    Model from_folder = load_model(folder, q);
    Model from_etq = load_model(out, q);
    for (const Linear* lin : linear_layers(from_etq)) {
      ASSERT_TRUE(lin->nf4) << lin->name;
      EXPECT_FALSE(lin->weight.defined()) << lin->name << " holds a dense copy";
    }
    torch::Tensor ids = sample_ids(from_folder, 2, 17, 3);
    torch::NoGradGuard ng;
    torch::Tensor a = forward(from_folder, ids), b = forward(from_etq, ids);
    EXPECT_TRUE(torch::equal(a, b)) << "max diff " << max_abs_diff(a, b);
    // Without quantize_nf4 the .etq's projections are dequantized into dense weights: the same
    // values, so the same logits up to the order of float32 sums.
    Model dense = load_model(out);
    for (const Linear* lin : linear_layers(dense)) ASSERT_TRUE(lin->weight.defined() && !lin->nf4) << lin->name;
    EXPECT_LT(max_abs_diff(forward(dense, ids), a), 1e-5);
  }
}

// QLoRA vs LoRA: adapters (random A and non-zero B, on every projection) as plain hooks on two
// models: one with NF4 weights, one whose dense weights are the dequantized NF4 values.
TEST(Qlora, EqualsLoraOverDequantizedWeights) {
  for (const std::string& folder : model_folders()) {
    SCOPED_TRACE(folder);
    LoadOptions q;
    q.quantize_nf4 = true;
    Model qm = load_model(folder, q);
    Model dm = load_model(folder);
    auto qlins = linear_layers(qm);
    auto dlins = linear_layers(dm);
    ASSERT_EQ(qlins.size(), dlins.size());
    torch::manual_seed(11);
    struct Pair {
      torch::Tensor A, B;
    };
    std::map<std::string, Pair> qa, da;
    const int64_t r = 4;
    const double s = 2.0;
    for (size_t i = 0; i < qlins.size(); ++i) {
      Linear& ql = *qlins[i];
      Linear& dl = *dlins[i];
      ASSERT_EQ(ql.name, dl.name);
      ASSERT_TRUE(ql.nf4);
      dl.weight = quant::nf4_dequantize(*ql.nf4, torch::kFloat32, torch::kCPU);
      auto A = torch::randn({r, ql.in_features}) * 0.3;
      auto B = torch::randn({ql.out_features, r}) * 0.3;
      qa[ql.name] = {A.clone().requires_grad_(true), B.clone().requires_grad_(true)};
      da[dl.name] = {A.clone().requires_grad_(true), B.clone().requires_grad_(true)};
      Pair pq = qa[ql.name], pd = da[dl.name];
      ql.adapter = [pq, s](const torch::Tensor& x, const torch::Tensor& y) {
        return y + at::matmul(at::matmul(x, pq.A.t()), pq.B.t()) * s;
      };
      dl.adapter = [pd, s](const torch::Tensor& x, const torch::Tensor& y) {
        return y + at::matmul(at::matmul(x, pd.A.t()), pd.B.t()) * s;
      };
    }
    torch::Tensor ids = sample_ids(qm, 2, 13, 5);
    torch::Tensor lq = forward(qm, ids), ld = forward(dm, ids);
    const double scale = ld.abs().max().item<double>();
    EXPECT_LT(max_abs_diff(lq, ld), 1e-5 * std::max(1.0, scale));
    // A loss that touches every logit with a different weight.
    torch::Tensor w = torch::randn(lq.sizes());
    (lq * w).sum().backward();
    (ld * w).sum().backward();
    for (const auto& kv : qa) {
      const Pair& a = kv.second;
      const Pair& b = da.at(kv.first);
      ASSERT_TRUE(a.A.grad().defined() && a.B.grad().defined()) << kv.first;
      for (auto [ga, gb] : {std::pair{a.A.grad(), b.A.grad()}, std::pair{a.B.grad(), b.B.grad()}}) {
        const double ref = gb.abs().max().item<double>();
        EXPECT_GT(ref, 0) << kv.first;
        EXPECT_LT(max_abs_diff(ga, gb), 1e-4 * std::max(1e-3, ref)) << kv.first;
      }
    }
  }
}
