// Device queries shared by tests and benchmarks: is there a usable CUDA device?
#pragma once
#include <string>

namespace et::cuda {

// Number of CUDA devices; 0 (and `why` filled) when the runtime or driver reports none.
int device_count(std::string* why = nullptr);

}  // namespace et::cuda
