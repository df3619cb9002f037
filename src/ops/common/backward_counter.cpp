// Per-layer backward counters (see backward_counter.h): a thread-local tag and a fixed array of
// relaxed atomic counters.
#include "ops/common/backward_counter.h"

#include <array>
#include <atomic>
#include <cstddef>

namespace et::ops {

namespace {
constexpr int kMaxLayers = 4096;
thread_local int t_tag = -1;
std::array<std::atomic<int64_t>, kMaxLayers> g_counts{};
std::atomic<int64_t> g_untagged{0};
}  // namespace

LayerTagScope::LayerTagScope(int layer) : previous_(t_tag) { t_tag = layer; }
LayerTagScope::~LayerTagScope() { t_tag = previous_; }

int current_layer_tag() { return t_tag; }

void count_backward(int tag) { count_backward(tag, 1); }

void count_backward(int tag, int64_t n) {
  if (tag >= 0 && tag < kMaxLayers)
    g_counts[static_cast<std::size_t>(tag)].fetch_add(n, std::memory_order_relaxed);
  else
    g_untagged.fetch_add(n, std::memory_order_relaxed);
}

std::vector<int64_t> backward_counts(int num_layers) {
  std::vector<int64_t> out;
  for (int l = 0; l < num_layers; ++l)
    out.push_back(l < kMaxLayers ? g_counts[static_cast<std::size_t>(l)].load(std::memory_order_relaxed) : 0);
  return out;
}

int64_t untagged_backward_count() { return g_untagged.load(std::memory_order_relaxed); }

void reset_backward_counts() {
  for (auto& c : g_counts) c.store(0, std::memory_order_relaxed);
  g_untagged.store(0, std::memory_order_relaxed);
}

}  // namespace et::ops
