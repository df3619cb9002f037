// Helpers for the CUDA tests: skip without a device, device buffers, tolerance checks.
#pragma once
#include <cuda_runtime.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "ops/common/device_count_cuda.h"

// Skips the test with the reason when no CUDA device is usable (CI machines, this container).
#define ET_REQUIRE_CUDA()                                                                   \
  do {                                                                                      \
    std::string why_;                                                                       \
    if (::et::cuda::device_count(&why_) == 0)                                               \
      GTEST_SKIP() << "no CUDA device (" << why_ << "); CUDA tests run on a GPU machine";   \
  } while (0)

#define ET_CUDA_OK(expr) ASSERT_EQ((expr), cudaSuccess) << cudaGetErrorString(cudaGetLastError())

namespace et::test {

// Owns cudaMalloc'ed bytes; copies to and from host vectors.
class DeviceBuffer {
 public:
  explicit DeviceBuffer(size_t bytes) : bytes_(bytes) {
    if (cudaMalloc(&ptr_, bytes ? bytes : 1) != cudaSuccess) ptr_ = nullptr;
  }
  ~DeviceBuffer() { cudaFree(ptr_); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  template <class T>
  T* as(size_t byte_offset = 0) const {
    return reinterpret_cast<T*>(static_cast<char*>(ptr_) + byte_offset);
  }
  template <class T>
  void upload(const std::vector<T>& v, size_t byte_offset = 0) {
    cudaMemcpy(static_cast<char*>(ptr_) + byte_offset, v.data(), v.size() * sizeof(T),
               cudaMemcpyHostToDevice);
  }
  template <class T>
  std::vector<T> download(size_t count, size_t byte_offset = 0) const {
    std::vector<T> v(count);
    cudaDeviceSynchronize();
    cudaMemcpy(v.data(), static_cast<char*>(ptr_) + byte_offset, count * sizeof(T),
               cudaMemcpyDeviceToHost);
    return v;
  }
  bool ok() const { return ptr_ != nullptr; }

 private:
  void* ptr_ = nullptr;
  size_t bytes_;
};

// Every |got - want| <= rel * |want| + abs_frac * max|want|; reports the worst element.
inline ::testing::AssertionResult all_close(const std::vector<float>& got,
                                            const std::vector<float>& want, double rel,
                                            double abs_frac) {
  if (got.size() != want.size()) return ::testing::AssertionFailure() << "size mismatch";
  double scale = 0;
  for (float v : want) scale = std::max(scale, std::fabs(static_cast<double>(v)));
  size_t worst = 0;
  double worst_excess = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    const double tol = rel * std::fabs(want[i]) + abs_frac * scale;
    const double excess = std::fabs(static_cast<double>(got[i]) - want[i]) - tol;
    if (!(excess <= worst_excess)) {
      worst_excess = excess;
      worst = i;
    }
  }
  if (worst_excess > 0 || std::isnan(got[worst]))
    return ::testing::AssertionFailure() << "element " << worst << ": got " << got[worst]
                                         << ", want " << want[worst] << " (rel " << rel
                                         << ", abs " << abs_frac << " x max " << scale << ")";
  return ::testing::AssertionSuccess();
}

}  // namespace et::test
