#include "step_profiler.h"

#if __has_include(<torch/csrc/autograd/profiler_kineto.h>)
#include <torch/csrc/autograd/profiler_kineto.h>
#define ET_HAVE_KINETO_API 1
#else
#define ET_HAVE_KINETO_API 0
#endif

#include <torch/version.h>

#include <fstream>
#include <set>

// CPU runs on libtorch 1.x (Debian's CPU build has no Kineto): the legacy CPU profiler, which
// records every operator on the calling thread and writes the same Chrome trace format.
#if TORCH_VERSION_MAJOR < 2 && __has_include(<torch/csrc/autograd/profiler_legacy.h>)
#include <torch/csrc/autograd/profiler_legacy.h>
#define ET_HAVE_LEGACY_PROFILER 1
#else
#define ET_HAVE_LEGACY_PROFILER 0
#endif

namespace et::bench {

#if ET_HAVE_KINETO_API
namespace {
namespace tp = torch::profiler::impl;
std::set<tp::ActivityType> activities(bool cuda) {
  std::set<tp::ActivityType> a{tp::ActivityType::CPU};
  if (cuda) a.insert(tp::ActivityType::CUDA);
  return a;
}
bool g_cuda = false;
}  // namespace

#if ET_HAVE_LEGACY_PROFILER
bool g_legacy = false;
#endif

void start_profiler(bool cuda) {
  g_cuda = cuda;
#if ET_HAVE_LEGACY_PROFILER
  if (!cuda) {
    torch::autograd::profiler::enableProfilerLegacy(tp::ProfilerConfig(tp::ProfilerState::CPU));
    g_legacy = true;
    return;
  }
#endif
  const tp::ProfilerConfig config(tp::ProfilerState::KINETO);
  try {
    torch::autograd::profiler::prepareProfiler(config, activities(cuda));
    torch::autograd::profiler::enableProfiler(config, activities(cuda));
  } catch (const std::exception&) {
    // no Kineto in this libtorch: stop_profiler reports it
  }
}

bool stop_profiler(const std::string& trace_path) {
#if ET_HAVE_LEGACY_PROFILER
  if (g_legacy) {
    g_legacy = false;
    auto lists = torch::autograd::profiler::disableProfilerLegacy();
    std::vector<torch::autograd::profiler::LegacyEvent*> events;
    for (auto& l : lists)
      for (auto& e : l) events.push_back(&e);
    std::ofstream out(trace_path);
    torch::autograd::profiler::writeProfilerEventsToStream(out, events);
    return static_cast<bool>(out);
  }
#endif
  try {
    auto result = torch::autograd::profiler::disableProfiler();
    if (!result) return false;
    result->save(trace_path);  // throws where libtorch was built without Kineto
    return true;
  } catch (const std::exception&) {
    return false;
  }
}
#else
void start_profiler(bool) {}
bool stop_profiler(const std::string&) { return false; }
#endif

}  // namespace et::bench
