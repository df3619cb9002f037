// The 4-bit NF4 weight type (bitsandbytes layout, double-quantized absmax) and its quantize /
// dequantize entry points.
//
// A weight of shape [out, in] is quantized as one flat row-major array of `numel` values:
//   - blocks of 64 consecutive values, one absmax (max |x|) per block; the last block may be
//     partial (bitsandbytes pads it with zeros);
//   - each value becomes the index of an NF4 code (nf4_codebook.h) of x / absmax, computed as
//     x * (1 / absmax) as bitsandbytes does, two indices per byte, the FIRST value in the HIGH
//     nibble; an odd count leaves the low nibble of the last byte holding the code of 0;
//   - double quantization: offset = mean(absmax) (correctly rounded float32), absmax - offset is
//     quantized 8-bit blockwise (blocks of 256) with the signed dynamic map, each 256-block with
//     its own float32 absmax2.
// Dequantization: x = nf4[q] * (code8[absmax_q] * absmax2 + offset), every step in float32, then
// rounded to the output dtype. This equals bitsandbytes' dequantize_4bit bit for bit given the
// same quantized state.
//
// The buffers are torch tensors so the weight can live on any device: Nf4Weight::to(device)
// moves them, and nf4_dequantize runs the CUDA kernel when they are on a GPU (with a CUDA
// libtorch build), the CPU loops otherwise.
//
// bitsandbytes state-dict names: packed = `weight` (uint8 [(numel+1)/2, 1]), absmax_q =
// `weight.absmax`, absmax2 = `weight.nested_absmax`, code8 = `weight.nested_quant_map`,
// offset = quant_state `nested_offset`, nf4_code() = `weight.quant_map`, blocksizes 64 / 256.
#pragma once
#include <torch/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace et::quant {

struct Nf4Weight {
  static constexpr int64_t kBlock = 64;         // values per absmax
  static constexpr int64_t kAbsmaxBlock = 256;  // absmax values per absmax2
  static constexpr int64_t kBytesPerBlock = kBlock / 2;
  static_assert(kBlock % 2 == 0, "a block must fill whole bytes so blocks never share a byte");
  static_assert(kBlock == 64 && kAbsmaxBlock == 256, "the bitsandbytes NF4 layout");

  torch::Tensor packed;    // uint8 [(numel + 1) / 2]
  torch::Tensor absmax_q;  // uint8 [num_blocks()], index into code8
  torch::Tensor absmax2;   // float32 [num_absmax_blocks()]
  torch::Tensor code8;     // float32 [256], the map absmax_q indexes (dynamic_map_signed())
  float offset = 0.f;      // mean of the absmax values
  std::vector<int64_t> shape;
  int64_t numel = 0;
  std::string name;  // for error messages, e.g. "model.layers.0.mlp.up_proj.weight"

  int64_t num_blocks() const { return (numel + kBlock - 1) / kBlock; }
  int64_t num_absmax_blocks() const { return (num_blocks() + kAbsmaxBlock - 1) / kAbsmaxBlock; }
  torch::Device device() const { return packed.device(); }
  // A copy whose buffers live on `device` (the same object's buffers when they already do).
  Nf4Weight to(const torch::Device& device) const;
  // Bytes of the quantized buffers.
  int64_t nbytes() const;
};

// Quantizes a floating tensor (float32, bfloat16 or float16, any device; computed on the CPU with
// all threads). `name` appears in errors; a NaN or infinite value is an error naming it.
Nf4Weight nf4_quantize(const torch::Tensor& w, const std::string& name);

// Dequantizes to `dtype` (float32, bfloat16 or float16) on `device`. Runs on the device the
// buffers live on (CUDA kernel or CPU loops) and moves the result if `device` differs; CPU buffers
// asked for on a CUDA device are moved there first (4x less to copy than the result).
torch::Tensor nf4_dequantize(const Nf4Weight& w, torch::Dtype dtype, torch::Device device);
// The same into `out` (contiguous, w.shape, float32/bfloat16/float16, on w's device): a slice of
// a larger buffer, so several weights can be dequantized side by side for one GEMM.
void nf4_dequantize_into(const Nf4Weight& w, torch::Tensor& out);

// The raw buffers a kernel that decodes NF4 itself needs (CPU weights): the dequantized absmax of
// every 64-block, code8[absmax_q[b]] * absmax2[b / 256] + offset rounded as dequantization rounds
// it (so code[q] * scale[b] is the dequantized value bit for bit), float32 [num_blocks()]; and the
// 16 NF4 levels (nf4_codebook.h) as a float32 tensor.
torch::Tensor nf4_block_scales(const Nf4Weight& w);
torch::Tensor nf4_code_tensor();

// Checks the buffers against the shape (sizes, dtypes, devices, contiguity); throws et::Error
// naming `where` and the weight, e.g. "[nf4_dequant] absmax has 3 blocks, weight needs 4".
void nf4_validate(const Nf4Weight& w, const char* where);

}  // namespace et::quant
