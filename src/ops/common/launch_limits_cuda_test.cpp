// The launch limits (launch_limits_cuda.h): the Orin profiles' values against the CUDA C++
// Programming Guide's table for compute capability 8.7, capping, the fit check's verdicts, and on
// a device the limits the launchers use: the device's own, or capped by EDGETUNE_LAUNCH_LIMITS
// (scripts/device_orin_limits.sh runs the CUDA tests with it set).
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <string>

#include "edgetune/core/error.h"
#include "ops/common/cuda_test_util.h"
#include "ops/common/launch_limits_cuda.h"

namespace {

using et::cuda::KernelNeeds;
using et::cuda::LaunchLimits;

TEST(LaunchLimits, OrinProfilesHoldComputeCapability87Limits) {
  const LaunchLimits o = et::cuda::launch_limits_profile("orin");
  EXPECT_EQ(o.profile, "orin");
  EXPECT_EQ(o.sm_count, 16);  // AGX Orin: 2 GPCs x 4 TPCs x 2 SMs
  EXPECT_EQ(o.max_threads_per_block, 1024);
  EXPECT_EQ(o.max_threads_per_sm, 1536);
  EXPECT_EQ(o.max_blocks_per_sm, 16);
  EXPECT_EQ(o.regs_per_sm, 64 * 1024);
  EXPECT_EQ(o.smem_per_block, 48u * 1024);
  EXPECT_EQ(o.smem_per_block_optin, 163u * 1024);
  EXPECT_EQ(o.l2_bytes, 4u << 20);
  const LaunchLimits n = et::cuda::launch_limits_profile("orin-nano");
  EXPECT_EQ(n.sm_count, 8);
  EXPECT_EQ(n.smem_per_block, o.smem_per_block);
}

TEST(LaunchLimits, DeviceProfileCapsNothingAndUnknownNamesAreErrors) {
  for (const char* name : {"", "device"}) {
    const LaunchLimits d = et::cuda::launch_limits_profile(name);
    EXPECT_EQ(d.profile, "device");
    EXPECT_EQ(d.sm_count, 0);
    EXPECT_EQ(d.smem_per_block, 0u);
  }
  try {
    et::cuda::launch_limits_profile("jetson");
    FAIL() << "an unknown profile was accepted";
  } catch (const et::Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("EDGETUNE_LAUNCH_LIMITS"), std::string::npos) << what;
    EXPECT_NE(what.find("orin-nano"), std::string::npos) << what;
  }
}

TEST(LaunchLimits, CapTakesTheSmallerOfEachAndZeroCapsNothing) {
  LaunchLimits h200;  // sm_90's values
  h200.sm_count = 132;
  h200.max_threads_per_block = 1024;
  h200.max_threads_per_sm = 2048;
  h200.max_blocks_per_sm = 32;
  h200.regs_per_sm = 65536;
  h200.smem_per_block = 48 * 1024;
  h200.smem_per_block_optin = 227 * 1024;
  h200.l2_bytes = 50u << 20;
  const LaunchLimits c = et::cuda::cap_limits(h200, et::cuda::launch_limits_profile("orin"));
  EXPECT_EQ(c.profile, "orin");
  EXPECT_EQ(c.sm_count, 16);
  EXPECT_EQ(c.max_threads_per_sm, 1536);
  EXPECT_EQ(c.max_blocks_per_sm, 16);
  EXPECT_EQ(c.smem_per_block_optin, 163u * 1024);
  EXPECT_EQ(c.l2_bytes, 4u << 20);
  EXPECT_EQ(c.smem_per_block, 48u * 1024);
  const LaunchLimits same = et::cuda::cap_limits(h200, et::cuda::launch_limits_profile("device"));
  EXPECT_EQ(same.sm_count, 132);
  EXPECT_EQ(same.smem_per_block_optin, 227u * 1024);
  LaunchLimits small = h200;
  small.sm_count = 8;  // a device smaller than the profile keeps its own value
  EXPECT_EQ(et::cuda::cap_limits(small, et::cuda::launch_limits_profile("orin")).sm_count, 8);
}

TEST(LaunchLimits, FitCheckNamesWhatDoesNotFit) {
  const LaunchLimits o = et::cuda::launch_limits_profile("orin");
  KernelNeeds k;
  k.static_smem = 128;
  k.regs_per_thread = 32;
  k.max_threads_per_block = 1024;
  EXPECT_EQ(et::cuda::kernel_fit_problem(k, 256, 0, o), "");
  EXPECT_EQ(et::cuda::kernel_fit_problem(k, 1024, 48 * 1024 - 128, o), "");  // exactly the limit
  const std::string smem = et::cuda::kernel_fit_problem(k, 256, 48 * 1024, o);
  EXPECT_NE(smem.find("shared memory"), std::string::npos) << smem;
  EXPECT_NE(smem.find("orin"), std::string::npos) << smem;
  KernelNeeds heavy = k;
  heavy.regs_per_thread = 128;  // 128 x 1024 > 65536 registers
  EXPECT_NE(et::cuda::kernel_fit_problem(heavy, 1024, 0, o).find("registers"), std::string::npos);
  EXPECT_EQ(et::cuda::kernel_fit_problem(heavy, 512, 0, o), "");
  KernelNeeds bounded = k;
  bounded.max_threads_per_block = 256;  // __launch_bounds__(256)
  EXPECT_NE(et::cuda::kernel_fit_problem(bounded, 512, 0, o).find("kernel's 256"), std::string::npos);
  EXPECT_NE(et::cuda::kernel_fit_problem(k, 2048, 0, o).find("threads per block"), std::string::npos);
}

// On a device: the limits the launchers use are the device's, capped by the profile in
// EDGETUNE_LAUNCH_LIMITS when it is set; grid-stride grids are two waves of resident blocks.
TEST(LaunchLimits, DeviceLimitsAreCappedByTheEnvironmentsProfile) {
  ET_REQUIRE_CUDA();
  int dev = 0;
  ET_CUDA_OK(cudaGetDevice(&dev));
  cudaDeviceProp p{};
  ET_CUDA_OK(cudaGetDeviceProperties(&p, dev));
  const char* env = std::getenv("EDGETUNE_LAUNCH_LIMITS");
  const LaunchLimits caps = et::cuda::launch_limits_profile(env ? env : "");
  const LaunchLimits& l = et::cuda::launch_limits();
  auto capped = [](int v, int cap) { return cap > 0 && cap < v ? cap : v; };
  EXPECT_EQ(l.profile, caps.profile);
  EXPECT_EQ(et::cuda::launch_limits_imposed(), caps.profile != "device");
  EXPECT_EQ(l.sm_count, capped(p.multiProcessorCount, caps.sm_count));
  EXPECT_EQ(l.max_threads_per_sm, capped(p.maxThreadsPerMultiProcessor, caps.max_threads_per_sm));
  EXPECT_EQ(l.max_blocks_per_sm, capped(p.maxBlocksPerMultiProcessor, caps.max_blocks_per_sm));
  EXPECT_EQ(static_cast<int>(l.smem_per_block), capped(static_cast<int>(p.sharedMemPerBlock), static_cast<int>(caps.smem_per_block)));
  const int per_sm = std::min(l.max_blocks_per_sm, l.max_threads_per_sm / 256);
  EXPECT_EQ(et::cuda::grid_stride_blocks(int64_t{1} << 40, 256), int64_t{2} * l.sm_count * per_sm);
  EXPECT_EQ(et::cuda::grid_stride_blocks(1000, 256), 4);  // never more blocks than the items need
  EXPECT_EQ(et::cuda::grid_stride_blocks(0, 256), 1);
  if (caps.profile == "orin") {
    EXPECT_EQ(et::cuda::grid_stride_blocks(int64_t{1} << 40, 256), 2 * 16 * 6);  // 1536 / 256 = 6 blocks per SM
  }
  std::printf("launch limits (%s) on %s: %d SMs, %d threads and %d blocks per SM, %zu B shared memory per block\n",
              l.profile.c_str(), p.name, l.sm_count, l.max_threads_per_sm, l.max_blocks_per_sm, l.smem_per_block);
}

}  // namespace
