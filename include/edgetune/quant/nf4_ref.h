// Plain-loop reference implementations of bitsandbytes' blockwise quantizers on raw float32
// buffers (the CPU path calls them on independent ranges of blocks from several threads).
#pragma once
#include <cstdint>

namespace et::quant {

// NF4, blocks of 64: absmax[b] = max |x| over the block, code = nf4_index(x * (1/absmax[b])),
// packed two per byte, first in the high nibble. packed holds (n+1)/2 bytes, absmax ceil(n/64).
// A partial last block behaves as if padded with zeros. Inputs must be finite.
void nf4_quantize_ref(const float* x, int64_t n, uint8_t* packed, float* absmax);

// bitsandbytes' 8-bit blockwise quantization (quantize_blockwise): absmax[b] = max |x| per block,
// q = dynamic_index(code, x * (1/absmax[b])). q holds n bytes, absmax ceil(n/blocksize).
void quantize_blockwise8_ref(const float* x, int64_t n, int64_t blocksize, const float* code,
                             uint8_t* q, float* absmax);

// out[i] = nf4[q_i] * (code8[absmax_q[b]] * absmax2[b/256] + offset), b = i/64, in float32 with
// every operation rounded separately (what bitsandbytes computes before the output cast).
void nf4_dequantize_ref(const uint8_t* packed, const uint8_t* absmax_q, const float* absmax2,
                        const float* code8, float offset, int64_t numel, float* out);

}  // namespace et::quant
