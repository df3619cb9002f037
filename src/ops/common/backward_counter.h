// Per-layer counts of the backward passes our autograd ops run (RMSNorm, the frozen linears' input
// gradients), so a test
// can see which decoder layers a backward actually went through (the gradient cut).
//
// The trainer wraps each decoder layer's forward in a LayerTagScope; an op's forward records the
// tag current on its thread, and its backward (whatever thread runs it) adds one to that layer's
// counter. Ops run outside any scope count under the tag -1 (untagged). The counters are relaxed
// atomics: one increment per op backward, safe from any thread.
#pragma once
#include <cstdint>
#include <vector>

namespace et::ops {

// Sets the layer tag of the calling thread for its lifetime (and restores the previous one).
class LayerTagScope {
 public:
  explicit LayerTagScope(int layer);
  ~LayerTagScope();
  LayerTagScope(const LayerTagScope&) = delete;
  LayerTagScope& operator=(const LayerTagScope&) = delete;

 private:
  int previous_;
};

// The calling thread's current tag (-1 outside any LayerTagScope).
int current_layer_tag();
// One backward ran for an op recorded under `tag` (tags outside [0, 4096) count as untagged).
void count_backward(int tag);
// `n` backward passes at once (a fused op that does the work of n).
void count_backward(int tag, int64_t n);
// Counts of layers 0..num_layers-1 since the last reset.
std::vector<int64_t> backward_counts(int num_layers);
// Backward passes of ops recorded outside any layer scope (or with a tag out of range).
int64_t untagged_backward_count();
void reset_backward_counts();

}  // namespace et::ops
