// Per-kernel GPU (and CPU op) timing of a region of the training loop through libtorch's profiler
// (Kineto). start_profiler() begins recording; stop_profiler(path) ends it and writes a Chrome
// trace (JSON) that bench/profile_summary.py turns into a per-op time table. Where a libtorch 1.x
// was built without Kineto (Debian's), CPU runs record through the legacy CPU profiler instead
// (every operator and autograd node of the calling thread; bench/profile_cpu_summary.py); elsewhere
// without Kineto both calls do nothing and stop_profiler returns false.
#pragma once
#include <string>

namespace et::bench {

void start_profiler(bool cuda);
bool stop_profiler(const std::string& trace_path);

}  // namespace et::bench
