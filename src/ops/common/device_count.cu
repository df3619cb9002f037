// How many CUDA devices the runtime sees; tests and benchmarks skip their CUDA parts on zero.
#include <cuda_runtime.h>

#include "ops/common/device_count_cuda.h"

namespace et::cuda {

int device_count(std::string* why) {
  int n = 0;
  cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess) {
    if (why) *why = std::string("cudaGetDeviceCount failed: ") + cudaGetErrorString(e);
    cudaGetLastError();  // clear the sticky error so later calls are not poisoned
    return 0;
  }
  if (n == 0 && why) *why = "cudaGetDeviceCount returned 0 devices";
  return n;
}

}  // namespace et::cuda
