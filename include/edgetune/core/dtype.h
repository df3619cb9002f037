// Element types of tensors in files (safetensors, GGUF, .etq) and bit-exact conversions
// between float32 and the 16-bit float formats.
#pragma once
#include <cstdint>
#include <cstring>
#include <string>

namespace et {

enum class DType { f32, f16, bf16, f64, i64, i32, i16, i8, u8, boolean };

// Safetensors spelling: "F32", "F16", "BF16", "F64", "I64", "I32", "I16", "I8", "U8", "BOOL".
const char* dtype_name(DType t);
// Parses the safetensors spelling; throws naming `context` on an unknown name.
DType parse_dtype(const std::string& name, const std::string& context);
size_t dtype_size(DType t);
bool dtype_is_float(DType t);

inline float bf16_to_f32(uint16_t h) {
  uint32_t u = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

// Round to nearest even, NaN stays NaN (as torch's float -> bfloat16).
inline uint16_t f32_to_bf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x40u);
  u += 0x7fffu + ((u >> 16) & 1u);
  return static_cast<uint16_t>(u >> 16);
}

float f16_to_f32(uint16_t h);
uint16_t f32_to_f16(float f);

// Converts n elements of a floating type at `src` into float32.
void convert_to_f32(DType t, const void* src, float* dst, size_t n);

}  // namespace et
