#include "ops/common/kernel_path.h"

#include <atomic>

#include "edgetune/core/error.h"

namespace et::ops {

namespace {
std::atomic<KernelPath> g_path{KernelPath::fast};
}

KernelPath kernel_path() { return g_path.load(std::memory_order_relaxed); }
void set_kernel_path(KernelPath p) { g_path.store(p, std::memory_order_relaxed); }

KernelPath parse_kernel_path(const std::string& name, const std::string& what) {
  if (name == "fast") return KernelPath::fast;
  if (name == "reference") return KernelPath::reference;
  fail(what, "unknown kernel path '", name, "' (fast, reference)");
}

const char* kernel_path_name(KernelPath p) { return p == KernelPath::fast ? "fast" : "reference"; }

}  // namespace et::ops
