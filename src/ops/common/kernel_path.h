// Which implementation the ops run: the fast path (fused CPU and CUDA kernels) or the reference
// (the same math as plain libtorch ops, differentiated by autograd). Process-wide, set once from the
// recipe (train.kernels) before a run; the reference stays selectable so the fast path can always
// be checked against it (same losses within rounding: tests/train).
#pragma once
#include <string>

namespace et::ops {

enum class KernelPath { fast, reference };

KernelPath kernel_path();
void set_kernel_path(KernelPath p);
// "fast" | "reference"; anything else is an error naming `what`.
KernelPath parse_kernel_path(const std::string& name, const std::string& what);
const char* kernel_path_name(KernelPath p);

// Sets the path for its lifetime and restores the previous one (tests).
class KernelPathScope {
 public:
  explicit KernelPathScope(KernelPath p) : previous_(kernel_path()) { set_kernel_path(p); }
  ~KernelPathScope() { set_kernel_path(previous_); }
  KernelPathScope(const KernelPathScope&) = delete;
  KernelPathScope& operator=(const KernelPathScope&) = delete;

 private:
  KernelPath previous_;
};

}  // namespace et::ops
