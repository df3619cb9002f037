// NF4 quantize / dequantize against hand-worked bitsandbytes results: nibble order, codes at the
// decision thresholds, its multiply-by-reciprocal scaling, partial blocks, double quantization of
// a hand-picked absmax vector, plus error bounds, idempotence and input validation.
#include <ATen/Parallel.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>

#include "edgetune/core/error.h"
#include "edgetune/quant/nf4.h"
#include "edgetune/quant/nf4_codebook.h"
#include "edgetune/quant/nf4_ref.h"
#include "test_util.h"

namespace {

using et::test::error_of;
using et::quant::Nf4Weight;
using et::quant::nf4_dequantize;
using et::quant::nf4_quantize;

uint8_t code_at(const Nf4Weight& w, int64_t i) {
  const uint8_t byte = w.packed.data_ptr<uint8_t>()[i / 2];
  return i % 2 == 0 ? byte >> 4 : byte & 0xf;
}

bool bitwise_equal(const torch::Tensor& a, const torch::Tensor& b) {
  return a.sizes() == b.sizes() && a.scalar_type() == b.scalar_type() &&
         std::memcmp(a.contiguous().data_ptr(), b.contiguous().data_ptr(), a.nbytes()) == 0;
}

TEST(Nf4Quantize, FirstElementGoesToTheHighNibble) {
  // Block absmax 1: x*1 is exact, codes read straight off the table: 1 -> 15, -1 -> 0,
  // 0 -> 7, 0.5626170039176941 (a code value) -> 13, 0.07958029955625534 -> 8.
  std::vector<float> x(64, 0.f);
  x[0] = 1.f;
  x[1] = -1.f;
  x[2] = 0.f;
  x[3] = 0.5626170039176941f;
  x[4] = 0.07958029955625534f;
  std::vector<uint8_t> packed(32);
  float absmax = 0;
  et::quant::nf4_quantize_ref(x.data(), 64, packed.data(), &absmax);
  EXPECT_EQ(absmax, 1.f);
  EXPECT_EQ(packed[0], 0xF0);  // (15 << 4) | 0
  EXPECT_EQ(packed[1], 0x7D);  // (7 << 4) | 13
  EXPECT_EQ(packed[2], 0x87);  // (8 << 4) | 7
  EXPECT_EQ(packed[31], 0x77);
}

TEST(Nf4Quantize, HandWorkedBlockAtTheThresholds) {
  // With absmax exactly 1 the scaled value is x itself: a value equal to a threshold keeps the
  // lower code (dQuantizeNF4 compares with >), the next float above takes the upper one.
  const std::array<float, 15>& t = et::quant::nf4_thresholds();
  std::vector<float> x;
  std::vector<int> expect;
  x.push_back(-1.f);
  expect.push_back(0);
  for (int k = 0; k < 15; ++k) {
    x.push_back(t[k]);
    expect.push_back(k);
    x.push_back(std::nextafter(t[k], 1.f));
    expect.push_back(k + 1);
  }
  while (x.size() < 64) {
    x.push_back(0.f);
    expect.push_back(7);
  }
  Nf4Weight w = nf4_quantize(torch::tensor(x), "thresholds");
  for (size_t i = 0; i < x.size(); ++i) EXPECT_EQ(code_at(w, i), expect[i]) << "element " << i;
}

TEST(Nf4Quantize, ScalesByTheReciprocalLikeBitsandbytes) {
  // absmax 3: bitsandbytes scales by r = 1.0f / 3 = 0.333333343f, then compares x * r.
  //  x = 1.1679376363754272f: x * r = 0.3893125653f > t11 = 0.3893125355f -> code 12, whereas
  //    x / 3 = 0.3893125355f (equal to t11) would give 11.
  //  x = -1.019038200378418f: x * r = -0.3396794200f, equal to t3 -> code 3, whereas
  //    x / 3 = -0.3396793902f > t3 would give 4.
  std::vector<float> x(64, 0.f);
  x[0] = 3.f;
  x[1] = 1.1679376363754272f;
  x[2] = -1.019038200378418f;
  Nf4Weight w = nf4_quantize(torch::tensor(x), "reciprocal");
  EXPECT_EQ(code_at(w, 0), 15);
  EXPECT_EQ(code_at(w, 1), 12);
  EXPECT_EQ(code_at(w, 2), 3);
}

TEST(Nf4Quantize, PartialLastBlockIsPaddedWithTheCodeOfZero) {
  // 97 = 64 + 33 values: two blocks, 49 bytes; the 33-value block has absmax 2 (element 64) and
  // its last byte holds element 96 in the high nibble and the padding 0 (code 7) in the low one.
  torch::Tensor x = torch::linspace(-1.f, 1.f, 97);
  x[64] = 2.f;
  x[96] = -2.f;
  Nf4Weight w = nf4_quantize(x, "partial");
  EXPECT_EQ(w.packed.numel(), 49);
  EXPECT_EQ(w.absmax_q.numel(), 2);
  EXPECT_EQ(w.packed.data_ptr<uint8_t>()[48], (0 << 4) | 7);
  torch::Tensor y = nf4_dequantize(w, torch::kFloat32, torch::kCPU);
  ASSERT_EQ(y.numel(), 97);
  EXPECT_LT(y[96].item<float>(), -1.9f);
}

TEST(Nf4Quantize, DoubleQuantizationOfAHandPickedAbsmaxVector) {
  // Four blocks with absmax 0.5, 1, 1.5, 2 (each block's first value; the rest small):
  //   offset = mean = 1.25, centered = [-0.75, -0.25, 0.25, 0.75], absmax2 = 0.75,
  //   r = 1.0f / 0.75f = 1.33333337f, scaled = [-1, -0.333333343, 0.333333343, 1],
  //   dynamic-map indices = [0 (-0.99296874), 47 (-0.33203125), 207 (0.33203125), 255 (1)],
  //   dequantized absmax = code8[q] * 0.75 + 1.25 = [0.50527346, 1.0009765625, 1.4990234375, 2].
  std::vector<float> x(256, 0.01f);
  const float maxes[4] = {0.5f, 1.f, 1.5f, 2.f};
  for (int b = 0; b < 4; ++b) {
    x[b * 64] = maxes[b];
    x[b * 64 + 1] = -maxes[b];
  }
  Nf4Weight w = nf4_quantize(torch::tensor(x), "nested");
  EXPECT_EQ(w.offset, 1.25f);
  ASSERT_EQ(w.absmax2.numel(), 1);
  EXPECT_EQ(w.absmax2.item<float>(), 0.75f);
  const uint8_t* qa = w.absmax_q.data_ptr<uint8_t>();
  EXPECT_EQ(qa[0], 0);
  EXPECT_EQ(qa[1], 47);
  EXPECT_EQ(qa[2], 207);
  EXPECT_EQ(qa[3], 255);
  torch::Tensor y = nf4_dequantize(w, torch::kFloat32, torch::kCPU);
  const float* yp = y.data_ptr<float>();
  EXPECT_EQ(yp[0], 0.5052734613418579f);  // code 15 (1.0) * absmax of block 0
  EXPECT_EQ(yp[1], -0.5052734613418579f);
  EXPECT_EQ(yp[64], 1.0009765625f);
  EXPECT_EQ(yp[129], -1.4990234375f);
  EXPECT_EQ(yp[192], 2.f);
  // 0.01 in block 3: r = 1/2, 0.005 is below t7 = 0.0398 and above t6 -> code 7 (0.0) -> 0.
  EXPECT_EQ(yp[200], 0.f);
}

TEST(Nf4Quantize, AllZeroWeightDequantizesToZero) {
  // absmax 0 -> 1/0 = inf -> 0 * inf = NaN -> code 0 for every value (as on the GPU); the absmax
  // and its offset are 0 too, so every value dequantizes to -1 * 0.
  Nf4Weight w = nf4_quantize(torch::zeros({3, 50}), "zeros");
  for (int64_t i = 0; i < w.numel; ++i) ASSERT_EQ(code_at(w, i), 0);
  torch::Tensor y = nf4_dequantize(w, torch::kFloat32, torch::kCPU);
  EXPECT_EQ(y.abs().max().item<float>(), 0.f);
}

TEST(Nf4Quantize, GaussianErrorIsBounded) {
  // N(0,1) weights, blocks of 64 (absmax about 2.5). Independent reference: the error of picking
  // the nearest NF4 code of x / absmax with the exact absmax (brute force over the 16 codes here).
  // bitsandbytes' thresholds are those midpoints, so only the 8-bit absmax may add error: the RMSE
  // must be within 2% of the nearest-code RMSE. The nearest-code RMSE itself is about 0.09: the
  // outer NF4 bins are wide (0.16-0.30 of absmax) and hold the 15% of values above 0.56 absmax.
  // Also every element lies within half the widest code gap (between -1 and -0.6961928:
  // 0.3038072 / 2) of its block's absmax plus the error of the double-quantized absmax.
  torch::manual_seed(0);
  torch::Tensor x = torch::randn({1024, 1024});
  Nf4Weight w = nf4_quantize(x, "gauss");
  torch::Tensor y = nf4_dequantize(w, torch::kFloat32, torch::kCPU);
  const double rmse = (y - x).pow(2).mean().sqrt().item<double>();

  const torch::Tensor code = torch::tensor(std::vector<float>(et::quant::nf4_code().begin(),
                                                              et::quant::nf4_code().end()));
  const torch::Tensor amax_exact = x.reshape({-1, 64}).abs().amax(1, true);
  const torch::Tensor scaled = (x.reshape({-1, 64}) / amax_exact).reshape({-1, 1});
  const torch::Tensor nearest = code.index({(scaled - code).abs().argmin(1)}).reshape({-1, 64});
  const double rmse_nearest = (nearest * amax_exact - x.reshape({-1, 64})).pow(2).mean().sqrt().item<double>();
  std::printf("NF4 RMSE on N(0,1), 1M values, blocksize 64, double-quantized absmax: %.5f "
              "(nearest code with exact absmax: %.5f)\n", rmse, rmse_nearest);
  RecordProperty("rmse", std::to_string(rmse));
  EXPECT_LT(std::fabs(rmse - rmse_nearest), 0.02 * rmse_nearest);
  EXPECT_GT(rmse, 0.05);
  EXPECT_LT(rmse, 0.1);

  const torch::Tensor blocks = x.reshape({-1, 64});
  const torch::Tensor amax = blocks.abs().amax(1);
  const torch::Tensor code8 = w.code8.index({w.absmax_q.to(torch::kLong)});
  const torch::Tensor amax_hat =
      code8 * w.absmax2.repeat_interleave(256).narrow(0, 0, w.num_blocks()) + w.offset;
  const torch::Tensor bound = 0.5 * 0.3038072f * amax + (amax - amax_hat).abs() + 1e-6;
  const torch::Tensor err = (y.reshape({-1, 64}) - blocks).abs().amax(1);
  EXPECT_TRUE((err <= bound).all().item<bool>()) << "max excess " << (err - bound).max().item<float>();
}

TEST(Nf4Quantize, RequantizingTheDequantizedWeightKeepsTheCodes) {
  // Dequantized values are exactly code * absmax_hat, and the element with code +-1 makes
  // absmax_hat the new block absmax, so every value scales back onto its own code (far from the
  // thresholds): the 4-bit codes must come back identical.
  torch::manual_seed(1);
  torch::Tensor x = torch::randn({37, 129});
  Nf4Weight q1 = nf4_quantize(x, "w");
  Nf4Weight q2 = nf4_quantize(nf4_dequantize(q1, torch::kFloat32, torch::kCPU), "w");
  EXPECT_TRUE(bitwise_equal(q1.packed, q2.packed));
  // The absmax vector comes back within the 8-bit quantization error of the first pass.
  torch::Tensor y1 = nf4_dequantize(q1, torch::kFloat32, torch::kCPU);
  torch::Tensor y2 = nf4_dequantize(q2, torch::kFloat32, torch::kCPU);
  EXPECT_LT((y2 - y1).abs().max().item<float>(), 0.02f * y1.abs().max().item<float>());
}

TEST(Nf4Quantize, HalfPrecisionInputsQuantizeLikeTheirFloat32Values) {
  torch::manual_seed(2);
  torch::Tensor x = torch::randn({65, 33}).to(torch::kBFloat16);
  Nf4Weight a = nf4_quantize(x, "bf16");
  Nf4Weight b = nf4_quantize(x.to(torch::kFloat32), "f32");
  EXPECT_TRUE(bitwise_equal(a.packed, b.packed));
  EXPECT_TRUE(bitwise_equal(a.absmax_q, b.absmax_q));
  EXPECT_TRUE(bitwise_equal(a.absmax2, b.absmax2));
  EXPECT_EQ(a.offset, b.offset);
}

TEST(Nf4Quantize, ThreadCountDoesNotChangeTheResult) {
  torch::manual_seed(3);
  // Over 32768 blocks: torch would split a reduction of this size across threads.
  torch::Tensor x = torch::randn({2048, 1100});
  const int threads = at::get_num_threads();
  at::set_num_threads(1);
  Nf4Weight a = nf4_quantize(x, "t1");
  at::set_num_threads(std::max(threads, 2));
  Nf4Weight b = nf4_quantize(x, "tn");
  at::set_num_threads(threads);
  EXPECT_TRUE(bitwise_equal(a.packed, b.packed));
  EXPECT_TRUE(bitwise_equal(a.absmax_q, b.absmax_q));
  EXPECT_TRUE(bitwise_equal(nf4_dequantize(a, torch::kFloat32, torch::kCPU),
                            nf4_dequantize(b, torch::kFloat32, torch::kCPU)));
}

TEST(Nf4Dequantize, ShapeAndOutputDtypes) {
  torch::manual_seed(4);
  torch::Tensor x = torch::randn({33, 31});
  Nf4Weight w = nf4_quantize(x, "w");
  EXPECT_EQ(w.numel, 33 * 31);
  EXPECT_EQ(w.nbytes(), (1023 + 1) / 2 + 16 + 4 + 256 * 4);
  torch::Tensor f = nf4_dequantize(w, torch::kFloat32, torch::kCPU);
  EXPECT_EQ(f.sizes(), x.sizes());
  // The reference loop on raw buffers gives the same float32 values.
  std::vector<float> ref(w.numel);
  et::quant::nf4_dequantize_ref(w.packed.data_ptr<uint8_t>(), w.absmax_q.data_ptr<uint8_t>(),
                                w.absmax2.data_ptr<float>(), w.code8.data_ptr<float>(), w.offset,
                                w.numel, ref.data());
  EXPECT_EQ(std::memcmp(ref.data(), f.data_ptr<float>(), ref.size() * 4), 0);
  // Lower-precision outputs are the float32 values rounded to nearest even (torch's cast).
  for (torch::Dtype d : {torch::kBFloat16, torch::kFloat16}) {
    torch::Tensor h = nf4_dequantize(w, d, torch::kCPU);
    EXPECT_TRUE(bitwise_equal(h, f.to(d))) << c10::toString(d);
  }
}

TEST(Nf4Validation, NonFiniteInputNamesTheTensorAndIndex) {
  torch::Tensor x = torch::randn({4, 16});
  x.view(-1)[37] = std::numeric_limits<float>::quiet_NaN();
  std::string msg = error_of([&] { nf4_quantize(x, "layers.3.mlp.up_proj.weight"); });
  EXPECT_NE(msg.find("[nf4_quantize]"), std::string::npos) << msg;
  EXPECT_NE(msg.find("layers.3.mlp.up_proj.weight"), std::string::npos) << msg;
  EXPECT_NE(msg.find("index 37"), std::string::npos) << msg;
  x.view(-1)[37] = 0.f;
  x.view(-1)[5] = std::numeric_limits<float>::infinity();
  msg = error_of([&] { nf4_quantize(x, "w"); });
  EXPECT_NE(msg.find("index 5"), std::string::npos) << msg;
  EXPECT_NE(error_of([&] { nf4_quantize(torch::ones({4}, torch::kInt32), "ints"); }), "");
  EXPECT_NE(error_of([&] { nf4_quantize(torch::ones({0}), "empty"); }), "");
}

TEST(Nf4Validation, BufferSizesAreCheckedWithContext) {
  Nf4Weight w = nf4_quantize(torch::randn({4, 64}), "q_proj");  // 4 blocks
  Nf4Weight bad = w;
  bad.absmax_q = w.absmax_q.narrow(0, 0, 3).contiguous();
  std::string msg = error_of([&] { nf4_dequantize(bad, torch::kFloat32, torch::kCPU); });
  EXPECT_NE(msg.find("[nf4_dequant] q_proj: absmax has 3 blocks, weight needs 4"), std::string::npos)
      << msg;
  bad = w;
  bad.packed = w.packed.narrow(0, 0, 100).contiguous();
  msg = error_of([&] { nf4_dequantize(bad, torch::kFloat32, torch::kCPU); });
  EXPECT_NE(msg.find("packed codes has 100 bytes, weight needs 128"), std::string::npos) << msg;
  bad = w;
  bad.absmax2 = w.absmax2.to(torch::kFloat16);
  EXPECT_NE(error_of([&] { nf4_dequantize(bad, torch::kFloat32, torch::kCPU); }), "");
  bad = w;
  bad.shape = {3, 64};
  EXPECT_NE(error_of([&] { nf4_dequantize(bad, torch::kFloat32, torch::kCPU); }), "");
  // 2^62 + 1 rows of 256 wrap around int64 to 256 values, the weight's own count: refused before
  // anything is allocated for that shape.
  bad = w;
  bad.shape = {int64_t{4611686018427387905}, 256};
  msg = error_of([&] { nf4_dequantize(bad, torch::kFloat32, torch::kCPU); });
  EXPECT_NE(msg.find("q_proj: the shape's size overflows"), std::string::npos) << msg;
  EXPECT_NE(error_of([&] { nf4_dequantize(w, torch::kInt8, torch::kCPU); }), "");
}

}  // namespace
