// The limits the CUDA launchers size their grids and shared memory by: the current device's own,
// or, with EDGETUNE_LAUNCH_LIMITS set (read once per process), the smaller of those and another
// device's, so the kernels can be checked on a large GPU against a Jetson's launch limits:
//
//   EDGETUNE_LAUNCH_LIMITS=orin       Jetson AGX Orin (sm_87): 16 SMs
//   EDGETUNE_LAUNCH_LIMITS=orin-nano  Jetson Orin Nano / Orin NX 8 GB (sm_87): 8 SMs
//   unset or "device"               the device's own limits
//
// Both Orin profiles share compute capability 8.7's per-block and per-SM limits (CUDA C++
// Programming Guide, "Technical Specifications per Compute Capability"): 48 KB of shared memory
// per block without opt-in and 163 KB with it (164 KB per SM), 1024 threads per block, at most
// 1536 resident threads and 16 resident blocks per SM, 64K 32-bit registers per SM; and the Orin GPU's 4 MB of L2 (NVIDIA
// Jetson AGX Orin Series Technical Brief: 2 GPCs, 16 SMs of 128 CUDA cores; the Orin Nano 8 GB and
// Orin NX 8 GB have 8 SMs). The H200 (sm_90) has 132 SMs, 227 KB opt-in shared memory per block,
// 2048 resident threads and 32 blocks per SM, and 50 MB of L2.
//
// Under a profile every launcher checks its kernel against the limits before launching
// (check_kernel_fits: static plus dynamic shared memory within the default per-block limit,
// block size within the per-block limit and what the kernel's registers allow there), and grids
// sized from the device (grid_stride_blocks, rmsnorm's backward partial sums) get the profile's SM
// count and residency, so they run with Orin's number of blocks. No launcher reads an SM count,
// a shared-memory size or an L2 size from anywhere else.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace et::cuda {

struct LaunchLimits {
  std::string profile = "device";      // "device", "orin", "orin-nano"
  int sm_count = 0;                    // streaming multiprocessors the grids are sized for
  int max_threads_per_block = 0;       // threads of one block
  int max_threads_per_sm = 0;          // resident threads per SM
  int max_blocks_per_sm = 0;           // resident blocks per SM
  int regs_per_sm = 0;                 // 32-bit registers per SM
  std::size_t smem_per_block = 0;      // bytes of shared memory per block without opt-in
  std::size_t smem_per_block_optin = 0;  // bytes with cudaFuncAttributeMaxDynamicSharedMemorySize
  std::size_t l2_bytes = 0;
};

// The caps of a named profile (every field but `profile` is an upper bound; 0: no cap).
// "" and "device" give no caps; an unknown name is an error listing the known ones.
LaunchLimits launch_limits_profile(const std::string& name);

// The element-wise minimum of a device's limits and a profile's caps (0 in the caps: no cap).
LaunchLimits cap_limits(const LaunchLimits& device, const LaunchLimits& caps);

// The current device's limits, capped by EDGETUNE_LAUNCH_LIMITS (read once; cached per device).
const LaunchLimits& launch_limits();
// True when EDGETUNE_LAUNCH_LIMITS names a profile other than the device's own.
bool launch_limits_imposed();

// Blocks for a grid-stride kernel of `threads` threads over `items` work items: enough to fill
// every SM with resident blocks twice (2 x sm_count x resident blocks per SM), never more than the
// items need.
int64_t grid_stride_blocks(int64_t items, int threads);

// What a kernel needs at launch (cudaFuncAttributes' fields that the limits bound).
struct KernelNeeds {
  std::size_t static_smem = 0;  // bytes of __shared__ arrays
  int regs_per_thread = 0;
  int max_threads_per_block = 0;  // the most the kernel can launch with (launch bounds, registers)
};
// Why a launch of `threads` threads with `dynamic_smem` bytes does not fit `limits` ("" if it does).
std::string kernel_fit_problem(const KernelNeeds& k, int threads, std::size_t dynamic_smem, const LaunchLimits& limits);

// Under an imposed profile: throws et::Error naming `where` when the kernel does not fit its
// limits. Without one it does nothing (the launch itself reports a kernel that does not fit).
void check_kernel_fits(const void* kernel, int threads, std::size_t dynamic_smem, const char* where);

}  // namespace et::cuda
