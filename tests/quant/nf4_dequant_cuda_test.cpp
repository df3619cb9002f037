// CUDA NF4 dequantization equals the CPU reference bit for bit (float32, bfloat16, float16
// outputs), for odd sizes, partial blocks, more than 256 blocks (several absmax2 values), and
// unaligned buffers that take the per-element kernel.
#include <c10/util/BFloat16.h>
#include <c10/util/Half.h>

#include <random>

#include "ops/common/cuda_test_util.h"
#include "ops/nf4_dequant/nf4_dequant_cuda.h"
#include "edgetune/quant/nf4.h"
#include "edgetune/quant/nf4_codebook.h"

namespace {

using et::cuda::ElemType;
using et::test::DeviceBuffer;

// The CPU path's output (reference loop + torch's round-to-nearest-even cast) as raw bits.
std::vector<uint8_t> cpu_bits(const et::quant::Nf4Weight& w, torch::Dtype d) {
  torch::Tensor t = et::quant::nf4_dequantize(w, d, torch::kCPU);
  std::vector<uint8_t> b(t.nbytes());
  std::memcpy(b.data(), t.data_ptr(), b.size());
  return b;
}

template <class T>
std::vector<T> to_vector(const torch::Tensor& t) {
  return std::vector<T>(t.data_ptr<T>(), t.data_ptr<T>() + t.numel());
}

void check_size(int64_t numel, size_t packed_shift, size_t out_shift_elems) {
  SCOPED_TRACE("numel " + std::to_string(numel) + ", packed offset " + std::to_string(packed_shift) +
               ", output offset " + std::to_string(out_shift_elems) + " elements");
  torch::manual_seed(numel);
  torch::Tensor x = torch::randn({numel}) * 0.05;
  const et::quant::Nf4Weight w = et::quant::nf4_quantize(x, "w");

  DeviceBuffer packed(w.packed.numel() + packed_shift), qa(w.absmax_q.numel()),
      a2(w.absmax2.numel() * 4), code8(256 * 4);
  packed.upload(to_vector<uint8_t>(w.packed), packed_shift);
  qa.upload(to_vector<uint8_t>(w.absmax_q));
  a2.upload(to_vector<float>(w.absmax2));
  code8.upload(to_vector<float>(w.code8));

  const std::pair<ElemType, torch::Dtype> outs[] = {
      {ElemType::f32, torch::kFloat32}, {ElemType::bf16, torch::kBFloat16}, {ElemType::f16, torch::kFloat16}};
  for (auto [et_type, dtype] : outs) {
    const size_t esize = et_type == ElemType::f32 ? 4 : 2, out_shift = out_shift_elems * esize;
    DeviceBuffer out(numel * esize + out_shift);
    et::cuda::nf4_dequantize(packed.as<uint8_t>(packed_shift), qa.as<uint8_t>(), a2.as<float>(),
                             code8.as<float>(), w.offset, numel, out.as<void>(out_shift), et_type,
                             nullptr);
    ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    const std::vector<uint8_t> gpu = out.download<uint8_t>(numel * esize, out_shift);
    const std::vector<uint8_t> cpu = cpu_bits(w, dtype);
    size_t first = gpu.size();
    for (size_t i = 0; i < gpu.size() && first == gpu.size(); ++i)
      if (gpu[i] != cpu[i]) first = i;
    EXPECT_EQ(first, gpu.size()) << et::cuda::elem_type_name(et_type) << ": first differing element "
                                 << first / esize;
  }
}

TEST(Nf4DequantCuda, EqualsCpuReferenceBitForBit) {
  ET_REQUIRE_CUDA();
  for (int64_t n : {1, 31, 33 * 31, 4099, 64 * 2048 + 7, 300 * 64 + 1, 1 << 20})
    check_size(n, 0, 0);
}

TEST(Nf4DequantCuda, UnalignedBuffersTakeTheScalarPathWithTheSameBits) {
  ET_REQUIRE_CUDA();
  check_size(4099, 1, 0);  // packed codes not 8-byte aligned
  check_size(4099, 0, 1);  // output one element off 16-byte alignment
}

TEST(Nf4DequantCuda, HandWorkedNestedAbsmax) {
  ET_REQUIRE_CUDA();
  // One block, absmax_q = 47 (code8 -0.33203125), absmax2 = 0.75, offset 1.25:
  // absmax = -0.33203125 * 0.75 + 1.25 = 1.0009765625; codes 15, 0, 7 -> 1.0009765625,
  // -1.0009765625, 0 (see the CPU test DoubleQuantizationOfAHandPickedAbsmaxVector).
  const std::array<float, 256>& map = et::quant::dynamic_map_signed();
  std::vector<float> code8(map.begin(), map.end());
  DeviceBuffer packed(2), qa(1), a2(4), dcode(256 * 4), out(3 * 4);
  packed.upload(std::vector<uint8_t>{0xF0, 0x70});
  qa.upload(std::vector<uint8_t>{47});
  a2.upload(std::vector<float>{0.75f});
  dcode.upload(code8);
  et::cuda::nf4_dequantize(packed.as<uint8_t>(), qa.as<uint8_t>(), a2.as<float>(), dcode.as<float>(),
                           1.25f, 3, out.as<void>(), ElemType::f32, nullptr);
  const std::vector<float> y = out.download<float>(3);
  EXPECT_EQ(y[0], 1.0009765625f);
  EXPECT_EQ(y[1], -1.0009765625f);
  EXPECT_EQ(y[2], 0.f);
}

}  // namespace
