// The test harness every op's tests share (test code only: it links GoogleTest), in the spirit of
// llama.cpp's test-backend-ops: an op gives its fast path and its reference as functions of the
// same input tensors; the harness runs the fast path on each (dtype, device) and the reference in
// float64 on the CPU on the same values, and compares every output and every input gradient
// (under a random upstream gradient) by the norm-wise relative error
//   |got - want| / |want|      (Frobenius norms; METHOD: float32 ~1e-6, bfloat16 ~1e-2)
// with a per-dtype tolerance. The reference's own backward is checked against central finite
// differences in float64 along random directions, so the chain fast == reference == calculus holds.
// Sizes worth trying are the odd ones (1, 31, 33, 4097): they hit every tail and partial block.
#pragma once
#include <torch/types.h>

#include <functional>
#include <string>
#include <vector>

namespace et::ops::test {

struct Tolerance {
  double forward = 1e-5;   // outputs
  double backward = 1e-5;  // input gradients
};
// float32: 1e-5 / 1e-4; bfloat16: 1.5e-2 / 3e-2; float16: 3e-3 / 6e-3 (relative, norm-wise).
Tolerance default_tolerance(torch::ScalarType dtype);

// The CPU, and the first CUDA device when one is present (CUDA builds on a GPU machine).
std::vector<torch::Device> devices();
// The odd sizes every op is tried at.
const std::vector<int64_t>& odd_sizes();

// |got - want| / max(|want|, tiny), both taken to float64 on the CPU.
double relative_error(const torch::Tensor& got, const torch::Tensor& want);

// One case: float32 (or integer) CPU tensors; the harness casts the floating ones to the dtype and
// device under test except those marked keep_dtype (float32 weights, tables).
struct OpCase {
  std::string label;  // e.g. "rows=33 cols=4097"
  std::vector<torch::Tensor> inputs;
  std::vector<bool> grad;        // inputs that get gradients (default: none)
  std::vector<bool> keep_dtype;  // floating inputs left in float32 (default: none)
};

using OpFn = std::function<std::vector<torch::Tensor>(const std::vector<torch::Tensor>&)>;

struct OpCheck {
  std::string op;
  OpFn fast;       // the op as users call it (dispatches to the CPU or CUDA fast path)
  OpFn reference;  // the same math in plain libtorch ops (float64 on the CPU in the harness)
};

// Fast path on (dtype, device) against the float64 reference: outputs and input gradients.
void expect_matches_reference(const OpCheck& op, const OpCase& c, torch::ScalarType dtype,
                              torch::Device device, const Tolerance& tol);
inline void expect_matches_reference(const OpCheck& op, const OpCase& c, torch::ScalarType dtype,
                                     torch::Device device) {
  expect_matches_reference(op, c, dtype, device, default_tolerance(dtype));
}

// The reference's autograd gradients against central finite differences in float64, along
// `directions` random directions (each input with grad set).
void expect_reference_gradients_match_finite_differences(const OpCheck& op, const OpCase& c,
                                                         int directions = 3, double tol = 1e-6);

// Returns the failure messages expect_matches_reference would report, without reporting them
// (for the harness's own tests: a wrong op must be caught).
std::vector<std::string> reference_mismatches(const OpCheck& op, const OpCase& c, torch::ScalarType dtype,
                                              torch::Device device, const Tolerance& tol);

}  // namespace et::ops::test
