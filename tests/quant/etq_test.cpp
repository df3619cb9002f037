// The .etq container: what write_etq stores reads back bit for bit (every NF4 buffer, the dense
// tensors as raw bytes, the embedded files, the metadata), and damaged files (wrong magic, wrong
// version, truncated, corrupt header, NF4 buffers that disagree with their shape) fail with a
// message naming the file.
#include <gtest/gtest.h>

#include <cstring>
#include <random>

#include "edgetune/core/error.h"
#include "edgetune/core/file_io.h"
#include "edgetune/core/safetensors.h"
#include "edgetune/quant/etq_file.h"
#include "edgetune/quant/nf4.h"
#include "test_util.h"

using namespace et;
using et::test::error_of;
using namespace et::quant;

namespace {

bool same_bytes(const torch::Tensor& a, const torch::Tensor& b) {
  if (a.scalar_type() != b.scalar_type() || a.sizes() != b.sizes()) return false;
  auto x = a.contiguous(), y = b.contiguous();
  return std::memcmp(x.data_ptr(), y.data_ptr(), static_cast<size_t>(x.nbytes())) == 0;
}

std::vector<uint8_t> random_bytes(size_t n, uint32_t seed) {
  std::mt19937 gen(seed);
  std::vector<uint8_t> v(n);
  for (auto& b : v) b = static_cast<uint8_t>(gen() & 0xff);
  return v;
}

// One file with three NF4 weights (odd element count, several 256-blocks of absmax, a single
// partial block), dense tensors of three dtypes and side files with arbitrary bytes.
struct Fixture {
  std::string dir, path;
  std::vector<Nf4Weight> weights;
  std::vector<std::vector<uint8_t>> dense_bytes;
  std::vector<EtqDenseTensor> dense;
  std::map<std::string, std::string> side;

  Fixture() {
    dir = test::temp_dir("etq");
    path = path_join(dir, "model.etq");
    torch::manual_seed(7);
    weights.push_back(nf4_quantize(torch::randn({7, 9}), "model.layers.0.self_attn.q_proj.weight"));
    weights.push_back(nf4_quantize(torch::randn({96, 200}) * 0.05, "model.layers.0.mlp.up_proj.weight"));
    weights.push_back(nf4_quantize(torch::randn({3, 5}), "model.layers.1.mlp.down_proj.weight"));
    dense_bytes.push_back(random_bytes(11 * 4 * 4, 1));  // F32 [11, 4] (raw bits, NaNs included)
    dense_bytes.push_back(random_bytes(13 * 2, 2));      // BF16 [13]
    dense_bytes.push_back(random_bytes(2 * 3 * 2, 3));   // F16 [2, 3]
    dense.push_back({"model.embed_tokens.weight", DType::f32, {11, 4}, dense_bytes[0].data(), dense_bytes[0].size()});
    dense.push_back({"model.norm.weight", DType::bf16, {13}, dense_bytes[1].data(), dense_bytes[1].size()});
    dense.push_back({"model.layers.0.self_attn.q_proj.bias", DType::f16, {2, 3}, dense_bytes[2].data(),
                     dense_bytes[2].size()});
    side["config.json"] = "{\"model_type\": \"llama\"}\n";
    side["tokenizer.model"] = std::string("\x00\x01\xff binary\n\x00", 12);
    std::vector<const Nf4Weight*> q;
    for (const auto& w : weights) q.push_back(&w);
    write_etq(path, dense, q, side, "/some/source/folder");
  }
};

void write_bytes(const std::string& path, const std::string& bytes) { write_file_atomic(path, bytes); }

}  // namespace

TEST(EtqFile, RoundTripIsBitIdentical) {
  Fixture fx;
  ASSERT_TRUE(is_etq_file(fx.path));
  EtqContents c = read_etq(fx.path);
  EXPECT_EQ(c.metadata.at("format"), "edgetune-etq");
  EXPECT_EQ(c.metadata.at("source"), "/some/source/folder");
  ASSERT_EQ(c.nf4.size(), fx.weights.size());
  for (const auto& w : fx.weights) {
    SCOPED_TRACE(w.name);
    ASSERT_TRUE(c.nf4.count(w.name));
    const Nf4Weight& r = c.nf4.at(w.name);
    EXPECT_EQ(r.name, w.name);
    EXPECT_EQ(r.shape, w.shape);
    EXPECT_EQ(r.numel, w.numel);
    EXPECT_TRUE(same_bytes(r.packed, w.packed));
    EXPECT_TRUE(same_bytes(r.absmax_q, w.absmax_q));
    EXPECT_TRUE(same_bytes(r.absmax2, w.absmax2));
    EXPECT_TRUE(same_bytes(r.code8, w.code8));
    EXPECT_EQ(std::memcmp(&r.offset, &w.offset, sizeof(float)), 0);
    // And what the weight means is unchanged.
    EXPECT_TRUE(same_bytes(nf4_dequantize(r, torch::kFloat32, torch::kCPU),
                           nf4_dequantize(w, torch::kFloat32, torch::kCPU)));
  }
  // The second weight spans several absmax2 blocks: the test covers the double quantization.
  EXPECT_GT(fx.weights[1].num_absmax_blocks(), 1);
  for (size_t i = 0; i < fx.dense.size(); ++i) {
    const auto& d = fx.dense[i];
    SCOPED_TRACE(d.name);
    const TensorInfo& t = c.file->get(d.name);
    EXPECT_EQ(t.dtype, d.dtype);
    EXPECT_EQ(t.shape, d.shape);
    ASSERT_EQ(t.end - t.begin, d.nbytes);
    EXPECT_EQ(std::memcmp(c.file->data(t), d.data, d.nbytes), 0);
    EXPECT_FALSE(c.is_nf4_part(d.name));
  }
  EXPECT_EQ(c.side_files, fx.side);
  EXPECT_TRUE(c.is_nf4_part("nf4.code8"));
  EXPECT_TRUE(c.is_nf4_part("file/config.json"));
  EXPECT_TRUE(c.is_nf4_part("model.layers.0.mlp.up_proj.weight.nf4.absmax2"));
}

TEST(EtqFile, RewritingWhatWasReadGivesTheSameFile) {
  Fixture fx;
  EtqContents c = read_etq(fx.path);
  // The tensors in the order of the first write (the data layout follows the order given).
  std::vector<EtqDenseTensor> dense;
  for (const auto& d : fx.dense) {
    const TensorInfo& t = c.file->get(d.name);
    dense.push_back({t.name, t.dtype, t.shape, c.file->data(t), t.end - t.begin});
  }
  std::vector<const Nf4Weight*> q;
  for (const auto& w : fx.weights) q.push_back(&c.nf4.at(w.name));
  const std::string again = path_join(fx.dir, "again.etq");
  write_etq(again, dense, q, c.side_files, c.metadata.at("source"));
  EXPECT_EQ(read_text_file(again), read_text_file(fx.path));
}

TEST(EtqFile, NotAnEtqFileIsRefused) {
  const std::string dir = test::temp_dir("etq-bad");
  const std::string p = path_join(dir, "plain.safetensors");
  write_safetensors(p, {});
  EXPECT_FALSE(is_etq_file(p));
  EXPECT_FALSE(is_etq_file(path_join(dir, "absent.etq")));
  std::string e = error_of([&] { read_etq(p); });
  EXPECT_NE(e.find(p), std::string::npos) << e;
  EXPECT_NE(e.find("magic"), std::string::npos) << e;
  e = error_of([&] { read_etq(path_join(dir, "absent.etq")); });
  EXPECT_NE(e.find("absent.etq"), std::string::npos) << e;
}

TEST(EtqFile, WrongMagicOrVersionNamesTheFile) {
  Fixture fx;
  const std::string bytes = read_text_file(fx.path);
  std::string bad_magic = bytes;
  bad_magic[1] = 'X';
  const std::string p1 = path_join(fx.dir, "magic.etq");
  write_bytes(p1, bad_magic);
  std::string e = error_of([&] { read_etq(p1); });
  EXPECT_NE(e.find(p1), std::string::npos) << e;
  EXPECT_NE(e.find("magic"), std::string::npos) << e;

  std::string bad_version = bytes;
  bad_version[4] = 2;
  const std::string p2 = path_join(fx.dir, "version.etq");
  write_bytes(p2, bad_version);
  EXPECT_TRUE(is_etq_file(p2));
  e = error_of([&] { read_etq(p2); });
  EXPECT_NE(e.find(p2), std::string::npos) << e;
  EXPECT_NE(e.find("version 2"), std::string::npos) << e;
}

TEST(EtqFile, TruncatedOrCorruptFileNamesTheFile) {
  Fixture fx;
  const std::string bytes = read_text_file(fx.path);
  // Cut at several places: inside the preamble, the header length, the header, the data.
  for (size_t cut : {size_t{6}, size_t{12}, size_t{40}, bytes.size() / 2, bytes.size() - 1}) {
    SCOPED_TRACE(cut);
    const std::string p = path_join(fx.dir, "cut-" + std::to_string(cut) + ".etq");
    write_bytes(p, bytes.substr(0, cut));
    std::string e = error_of([&] { read_etq(p); });
    EXPECT_NE(e.find(p), std::string::npos) << e;
  }
  // A header length that runs past the end of the file.
  std::string corrupt = bytes;
  corrupt[8 + 5] = '\x7f';
  const std::string p = path_join(fx.dir, "header.etq");
  write_bytes(p, corrupt);
  std::string e = error_of([&] { read_etq(p); });
  EXPECT_NE(e.find(p), std::string::npos) << e;
  // Garbage JSON in the header.
  corrupt = bytes;
  corrupt[8 + 8] = '#';
  write_bytes(p, corrupt);
  e = error_of([&] { read_etq(p); });
  EXPECT_NE(e.find(p), std::string::npos) << e;
}

TEST(EtqFile, NonEtqMetadataIsRefused) {
  const std::string dir = test::temp_dir("etq-meta");
  const std::string p = path_join(dir, "other.etq");
  std::string prefix(kEtqMagic, 4);
  prefix += std::string("\x01\x00\x00\x00", 4);
  write_safetensors(p, {}, {{"format", "something-else"}}, prefix);
  std::string e = error_of([&] { read_etq(p); });
  EXPECT_NE(e.find(p), std::string::npos) << e;
  EXPECT_NE(e.find("edgetune-etq"), std::string::npos) << e;
}

// An .etq whose NF4 buffers do not fit the recorded shape: the error names the file and the weight.
TEST(EtqFile, InconsistentNf4BuffersNameFileAndWeight) {
  const std::string dir = test::temp_dir("etq-nf4");
  Nf4Weight w = nf4_quantize(torch::randn({8, 16}), "model.layers.0.mlp.gate_proj.weight");
  std::string prefix(kEtqMagic, 4);
  prefix += std::string("\x01\x00\x00\x00", 4);
  struct Case {
    std::string name;
    std::vector<int64_t> shape;  // recorded shape
    bool drop_absmax;
    bool missing_code8;
  };
  // "overflow": 2^62 + 1 rows of 128 wrap around int64 to 128 values, the weight's own count (a
  // finding of fuzz/fuzz_etq.cpp: signed overflow in the element count).
  for (const Case& cs : {Case{"shape", {8, 32}, false, false}, Case{"absmax", {8, 16}, true, false},
                         Case{"code8", {8, 16}, false, true},
                         Case{"overflow", {int64_t{4611686018427387905}, 128}, false, false}}) {
    SCOPED_TRACE(cs.name);
    const std::string p = path_join(dir, cs.name + ".etq");
    auto shape = torch::tensor(cs.shape, torch::kInt64);
    auto offset = torch::tensor({w.offset}, torch::kFloat32);
    std::vector<TensorToWrite> t;
    auto add = [&](const std::string& n, DType dt, const torch::Tensor& x) {
      t.push_back({n, dt, std::vector<int64_t>(x.sizes().begin(), x.sizes().end()), x.data_ptr(),
                   static_cast<size_t>(x.nbytes())});
    };
    if (!cs.missing_code8) add("nf4.code8", DType::f32, w.code8);
    add(w.name + ".nf4.packed", DType::u8, w.packed);
    if (!cs.drop_absmax) add(w.name + ".nf4.absmax_q", DType::u8, w.absmax_q);
    add(w.name + ".nf4.absmax2", DType::f32, w.absmax2);
    add(w.name + ".nf4.offset", DType::f32, offset);
    add(w.name + ".nf4.shape", DType::i64, shape);
    write_safetensors(p, t, {{"format", "edgetune-etq"}}, prefix);
    std::string e = error_of([&] { read_etq(p); });
    EXPECT_NE(e.find(p), std::string::npos) << e;
    EXPECT_NE(e.find(w.name), std::string::npos) << e;
    if (cs.name == "overflow") {
      EXPECT_NE(e.find("more values than an int64 counts"), std::string::npos) << e;
    }
  }
}
