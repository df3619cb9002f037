#include "step_profiler.h"

#if __has_include(<torch/csrc/autograd/profiler_kineto.h>)
#include <torch/csrc/autograd/profiler_kineto.h>
#define ET_HAVE_KINETO_API 1
#else
#define ET_HAVE_KINETO_API 0
#endif

#include <set>

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

void start_profiler(bool cuda) {
  g_cuda = cuda;
  const tp::ProfilerConfig config(tp::ProfilerState::KINETO);
  try {
    torch::autograd::profiler::prepareProfiler(config, activities(cuda));
    torch::autograd::profiler::enableProfiler(config, activities(cuda));
  } catch (const std::exception&) {
    // no Kineto in this libtorch: stop_profiler reports it
  }
}

bool stop_profiler(const std::string& trace_path) {
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
