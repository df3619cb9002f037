// NF4 dequantization: the CPU reference loop (also the CPU path, run on ranges of 64-blocks from
// all threads) and the torch-level entry point that picks the CUDA kernel for GPU buffers.
// Per block b: a = code8[absmax_q[b]] * absmax2[b/256] + offset, then x = OUT(nf4[q] * a); each
// float32 operation rounds separately (the quant library builds with -ffp-contract=off so the
// compiler cannot fuse them), and OUT's constructor rounds to nearest even like torch's cast.
#include <c10/util/BFloat16.h>
#include <c10/util/Half.h>

#include "ops/common/parallel.h"
#include "edgetune/core/error.h"
#include "edgetune/quant/nf4.h"
#include "edgetune/quant/nf4_codebook.h"
#include "edgetune/quant/nf4_ref.h"

#ifdef EDGETUNE_TORCH_CUDA
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include "ops/nf4_dequant/nf4_dequant_cuda.h"
#endif

namespace et::quant {

namespace {

struct Nf4Buffers {
  const uint8_t* packed;
  const uint8_t* absmax_q;
  const float* absmax2;
  const float* code8;
  float offset;
  int64_t numel;
};

template <class OUT>
void decode_blocks(const Nf4Buffers& q, int64_t b0, int64_t b1, OUT* out) {
  const std::array<float, 16>& nf4 = nf4_code();
  for (int64_t b = b0; b < b1; ++b) {
    const float scaled = q.code8[q.absmax_q[b]] * q.absmax2[b / 256];
    const float a = scaled + q.offset;
    const int64_t begin = b * 64;
    const int64_t end = std::min(q.numel, begin + 64);
    for (int64_t i = begin; i < end; ++i) {
      const uint8_t byte = q.packed[i / 2];
      const uint8_t code = (i % 2 == 0) ? (byte >> 4) : (byte & 0xf);
      out[i] = static_cast<OUT>(nf4[code] * a);
    }
  }
}

template <class OUT>
void decode_parallel(const Nf4Buffers& q, OUT* out) {
  const int64_t blocks = (q.numel + 63) / 64;
  at::parallel_for(0, blocks, /*grain_size=*/512,
                   [&](int64_t b0, int64_t b1) { decode_blocks<OUT>(q, b0, b1, out); });
}

Nf4Buffers buffers_of(const Nf4Weight& w) {
  return {w.packed.data_ptr<uint8_t>(), w.absmax_q.data_ptr<uint8_t>(), w.absmax2.data_ptr<float>(),
          w.code8.data_ptr<float>(),    w.offset,                        w.numel};
}

// CPU buffers into a contiguous CPU tensor of w.numel elements (float32, bfloat16 or float16).
void decode_cpu_into(const Nf4Weight& w, torch::Tensor& out) {
  const Nf4Buffers q = buffers_of(w);
  if (out.scalar_type() == torch::kFloat32)
    decode_parallel<float>(q, out.data_ptr<float>());
  else if (out.scalar_type() == torch::kBFloat16)
    decode_parallel<c10::BFloat16>(q, out.data_ptr<c10::BFloat16>());
  else
    decode_parallel<c10::Half>(q, out.data_ptr<c10::Half>());
}

#ifdef EDGETUNE_TORCH_CUDA
void dequantize_cuda_into(const Nf4Weight& w, torch::Tensor& out) {
  c10::cuda::CUDAGuard guard(w.packed.device());
  const auto dtype = out.scalar_type();
  const et::cuda::ElemType et = dtype == torch::kFloat32    ? et::cuda::ElemType::f32
                                : dtype == torch::kBFloat16 ? et::cuda::ElemType::bf16
                                                            : et::cuda::ElemType::f16;
  et::cuda::nf4_dequantize(w.packed.data_ptr<uint8_t>(), w.absmax_q.data_ptr<uint8_t>(),
                           w.absmax2.data_ptr<float>(), w.code8.data_ptr<float>(), w.offset,
                           w.numel, out.data_ptr(), et, c10::cuda::getCurrentCUDAStream().stream());
}

torch::Tensor dequantize_cuda(const Nf4Weight& w, torch::Dtype dtype) {
  torch::Tensor out = torch::empty(w.shape, torch::TensorOptions().dtype(dtype).device(w.packed.device()));
  dequantize_cuda_into(w, out);
  return out;
}
#endif

}  // namespace

void nf4_dequantize_ref(const uint8_t* packed, const uint8_t* absmax_q, const float* absmax2,
                        const float* code8, float offset, int64_t numel, float* out) {
  decode_blocks<float>({packed, absmax_q, absmax2, code8, offset, numel}, 0, (numel + 63) / 64, out);
}

torch::Tensor nf4_dequantize(const Nf4Weight& w, torch::Dtype dtype, torch::Device device) {
  const char* where = "nf4_dequant";
  nf4_validate(w, where);
  ET_CHECK(dtype == torch::kFloat32 || dtype == torch::kBFloat16 || dtype == torch::kFloat16,
           where, w.name, ": cannot dequantize to ", c10::toString(dtype),
           " (float32, bfloat16 or float16)");
  if (w.packed.is_cuda()) {
#ifdef EDGETUNE_TORCH_CUDA
    torch::Tensor out = dequantize_cuda(w, dtype);
    return out.device() == device ? out : out.to(device);
#else
    et::fail(where, w.name, ": the buffers are on ", w.packed.device().str(),
             " but this build has no CUDA kernels (configure with EDGETUNE_CUDA=ON and a CUDA "
             "libtorch)");
#endif
  }
  ET_CHECK(w.packed.is_cpu(), where, w.name, ": unsupported device ", w.packed.device().str());
#ifdef EDGETUNE_TORCH_CUDA
  if (device.is_cuda()) return dequantize_cuda(w.to(device), dtype);
#endif
  torch::Tensor out = torch::empty(w.shape, torch::TensorOptions().dtype(dtype));
  decode_cpu_into(w, out);
  return device.is_cpu() ? out : out.to(device);
}

torch::Tensor nf4_block_scales(const Nf4Weight& w) {
  const char* where = "nf4_dequant";
  nf4_validate(w, where);
  ET_CHECK(w.packed.is_cpu(), where, w.name, ": block scales are read on the CPU, the buffers are on ",
           w.packed.device().str());
  torch::Tensor out = torch::empty({w.num_blocks()}, torch::kFloat32);
  const Nf4Buffers q = buffers_of(w);
  float* o = out.data_ptr<float>();
  for (int64_t b = 0; b < w.num_blocks(); ++b) {
    const float scaled = q.code8[q.absmax_q[b]] * q.absmax2[b / 256];  // as decode_blocks rounds it
    o[b] = scaled + q.offset;
  }
  return out;
}

torch::Tensor nf4_code_tensor() {
  const std::array<float, 16>& c = nf4_code();
  return torch::from_blob(const_cast<float*>(c.data()), {16}, torch::kFloat32).clone();
}

void nf4_dequantize_into(const Nf4Weight& w, torch::Tensor& out) {
  const char* where = "nf4_dequant";
  nf4_validate(w, where);
  const auto dtype = out.scalar_type();
  ET_CHECK(dtype == torch::kFloat32 || dtype == torch::kBFloat16 || dtype == torch::kFloat16, where, w.name,
           ": cannot dequantize to ", c10::toString(dtype), " (float32, bfloat16 or float16)");
  ET_CHECK(out.is_contiguous() && out.numel() == w.numel && out.device() == w.packed.device(), where, w.name,
           ": the output must be a contiguous ", w.numel, "-element tensor on ", w.packed.device().str(), ", got ",
           out.sizes(), " on ", out.device().str());
#ifdef EDGETUNE_TORCH_CUDA
  if (w.packed.is_cuda()) return dequantize_cuda_into(w, out);
#endif
  ET_CHECK(w.packed.is_cpu(), where, w.name, ": unsupported device ", w.packed.device().str());
  decode_cpu_into(w, out);
}

}  // namespace et::quant
