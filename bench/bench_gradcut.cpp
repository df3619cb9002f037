// What the gradient cut buys: the time of one training step (forward + backward of
// causal_lm_loss_sum) of QLoRA with rank-8 LoRA on every matrix of layers >= cut, for each cut
// layer; cut 0 is all-matrix LoRA. The batch is fixed random tokens (rows x seq, 40% targets), so
// only the adapters vary. With ET_BENCH_PLAN=plan.json, PlanVsAll also times that plan against
// all-matrix LoRA step by step in alternation (so a machine shared with other work slows both
// alike): counters all_ms and plan_ms are medians, ratio the median of the per-pair ratios.
// LastLayerAtTargets times the loss as training runs it (the last layer only at the positions that
// predict a target) against the whole last layer followed by the same gather and cross-entropy,
// also in alternation, with all-matrix LoRA: counters whole_ms, at_targets_ms, ratio.
//
//   build/bench/bench_gradcut                             # stories260K on the CPU
//   ET_BENCH_MODEL=DIR ET_BENCH_INIT_RANDOM=1 ET_BENCH_DEVICE=cuda ET_BENCH_DTYPE=bfloat16
//     ET_BENCH_ROWS=16 ET_BENCH_SEQ=512 build/bench/bench_gradcut  # a config.json-only model, GPU
#include <benchmark/benchmark.h>
#include <torch/cuda.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "edgetune/adapt/adapters.h"
#include "edgetune/core/error.h"
#include "ops/cross_entropy/cross_entropy.h"
#include "edgetune/model/forward.h"
#include "edgetune/model/model.h"
#include "edgetune/train/causal_lm_loss.h"

namespace {

std::string env(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v && *v ? v : fallback;
}

// Seconds of one forward + backward with `adapters` attached.
double timed_step(et::model::Model& m, const et::BatchTensors& batch, const et::AdapterSet& adapters) {
  et::attach_adapters(m, adapters);
  et::LossOptions lo;
  lo.cut_layer = adapters.plan.cut_layer();
  const auto t0 = std::chrono::steady_clock::now();
  torch::Tensor loss = et::causal_lm_loss_sum(m, batch, lo);
  loss.backward();
  if (m.device.is_cuda()) torch::cuda::synchronize();
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  for (auto& kv : adapters.named_parameters()) kv.second.mutable_grad() = torch::Tensor();
  return s;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

void plan_vs_all(benchmark::State& state, et::model::Model* m, const et::BatchTensors* batch, const et::Plan* plan) {
  et::AdapterOptions o;
  o.rank = 8;
  o.alpha = 16;
  const et::AdapterSet all = et::create_adapters(et::plan_all(*m, o), 0, m->device);
  const et::AdapterSet ours = et::create_adapters(*plan, 0, m->device);
  std::vector<double> t_all, t_plan, ratio;
  for (auto _ : state) {
    t_all.push_back(timed_step(*m, *batch, all));
    t_plan.push_back(timed_step(*m, *batch, ours));
    ratio.push_back(t_plan.back() / t_all.back());
  }
  et::detach_adapters(*m);
  state.counters["all_ms"] = 1e3 * median(t_all);
  state.counters["plan_ms"] = 1e3 * median(t_plan);
  state.counters["ratio"] = median(ratio);
}

// The loss with every layer run whole, then the rows that predict a target: the baseline of
// LastLayerAtTargets (equal to causal_lm_loss_sum, tests/train/cut_test.cpp).
torch::Tensor loss_whole_last_layer(const et::model::Model& m, const et::BatchTensors& b) {
  et::model::ForwardInputs in;
  in.positions = b.positions;
  in.segment_ids = b.segments;
  torch::Tensor h = et::model::forward_layers(m, et::model::embed(m, b.ids), 0, static_cast<int>(m.layers.size()), in);
  h = et::model::final_norm(m, h);
  const int64_t H = h.size(-1);
  const auto rows = b.target.slice(1, 1).reshape(-1).nonzero().squeeze(1);
  const auto x = h.slice(1, 0, h.size(1) - 1).reshape({-1, H}).index_select(0, rows);
  const auto y = b.ids.slice(1, 1).reshape(-1).index_select(0, rows);
  return et::ops::chunked_cross_entropy(x, m.lm_head, y, m.config.final_softcap);
}

void last_layer_at_targets(benchmark::State& state, et::model::Model* m, const et::BatchTensors* batch) {
  et::AdapterOptions o;
  o.rank = 8;
  o.alpha = 16;
  const et::AdapterSet a = et::create_adapters(et::plan_all(*m, o), 0, m->device);
  et::attach_adapters(*m, a);
  auto timed = [&](bool whole) {
    const auto t0 = std::chrono::steady_clock::now();
    torch::Tensor loss = whole ? loss_whole_last_layer(*m, *batch) : et::causal_lm_loss_sum(*m, *batch, {});
    loss.backward();
    if (m->device.is_cuda()) torch::cuda::synchronize();
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    for (auto& kv : a.named_parameters()) kv.second.mutable_grad() = torch::Tensor();
    return s;
  };
  std::vector<double> t_whole, t_at, ratio;
  for (auto _ : state) {
    t_whole.push_back(timed(true));
    t_at.push_back(timed(false));
    ratio.push_back(t_at.back() / t_whole.back());
  }
  et::detach_adapters(*m);
  state.counters["whole_ms"] = 1e3 * median(t_whole);
  state.counters["at_targets_ms"] = 1e3 * median(t_at);
  state.counters["ratio"] = median(ratio);
}

void train_step_with_cut(benchmark::State& state, et::model::Model* m, const et::BatchTensors* batch) {
  const int cut = static_cast<int>(state.range(0));
  et::AdapterOptions o;
  o.rank = 8;
  o.alpha = 16;
  et::Plan plan = et::plan_all(*m, o);
  for (auto& e : plan.entries)
    if (e.layer < cut) e.kind = et::AdapterKind::none;
  et::AdapterSet a = et::create_adapters(plan, 0, m->device);
  et::attach_adapters(*m, a);
  et::LossOptions lo;
  lo.cut_layer = plan.cut_layer();
  for (auto _ : state) {
    torch::Tensor loss = et::causal_lm_loss_sum(*m, *batch, lo);
    loss.backward();
    for (auto& kv : a.named_parameters()) kv.second.mutable_grad() = torch::Tensor();
    if (m->device.is_cuda()) torch::cuda::synchronize();
  }
  et::detach_adapters(*m);
  state.counters["tokens/s"] =
      benchmark::Counter(static_cast<double>(batch->num_tokens * state.iterations()), benchmark::Counter::kIsRate);
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  static et::model::Model model;
  static et::BatchTensors batch;
  try {
    et::model::LoadOptions lo;
    lo.quantize_nf4 = true;
    lo.init_random = env("ET_BENCH_INIT_RANDOM", "0") == "1";
    lo.device = et::model::parse_device(env("ET_BENCH_DEVICE", "cpu"));
    lo.dtype = et::model::parse_compute_dtype(env("ET_BENCH_DTYPE", "float32"), "ET_BENCH_DTYPE");
    model = et::model::load_model(env("ET_BENCH_MODEL", "../shared/models/stories260K"), lo);
    const int64_t B = std::stoll(env("ET_BENCH_ROWS", "8")), T = std::stoll(env("ET_BENCH_SEQ", "256"));
    torch::manual_seed(0);
    batch.ids = torch::randint(3, std::min<int64_t>(model.config.vocab_size, 512), {B, T}, torch::kLong).to(lo.device);
    batch.positions = torch::arange(T, torch::kLong).unsqueeze(0).expand({B, T}).contiguous().to(lo.device);
    batch.segments = torch::zeros({B, T}, torch::kLong).to(lo.device);
    batch.target = (torch::rand({B, T}) < 0.4).to(lo.device);
    batch.num_targets = batch.target.slice(1, 1).sum().item<int64_t>();
    batch.num_tokens = B * T;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_gradcut: %s\n", e.what());
    return 1;
  }
  const int L = static_cast<int>(model.config.num_layers);
  const int stride = L > 12 ? L / 12 : 1;
  auto* b = benchmark::RegisterBenchmark("TrainStepWithCut", train_step_with_cut, &model, &batch);
  for (int cut = 0; cut < L; cut += stride) b->Arg(cut);
  b->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(1.0);
  benchmark::RegisterBenchmark("LastLayerAtTargets", last_layer_at_targets, &model, &batch)
      ->Unit(benchmark::kMillisecond)
      ->UseRealTime()
      ->MinTime(5.0);
  static et::Plan plan;
  const std::string plan_path = env("ET_BENCH_PLAN", "");
  if (!plan_path.empty()) {
    try {
      plan = et::load_plan(plan_path);
      et::attach_adapters(model, et::create_adapters(plan, 0, model.device));  // the plan fits the model
      et::detach_adapters(model);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "bench_gradcut: %s\n", e.what());
      return 1;
    }
    benchmark::RegisterBenchmark("PlanVsAll", plan_vs_all, &model, &batch, &plan)
        ->Unit(benchmark::kMillisecond)
        ->UseRealTime()
        ->MinTime(10.0);
  }
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
