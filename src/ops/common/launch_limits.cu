// The launchers' limits: the device's, capped by the EDGETUNE_LAUNCH_LIMITS profile (launch_limits_cuda.h).
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdlib>
#include <mutex>

#include "ops/common/cuda_util.cuh"
#include "ops/common/launch_limits_cuda.h"

namespace et::cuda {

LaunchLimits launch_limits_profile(const std::string& name) {
  LaunchLimits c;
  if (name.empty() || name == "device") return c;
  if (name != "orin" && name != "orin-nano")
    fail("cuda", "EDGETUNE_LAUNCH_LIMITS is '", name, "'; choose one of: device, orin, orin-nano");
  // Compute capability 8.7 (both Orin modules), see the header for the sources.
  c.profile = name;
  c.sm_count = name == "orin" ? 16 : 8;
  c.max_threads_per_block = 1024;
  c.max_threads_per_sm = 1536;
  c.max_blocks_per_sm = 16;
  c.regs_per_sm = 65536;
  c.smem_per_block = 48 * 1024;
  c.smem_per_block_optin = 163 * 1024;
  c.l2_bytes = 4 << 20;
  return c;
}

LaunchLimits cap_limits(const LaunchLimits& d, const LaunchLimits& c) {
  auto cap = [](auto v, auto limit) { return limit > 0 ? std::min(v, static_cast<decltype(v)>(limit)) : v; };
  LaunchLimits r = d;
  r.profile = c.profile;
  r.sm_count = cap(d.sm_count, c.sm_count);
  r.max_threads_per_block = cap(d.max_threads_per_block, c.max_threads_per_block);
  r.max_threads_per_sm = cap(d.max_threads_per_sm, c.max_threads_per_sm);
  r.max_blocks_per_sm = cap(d.max_blocks_per_sm, c.max_blocks_per_sm);
  r.regs_per_sm = cap(d.regs_per_sm, c.regs_per_sm);
  r.smem_per_block = cap(d.smem_per_block, c.smem_per_block);
  r.smem_per_block_optin = cap(d.smem_per_block_optin, c.smem_per_block_optin);
  r.l2_bytes = cap(d.l2_bytes, c.l2_bytes);
  return r;
}

namespace {

const LaunchLimits& profile_caps() {
  static const LaunchLimits caps = [] {
    const char* env = std::getenv("EDGETUNE_LAUNCH_LIMITS");
    return launch_limits_profile(env ? env : "");
  }();
  return caps;
}

LaunchLimits query_device(int dev) {
  auto attr = [dev](cudaDeviceAttr a, const char* what) {
    int v = 0;
    check_cuda(cudaDeviceGetAttribute(&v, a, dev), "cuda", what);
    return v;
  };
  LaunchLimits d;
  d.sm_count = attr(cudaDevAttrMultiProcessorCount, "SM count");
  d.max_threads_per_block = attr(cudaDevAttrMaxThreadsPerBlock, "threads per block");
  d.max_threads_per_sm = attr(cudaDevAttrMaxThreadsPerMultiProcessor, "threads per SM");
  d.max_blocks_per_sm = attr(cudaDevAttrMaxBlocksPerMultiprocessor, "blocks per SM");
  d.regs_per_sm = attr(cudaDevAttrMaxRegistersPerMultiprocessor, "registers per SM");
  d.smem_per_block = static_cast<std::size_t>(attr(cudaDevAttrMaxSharedMemoryPerBlock, "shared memory per block"));
  d.smem_per_block_optin =
      static_cast<std::size_t>(attr(cudaDevAttrMaxSharedMemoryPerBlockOptin, "opt-in shared memory per block"));
  d.l2_bytes = static_cast<std::size_t>(attr(cudaDevAttrL2CacheSize, "L2 size"));
  return d;
}

}  // namespace

bool launch_limits_imposed() { return profile_caps().profile != "device"; }

const LaunchLimits& launch_limits() {
  constexpr int kMaxDevices = 64;
  static LaunchLimits cache[kMaxDevices];
  static std::once_flag once[kMaxDevices];
  int dev = 0;
  check_cuda(cudaGetDevice(&dev), "cuda", "current device");
  ET_CHECK(dev >= 0 && dev < kMaxDevices, "cuda", "device index ", dev, " out of range");
  std::call_once(once[dev], [dev] { cache[dev] = cap_limits(query_device(dev), profile_caps()); });
  return cache[dev];
}

int64_t grid_stride_blocks(int64_t items, int threads) {
  const LaunchLimits& l = launch_limits();
  const int per_sm = std::max(1, std::min(l.max_blocks_per_sm, l.max_threads_per_sm / std::max(1, threads)));
  // Two waves of resident blocks (on the H200: 132 SMs x 8 blocks of 256 threads x 2).
  const int64_t full = static_cast<int64_t>(l.sm_count) * per_sm * 2;
  const int64_t need = (items + threads - 1) / threads;
  return std::max<int64_t>(1, std::min(need, full));
}

std::string kernel_fit_problem(const KernelNeeds& k, int threads, std::size_t dynamic_smem, const LaunchLimits& l) {
  const std::string on = " (" + l.profile + " limits)";
  const std::size_t smem = k.static_smem + dynamic_smem;
  if (l.smem_per_block > 0 && smem > l.smem_per_block)
    return std::to_string(smem) + " bytes of shared memory per block, more than the " +
           std::to_string(l.smem_per_block) + " a block gets without opt-in" + on;
  if (k.max_threads_per_block > 0 && threads > k.max_threads_per_block)
    return std::to_string(threads) + " threads per block, more than the kernel's " +
           std::to_string(k.max_threads_per_block) + on;
  if (threads <= 0) return std::to_string(threads) + " threads per block";
  if (l.max_threads_per_block > 0 && threads > l.max_threads_per_block)
    return std::to_string(threads) + " threads per block, more than the " + std::to_string(l.max_threads_per_block) +
           " a block may have" + on;
  if (l.max_threads_per_sm > 0 && threads > l.max_threads_per_sm)
    return std::to_string(threads) + " threads per block, more than an SM holds" + on;
  if (l.regs_per_sm > 0 && static_cast<int64_t>(k.regs_per_thread) * threads > l.regs_per_sm)
    return std::to_string(threads) + " threads of " + std::to_string(k.regs_per_thread) +
           " registers, more than the " + std::to_string(l.regs_per_sm) + " registers of an SM" + on;
  return "";
}

void check_kernel_fits(const void* kernel, int threads, std::size_t dynamic_smem, const char* where) {
  if (!launch_limits_imposed()) return;
  cudaFuncAttributes a{};
  check_cuda(cudaFuncGetAttributes(&a, kernel), where, "kernel attributes");
  KernelNeeds k;
  k.static_smem = a.sharedSizeBytes;
  k.regs_per_thread = a.numRegs;
  k.max_threads_per_block = a.maxThreadsPerBlock;
  const std::string why = kernel_fit_problem(k, threads, dynamic_smem, launch_limits());
  if (!why.empty()) fail(where, "the kernel does not fit: ", why);
}

}  // namespace et::cuda
