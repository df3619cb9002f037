// Nf4Weight's device moves, size accounting and validation of its buffers against its shape.
#include <cmath>
#include <limits>

#include "edgetune/core/error.h"
#include "edgetune/quant/nf4.h"

namespace et::quant {

Nf4Weight Nf4Weight::to(const torch::Device& device) const {
  Nf4Weight w = *this;
  w.packed = packed.to(device);
  w.absmax_q = absmax_q.to(device);
  w.absmax2 = absmax2.to(device);
  w.code8 = code8.to(device);
  return w;
}

int64_t Nf4Weight::nbytes() const {
  int64_t n = 0;
  for (const torch::Tensor* t : {&packed, &absmax_q, &absmax2, &code8})
    if (t->defined()) n += t->numel() * static_cast<int64_t>(t->element_size());
  return n;
}

namespace {

void check_buffer(const Nf4Weight& w, const char* where, const torch::Tensor& t, const char* what,
                  torch::ScalarType type, int64_t expected, const char* unit) {
  const std::string& nm = w.name.empty() ? std::string("weight") : w.name;
  ET_CHECK(t.defined(), where, nm, ": ", what, " is missing");
  ET_CHECK(t.scalar_type() == type, where, nm, ": ", what, " has dtype ",
           c10::toString(t.scalar_type()), ", expected ", c10::toString(type));
  ET_CHECK(t.numel() == expected, where, nm, ": ", what, " has ", t.numel(), " ", unit,
           ", weight needs ", expected);
  ET_CHECK(t.is_contiguous(), where, nm, ": ", what, " is not contiguous");
  ET_CHECK(t.device() == w.packed.device(), where, nm, ": ", what, " is on ", t.device().str(),
           " but the packed codes are on ", w.packed.device().str());
}

}  // namespace

void nf4_validate(const Nf4Weight& w, const char* where) {
  const std::string& nm = w.name.empty() ? std::string("weight") : w.name;
  int64_t prod = 1;
  for (int64_t d : w.shape) {
    ET_CHECK(d >= 0, where, nm, ": negative dimension ", d, " in the shape");
    ET_CHECK(d == 0 || prod <= std::numeric_limits<int64_t>::max() / d, where, nm, ": the shape's size overflows");
    prod *= d;
  }
  ET_CHECK(prod == w.numel, where, nm, ": shape holds ", prod, " values but numel is ", w.numel);
  ET_CHECK(w.numel > 0, where, nm, ": the weight is empty");
  check_buffer(w, where, w.packed, "packed codes", torch::kUInt8, (w.numel + 1) / 2, "bytes");
  check_buffer(w, where, w.absmax_q, "absmax", torch::kUInt8, w.num_blocks(), "blocks");
  check_buffer(w, where, w.absmax2, "absmax2", torch::kFloat32, w.num_absmax_blocks(), "blocks");
  check_buffer(w, where, w.code8, "absmax code map", torch::kFloat32, 256, "values");
  ET_CHECK(std::isfinite(w.offset), where, nm, ": absmax offset is ", w.offset);
}

}  // namespace et::quant
