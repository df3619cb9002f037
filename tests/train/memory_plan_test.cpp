// The memory planner (train/memory_plan.h) on synthetic shapes: the persistent terms against
// hand-computed sizes, the activation terms' dependence on the settings (linear in the micro-batch,
// checkpointing keeps only layer inputs, the cut layer bounds what trains), and the search: it keeps
// the effective batch, takes the fastest setting that fits, and refuses naming the smallest budget
// that fits, which the planner then accepts. Measured peaks are checked in
// tests/cli/memory_budget_cli_test.cpp.
#include <gtest/gtest.h>

#include <cmath>
#include <regex>
#include <string>

#include "edgetune/train/memory_plan.h"
#include "test_util.h"

using namespace et;

namespace {

constexpr double kMiB = 1024.0 * 1024.0;

// The Qwen2.5-0.5B shape, QLoRA r=16 on all seven projections of 24 layers.
MemoryShape qwen_shape(MemoryDevice device) {
  MemoryShape s;
  model::ModelConfig& c = s.config;
  c.vocab_size = 151936;
  c.hidden_size = 896;
  c.intermediate_size = 4864;
  c.num_layers = 24;
  c.num_heads = 14;
  c.num_kv_heads = 2;
  c.head_dim = 64;
  c.tie_word_embeddings = true;
  s.device = device;
  s.dtype_bytes = device == MemoryDevice::cpu ? 4 : 2;
  s.nf4 = true;
  // r (in + out) per matrix: q, k, v, o, gate, up, down.
  const int64_t per_layer = 16 * ((896 + 896) + 2 * (896 + 128) + (896 + 896) + 2 * (896 + 4864) + (4864 + 896));
  s.trainable = 24 * per_layer;
  s.layer_rank = 7 * 16;
  s.row_tokens = 2048;
  s.target_fraction = 1;
  s.rows = 64;
  s.dataset_tokens = 64 * 2048;
  s.threads = 2;
  s.what = "test shape";
  return s;
}

// The Llama-3.2-1B shape, the same adapters.
MemoryShape llama_shape(MemoryDevice device) {
  MemoryShape s = qwen_shape(device);
  model::ModelConfig& c = s.config;
  c.vocab_size = 128256;
  c.hidden_size = 2048;
  c.intermediate_size = 8192;
  c.num_layers = 16;
  c.num_heads = 32;
  c.num_kv_heads = 8;
  c.head_dim = 64;
  const int64_t per_layer = 16 * ((2048 + 2048) + 2 * (2048 + 512) + (2048 + 2048) + 2 * (2048 + 8192) + (8192 + 2048));
  s.trainable = 16 * per_layer;
  return s;
}

MemorySettings settings(int batch, int accum, bool ckpt) {
  MemorySettings m;
  m.batch_size = batch;
  m.grad_accum = accum;
  m.grad_checkpoint = ckpt;
  return m;
}

TEST(MemoryPlan, PersistentTermsMatchHandComputedSizes) {
  const MemoryShape s = qwen_shape(MemoryDevice::cuda);
  const MemoryEstimate e = estimate_memory(s, settings(1, 1, false));
  // Projections: 24 x (896 x 1152 + 896 x 896 + 3 x 896 x 4864) = 357,826,560 weights at 4 bits
  // plus a byte per 64 and a float per 64 x 256, and 1 KiB of tables per matrix.
  const double proj = 24.0 * (896 * 1152 + 896 * 896 + 3.0 * 896 * 4864);
  EXPECT_NEAR(e.weights, proj * 0.5 + proj / 64 + proj * 4 / (64 * 256) + 7 * 24 * 1024, 1);
  // Tied embeddings in bfloat16 plus 49 norms.
  EXPECT_NEAR(e.embeddings, 151936.0 * 896 * 2 + 49 * 896 * 2, 1);
  // value, gradient, two moments, float32.
  EXPECT_NEAR(e.adapters, static_cast<double>(s.trainable) * 16, 1);
  EXPECT_EQ(e.runtime, 0);  // a discrete GPU's budget is the allocator's
  EXPECT_GT(e.workspace, 0);
  EXPECT_NEAR(e.total(), e.weights + e.embeddings + e.adapters + e.activations + e.cross_entropy + e.transient +
                             e.workspace,
              1);
}

// The H200's CUDA allocator peaks of bench/RESULTS.md's throughput table (train_throughput: the
// trainer's step on 8 rows of 2048 random tokens, every token after the first a target, LoRA r=16
// on all seven projections, bf16), given there to 0.1 GiB.
TEST(MemoryPlan, GpuEstimateMatchesTheMeasuredAllocatorPeaks) {
  struct Peak {
    bool llama, nf4, ckpt;
    double gib;
  };
  for (const Peak& p : {Peak{true, true, false, 20.4}, Peak{true, true, true, 5.0}, Peak{true, false, false, 21.8},
                        Peak{true, false, true, 6.4}, Peak{false, true, false, 16.1}, Peak{false, true, true, 3.0},
                        Peak{false, false, false, 16.6}, Peak{false, false, true, 3.5}}) {
    MemoryShape s = p.llama ? llama_shape(MemoryDevice::cuda) : qwen_shape(MemoryDevice::cuda);
    s.nf4 = p.nf4;
    s.target_fraction = 2047.0 / 2048;
    const double est = estimate_memory(s, settings(8, 1, p.ckpt)).total() / (kMiB * 1024);
    EXPECT_NEAR(est, p.gib, 0.05 * p.gib + 0.05) << (p.llama ? "llama" : "qwen") << (p.nf4 ? " nf4" : " bf16")
                                                 << (p.ckpt ? " checkpointed" : "");
  }
}

TEST(MemoryPlan, ActivationsGrowWithTheMicroBatchAndCheckpointingKeepsLayerInputs) {
  for (MemoryDevice d : {MemoryDevice::cpu, MemoryDevice::cuda}) {
    MemoryShape s = qwen_shape(d);
    s.row_tokens = 256;
    const MemoryEstimate one = estimate_memory(s, settings(1, 1, false));
    const MemoryEstimate four = estimate_memory(s, settings(4, 1, false));
    EXPECT_NEAR(four.activations, 4 * one.activations, 1e-6 * four.activations) << memory_device_name(d);
    const MemoryEstimate ck = estimate_memory(s, settings(4, 1, true));
    // Checkpointed: two layers whole (the first, and the larger of the last and one recomputed),
    // the other 22 only their input [tokens, hidden]. On the GPU every layer saves the same; on
    // the CPU the last one also keeps the queries' normed input (a few percent more).
    // (The CPU's estimate carries the heap's slack, a factor a little above 1, on every term.)
    const double layer = four.activations / 24;
    const double inputs = 22.0 * 4 * 256 * 896 * s.dtype_bytes;
    if (d == MemoryDevice::cpu) {
      const double slack = (ck.activations - 2 * layer) / inputs;
      EXPECT_GE(slack, 1.0);
      EXPECT_LE(slack, 1.15);
    } else {
      EXPECT_NEAR(ck.activations, 2 * layer + inputs, 1e-6 * ck.activations);
    }
    EXPECT_LT(ck.activations, four.activations / 5);
    EXPECT_EQ(ck.weights, four.weights);
  }
}

TEST(MemoryPlan, ExplicitAttentionKeepsTheProbabilitiesTheFlashKernelDoesNot) {
  MemoryShape cpu = qwen_shape(MemoryDevice::cpu);
  MemoryShape gpu = qwen_shape(MemoryDevice::cuda);
  cpu.dtype_bytes = gpu.dtype_bytes = 2;  // the same dtype: only the attention path differs
  cpu.row_tokens = gpu.row_tokens = 1024;
  const double a_cpu = estimate_memory(cpu, settings(1, 1, false)).activations;
  const double a_gpu = estimate_memory(gpu, settings(1, 1, false)).activations;
  // float32 probabilities and their bfloat16 cast: 14 heads x 1024 keys x 6 bytes per token and
  // layer, far more than the rest of the difference.
  EXPECT_GT(a_cpu - a_gpu, 24.0 * 1024 * 14 * 1024 * 6);
}

TEST(MemoryPlan, LayersBelowTheCutSaveNothing) {
  MemoryShape s = qwen_shape(MemoryDevice::cuda);
  const double all = estimate_memory(s, settings(2, 1, false)).activations;
  s.cut_layer = 12;
  const double half = estimate_memory(s, settings(2, 1, false)).activations;
  EXPECT_NEAR(half, all / 2, 1e-6 * all);
  s.cut_layer = 24;
  EXPECT_EQ(estimate_memory(s, settings(2, 1, false)).activations, 0);
  s.cut_layer = 12;
  MemorySettings cache = settings(2, 1, false);
  cache.cut_cache = true;
  EXPECT_NEAR(estimate_memory(s, cache).cut_cache, (64.0 * 2048 + 1) * 896 * 2, 1);
}

TEST(MemoryPlan, CandidatesKeepTheEffectiveBatch) {
  const MemoryShape s = qwen_shape(MemoryDevice::cuda);
  const auto c = memory_candidates(s, settings(4, 2, false), "auto");
  ASSERT_EQ(c.size(), 8u);  // micro-batch 8, 4, 2, 1, each with checkpointing off and on
  for (const auto& e : c) EXPECT_EQ(e.settings.batch_size * e.settings.grad_accum, 8);
}

TEST(MemoryPlan, TheFastestSettingThatFitsIsChosen) {
  const MemoryShape s = qwen_shape(MemoryDevice::cuda);
  const MemorySettings wanted = settings(8, 1, false);
  const double whole = estimate_memory(s, wanted).total_mib();
  // A budget above the recipe's own estimate keeps it.
  MemoryChoice c = fit_memory_budget(s, wanted, "auto", whole + 1);
  EXPECT_EQ(c.settings.batch_size, 8);
  EXPECT_FALSE(c.settings.grad_checkpoint);
  // 2048 MiB: whatever is chosen fits, and no faster-looking setting with a larger micro-batch
  // and no checkpointing fits too.
  c = fit_memory_budget(s, wanted, "auto", 2048);
  EXPECT_LE(c.estimate.total_mib(), 2048);
  EXPECT_EQ(c.settings.batch_size * c.settings.grad_accum, 8);
  for (const auto& e : memory_candidates(s, wanted, "auto"))
    if (e.settings.batch_size > c.settings.batch_size && e.settings.grad_checkpoint == c.settings.grad_checkpoint) {
      EXPECT_GT(e.total_mib(), 2048);
    }
  EXPECT_NE(c.reason.find("micro-batch"), std::string::npos) << c.reason;
  EXPECT_NE(c.reason.find("of 2048 MiB"), std::string::npos) << c.reason;
}

TEST(MemoryPlan, NothingFitsRefusesWithTheSmallestBudgetThatDoes) {
  const MemoryShape s = qwen_shape(MemoryDevice::cuda);
  const MemorySettings wanted = settings(8, 1, false);
  const std::string err = test::error_of([&] { fit_memory_budget(s, wanted, "auto", 300); });
  std::smatch m;
  ASSERT_TRUE(std::regex_search(err, m, std::regex("at least (\\d+)"))) << err;
  const double need = std::stod(m[1]);
  // The smallest is micro-batch 1 with checkpointing.
  const double smallest = estimate_memory(s, settings(1, 8, true)).total_mib();
  EXPECT_EQ(need, std::ceil(smallest));
  const MemoryChoice c = fit_memory_budget(s, wanted, "auto", need);
  EXPECT_EQ(c.settings.batch_size, 1);
  EXPECT_TRUE(c.settings.grad_checkpoint);
  EXPECT_TRUE(test::error_of([&] { fit_memory_budget(s, wanted, "auto", need - 1); }).find("at least") !=
              std::string::npos);
}

TEST(MemoryPlan, UnifiedMemoryCountsTheHostToo) {
  const MemoryShape gpu = qwen_shape(MemoryDevice::cuda);
  MemoryShape jetson = gpu;
  jetson.device = MemoryDevice::cuda_unified;
  const MemoryEstimate a = estimate_memory(gpu, settings(1, 1, false));
  const MemoryEstimate b = estimate_memory(jetson, settings(1, 1, false));
  EXPECT_GT(b.runtime, 500 * kMiB);  // the process, the CUDA context, the allocator's reserve
  // and the cross-entropy's chunk of logits is a quarter of a discrete GPU's (ops/cross_entropy)
  EXPECT_LT(b.transient, a.transient);
  EXPECT_NEAR(b.total() - b.runtime - b.transient, a.total() - a.transient, 1);
}

// Under a memory budget the cross-entropy takes the op's small chunks (a quarter of the logits),
// and the estimate counts those: Llama's head, up to 2048 rows of bf16 logits unbudgeted, 512 budgeted.
TEST(MemoryPlan, UnderABudgetTheLossTakesSmallChunks) {
  MemoryShape s = llama_shape(MemoryDevice::cuda);
  s.nf4 = true;
  s.target_fraction = 2047.0 / 2048;
  const MemoryEstimate a = estimate_memory(s, settings(1, 1, true));
  s.budgeted = true;
  const MemoryEstimate b = estimate_memory(s, settings(1, 1, true));
  ASSERT_FALSE(a.transient_is_backward) << "the chunk of logits is not the larger transient here";
  EXPECT_NEAR(a.transient, 2047.0 * 128256 * 2, 1);  // the 2047 targets of the row, under the 2048 of a chunk
  EXPECT_NEAR(b.transient, std::max(512.0 * 128256 * 2, b.transient_is_backward ? b.transient : 0.0), 1);
  EXPECT_LT(b.total(), a.total());
}

}  // namespace
