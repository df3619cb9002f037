// Where a CPU training step's memory goes: the bytes libtorch's CPU allocator has handed out
// (counted by an allocator wrapped around the default one), at their peak after the forward of the
// first micro-batch and over the whole step, against the process's resident peak and the memory
// planner's estimate of the same recipe. For calibrating train/memory_estimate.cpp.
//
//   memory_probe RECIPE.yaml [--steps 2]
//
// stdout: one JSON object (MiB): live_after_load, live_peak_forward, live_peak_step, rss_peak, and
// the estimate's terms.
#include <c10/core/CPUAllocator.h>
#include <torch/version.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "edgetune/adapt/plan.h"
#include "edgetune/train/causal_lm_loss.h"
#include "edgetune/train/memory_plan.h"
#include "edgetune/train/trainer.h"

namespace {

constexpr double kMiB = 1024.0 * 1024.0;

struct CountingAllocator final : c10::Allocator {
  c10::Allocator* base = nullptr;
  mutable std::atomic<int64_t> current{0}, peak{0};

  struct Ctx {
    c10::DataPtr inner;
    size_t n;
    const CountingAllocator* self;
  };
  static void release(void* p) {
    auto* c = static_cast<Ctx*>(p);
    c->self->current -= static_cast<int64_t>(c->n);
    delete c;
  }
// libtorch 2.3 made allocate() non-const and added copy_data().
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 3)
#define ET_ALLOCATE_CONST
  void copy_data(void* dest, const void* src, std::size_t count) const override { default_copy_data(dest, src, count); }
#else
#define ET_ALLOCATE_CONST const
#endif
  c10::DataPtr allocate(size_t n) ET_ALLOCATE_CONST override {
    c10::DataPtr inner = base->allocate(n);
    void* data = inner.get();
    const int64_t now = current += static_cast<int64_t>(n);
    int64_t p = peak.load();
    while (now > p && !peak.compare_exchange_weak(p, now)) {
    }
    return {data, new Ctx{std::move(inner), n, this}, &release, c10::Device(c10::DeviceType::CPU)};
  }
  c10::DeleterFnPtr raw_deleter() const override { return nullptr; }
  void reset_peak() const { peak = current.load(); }
};

CountingAllocator g_counting;

double rss_peak_mib() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("VmHWM:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string recipe_path;
  int steps = 2;
  CLI::App app{"the live tensor bytes of a CPU training step against the memory estimate"};
  app.add_option("recipe", recipe_path, "recipe YAML")->required();
  app.add_option("--steps", steps, "optimizer steps");
  CLI11_PARSE(app, argc, argv);
  g_counting.base = c10::GetDefaultCPUAllocator();
  c10::SetCPUAllocator(&g_counting, /*priority=*/100);
  try {
    using namespace et;
    Recipe r = load_recipe(recipe_path);
    const MemoryReport rep = memory_report(r);
    TrainSession s = open_session(r);
    apply_plan(s, plan_all(s.model, s.recipe.adapters));
    apply_memory_budget(s, &s.plan);
    const Recipe& R = s.recipe;
    AdamW opt(s.params, {R.train.beta1, R.train.beta2, R.train.adam_eps, R.train.weight_decay});
    BatchStream stream(s.train_examples, R.train.batch_size, R.data.max_seq_len, R.data.pack, 0, 7);
    LossOptions lo;
    lo.grad_checkpoint = R.train.grad_checkpoint;
    const double after_load = g_counting.current.load() / kMiB;
    g_counting.reset_peak();
    double fwd = 0;
    for (int step = 0; step < steps; ++step) {
      for (int k = 0; k < R.train.grad_accum; ++k) {
        BatchTensors bt = to_tensors(stream.next(), s.model.device);
        torch::Tensor loss = causal_lm_loss_sum(s.model, bt, lo);
        if (step == 0 && k == 0) fwd = g_counting.peak.load() / kMiB;
        (loss / 1000.0).backward();
      }
      const GradClip clip = grad_clip(s.params, R.train.max_grad_norm);
      opt.step(1e-4, clip.scale);
      opt.zero_grad();
    }
    const MemoryEstimate& e = rep.at_recipe;
    nlohmann::json out{{"live_after_load", after_load},
                       {"live_peak_forward", fwd},
                       {"live_peak_step", g_counting.peak.load() / kMiB},
                       {"rss_peak", rss_peak_mib()},
                       {"estimate", memory_report_json(rep)["at_recipe"]},
                       {"estimate_live", (e.weights + e.embeddings + e.adapters + e.activations + e.cross_entropy +
                                          e.transient + e.cut_cache) /
                                             kMiB}};
    std::cout << out.dump() << std::endl;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "memory_probe: %s\n", e.what());
    return 1;
  }
  return 0;
}
