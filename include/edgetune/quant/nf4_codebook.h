// The code books of bitsandbytes' 4-bit NF4 format and of its 8-bit blockwise quantization of the
// absmax ("double quantization"), and the exact rules it uses to pick a code for a value.
#pragma once
#include <array>
#include <cstdint>

namespace et::quant {

// The 16 NF4 values, ascending (bitsandbytes get_4bit_type("nf4"), float32). Index 7 is 0.
const std::array<float, 16>& nf4_code();

// The 15 decision thresholds of bitsandbytes' dQuantizeNF4, ascending: code k+1 is chosen over
// code k when x > threshold[k] (strictly). Each is the float32 of the midpoint of two codes.
const std::array<float, 15>& nf4_thresholds();

// The code index bitsandbytes picks for a value already scaled by 1/absmax. NaN gives 0, as the
// comparison tree does (every comparison with NaN is false).
inline uint8_t nf4_index(float x) {
  const std::array<float, 15>& t = nf4_thresholds();
  uint8_t q = 0;
  for (int k = 0; k < 15; ++k) q += x > t[k] ? 1 : 0;
  return q;
}

// create_dynamic_map(signed=True, max_exponent_bits=7, total_bits=8): 256 ascending float32
// values in [-0.99296875, 1], index 127 is 0. Computed the way torch computes it (see the .cpp).
const std::array<float, 256>& dynamic_map_signed();

// bitsandbytes' dQuantize<0> (not stochastic): binary search over a sorted 256-entry code, then
// round to the nearer neighbour of the last pivot with its midpoint tie rule.
uint8_t dynamic_index(const float* code, float x);

}  // namespace et::quant
