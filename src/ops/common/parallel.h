// at::parallel_for for the CPU kernels, with the one condition it needs to run in parallel.
//
// libtorch's OpenMP backend (AT_PARALLEL_OPENMP, Debian's and the CUDA wheels') defines
// at::parallel_for inline: its `#pragma omp parallel` is compiled into the calling file, and in a
// file compiled without OpenMP the whole range runs on the calling thread, with no error. The
// build compiles every file with OpenMP (CMakeLists.txt); this header makes a file that calls
// at::parallel_for fail to compile when it is not, instead of losing its threads silently.
#pragma once
#include <ATen/Parallel.h>

#if AT_PARALLEL_OPENMP && !defined(_OPENMP) && !defined(EDGETUNE_NO_OPENMP)
#error "at::parallel_for runs on one thread in a file compiled without OpenMP: compile it with -fopenmp (CMakeLists.txt)"
#endif
