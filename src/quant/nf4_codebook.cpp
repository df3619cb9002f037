// Code books and code-picking rules of bitsandbytes' NF4 and 8-bit dynamic blockwise formats.
//
// The signed dynamic map is bitsandbytes' create_dynamic_map(signed=True):
//   for i in 0..6: b = torch.linspace(0.1, 1, 2^i + 1)            (float32)
//                  m = (b[:-1] + b[1:]) / 2.0                      (float32)
//                  data += (10^(i-6) * m), (-(10^(i-6)) * m)       (float32 times a float32 scalar)
//   data += [0, 1.0]; sort.
// torch's CPU linspace evaluates start + step*k for k < steps/2 and end - step*(steps-1-k) above,
// with step = (end - start)/(steps - 1) in float32; its kernels are compiled with FMA contraction,
// so each of those is one fused multiply-add (a single rounding). Replaying exactly that
// reproduces the table bitsandbytes users get bit for bit (the test compares all 256 values with
// a printed copy of it); without the fused rounding 42 of the 256 entries differ in the last bit.
#include "edgetune/quant/nf4_codebook.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace et::quant {

const std::array<float, 16>& nf4_code() {
  static const std::array<float, 16> code = {
      -1.0f,
      -0.6961928009986877f,
      -0.5250730514526367f,
      -0.39491748809814453f,
      -0.28444138169288635f,
      -0.18477343022823334f,
      -0.09105003625154495f,
      0.0f,
      0.07958029955625534f,
      0.16093020141124725f,
      0.24611230194568634f,
      0.33791524171829224f,
      0.44070982933044434f,
      0.5626170039176941f,
      0.7229568362236023f,
      1.0f,
  };
  return code;
}

const std::array<float, 15>& nf4_thresholds() {
  // The literals of dQuantizeNF4's comparison tree, sorted.
  static const std::array<float, 15> t = {
      -0.8480964004993439f, -0.6106329262256622f, -0.4599952697753906f,
      -0.33967943489551544f, -0.23460740596055984f, -0.13791173323988914f,
      -0.045525018125772476f, 0.03979014977812767f, 0.1202552504837513f,
      0.2035212516784668f,  0.2920137718319893f,  0.3893125355243683f,
      0.5016634166240692f,  0.6427869200706482f,  0.8614784181118011f,
  };
  return t;
}

namespace {

// torch.linspace(start, end, steps) for float32 on the CPU (see the comment at the top).
std::vector<float> torch_linspace_f32(float start, float end, int64_t steps) {
  const float step = (end - start) / static_cast<float>(steps - 1);
  const int64_t halfway = steps / 2;
  std::vector<float> out(static_cast<size_t>(steps));
  for (int64_t k = 0; k < steps; ++k)
    out[static_cast<size_t>(k)] = k < halfway
                                      ? std::fma(step, static_cast<float>(k), start)
                                      : std::fma(-step, static_cast<float>(steps - k - 1), end);
  return out;
}

std::array<float, 256> make_dynamic_map_signed() {
  const int max_exponent_bits = 7, non_sign_bits = 7;
  std::vector<float> data;
  for (int i = 0; i < max_exponent_bits; ++i) {
    const int64_t items = (int64_t{1} << (i + non_sign_bits - max_exponent_bits)) + 1;
    const std::vector<float> b = torch_linspace_f32(0.1f, 1.0f, items);
    // Python's 10 ** (i - 6) is a float (an int 1 for i == 6); torch rounds it to float32.
    const float scale = static_cast<float>(std::pow(10.0, i - (max_exponent_bits - 1)));
    std::vector<float> means;
    for (size_t j = 0; j + 1 < b.size(); ++j) means.push_back((b[j] + b[j + 1]) / 2.0f);
    for (float m : means) data.push_back(scale * m);
    for (float m : means) data.push_back(-scale * m);
  }
  data.push_back(0.0f);
  data.push_back(1.0f);
  std::sort(data.begin(), data.end());
  std::array<float, 256> out{};
  std::copy(data.begin(), data.end(), out.begin());
  return out;
}

}  // namespace

const std::array<float, 256>& dynamic_map_signed() {
  static const std::array<float, 256> map = make_dynamic_map_signed();
  return map;
}

uint8_t dynamic_index(const float* code, float x) {
  // Transcription of dQuantize<STOCHASTIC=0> from bitsandbytes' kernels.
  int pivot = 127, upper_pivot = 255, lower_pivot = 0;
  float lower = -1.0f, upper = 1.0f;
  float val = code[pivot];
  for (int i = 64; i > 0; i >>= 1) {
    if (x > val) {
      lower_pivot = pivot;
      lower = val;
      pivot += i;
    } else {
      upper_pivot = pivot;
      upper = val;
      pivot -= i;
    }
    val = code[pivot];
  }
  if (upper_pivot == 255) upper = code[upper_pivot];
  if (lower_pivot == 0) lower = code[lower_pivot];
  if (x > val) {
    const float midpoint = (upper + val) * 0.5f;
    return static_cast<uint8_t>(x > midpoint ? upper_pivot : pivot);
  }
  const float midpoint = (lower + val) * 0.5f;
  return static_cast<uint8_t>(x < midpoint ? lower_pivot : pivot);
}

}  // namespace et::quant
