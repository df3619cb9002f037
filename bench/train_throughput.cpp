// Training throughput of edgetune's own step (the trainer's train_step: forward, loss, backward,
// clipping, AdamW) on a model of a given shape, for bench/train_throughput.sh.
//
//   train_throughput --model DIR [--quant nf4|none] [--grad-checkpoint] [--batch 8] [--seq 2048]
//                    [--data random | FILE.jsonl --tokenizer DIR] [--rank 16] [--alpha 32]
//                    [--steps 10] [--warmup 3] [--kernels fast|reference] [--profile TRACE.json]
//                    [--dense-attention cudnn|flash]
//                    [--dump-rows ROWS.json] [--device cuda|cpu] [--dtype bfloat16|float32]
//                    [--threads N]
//
// DIR holds a config.json (the weights are initialized from it, seeded, as transformers does).
// `--data random`: every row is one conversation of --seq random tokens, every token after the
// first a target (labels = inputs, as a causal-LM benchmark). A JSONL file is rendered and
// tokenized like training data (the tokenizer of --tokenizer) and packed into rows of --seq.
// --dump-rows writes the rows of the first timed batches (ids, positions, targets) so that the
// baseline (bench/peft_baseline.py) trains on exactly the same tokens.
// stdout: one JSON object: tokens/s, s/step, peak memory, the losses of the timed steps, and the
// process CPU time of the timed steps with the intra-op thread count (CPU runs).
#include <torch/cuda.h>

#include <CLI/CLI.hpp>
#include <ATen/Parallel.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <random>

#include "edgetune/adapt/plan.h"
#include "edgetune/core/error.h"
#include "edgetune/core/log.h"
#include "edgetune/model/model.h"
#include "edgetune/model/model_files.h"
#include "edgetune/train/trainer.h"
#include "ops/varlen_attention/varlen_attention.h"
#include "step_profiler.h"

namespace {

struct Args {
  std::string model, quant = "nf4", data = "random", tokenizer, kernels = "fast", dense_attention = "cudnn", profile, dump_rows;
  std::string device = "cuda", dtype = "bfloat16", chat_template = "plain";
  bool grad_checkpoint = false;
  int batch = 8, seq = 2048, rank = 16, steps = 10, warmup = 3, threads = 0;
  double alpha = 32;
};

void sync(torch::Device d) {
  if (d.is_cuda()) torch::cuda::synchronize();
}

std::vector<et::TokenizedExample> random_rows(int rows, int len, int64_t vocab, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int32_t> id(0, static_cast<int32_t>(vocab - 1));
  std::vector<et::TokenizedExample> out(static_cast<size_t>(rows));
  for (auto& ex : out) {
    ex.ids.resize(static_cast<size_t>(len));
    for (auto& v : ex.ids) v = id(rng);
    ex.target.assign(static_cast<size_t>(len), 1);
    ex.target[0] = 0;  // the first token has nothing to predict it
    ex.source = "random";
  }
  return out;
}

int64_t causal_pairs(const et::Batch& b) {
  int64_t pairs = 0;
  for (int r = 0; r < b.rows; ++r) {
    int64_t run = 0;
    for (int t = 0; t < b.len; ++t) {
      const int32_t seg = b.segments[static_cast<size_t>(r * b.len + t)];
      const bool same = t > 0 && seg == b.segments[static_cast<size_t>(r * b.len + t - 1)];
      run = same ? run + 1 : 1;
      if (seg >= 0) pairs += run;
    }
  }
  return pairs;
}

void dump_rows(const std::string& path, const std::vector<et::Batch>& batches) {
  nlohmann::json j = nlohmann::json::array();
  for (const auto& b : batches) {
    nlohmann::json jb{{"rows", b.rows}, {"len", b.len}, {"ids", b.ids}, {"positions", b.positions},
                      {"segments", b.segments}, {"target", b.target}};
    j.push_back(std::move(jb));
  }
  std::ofstream(path) << j.dump();
}

int run(const Args& a) {
  using namespace et;
  Recipe r;
  r.model.path = a.model;
  r.model.device = a.device;
  r.model.dtype = a.dtype;
  r.model.init = "random";
  r.quant.backbone = a.quant;
  r.adapters.policy = "all";
  r.adapters.rank = a.rank;
  r.adapters.alpha = a.alpha;
  r.train.batch_size = a.batch;
  r.train.grad_checkpoint = a.grad_checkpoint;
  r.train.lr = 1e-4;
  r.train.kernels = a.kernels;
  r.train.threads = a.threads;
  r.data.max_seq_len = a.seq;
  r.data.pack = a.data != "random";
  r.data.chat_template = a.chat_template;
  validate_recipe(r);
  apply_kernel_path(r);
  if (r.train.threads > 0) at::set_num_threads(r.train.threads);  // as open_session does
  et::ops::set_dense_attention(a.dense_attention == "flash" ? et::ops::DenseAttention::flash
                                                            : et::ops::DenseAttention::cudnn);

  TrainSession s;
  s.recipe = r;
  model::LoadOptions lo;
  lo.device = model::parse_device(a.device);
  lo.dtype = model::parse_compute_dtype(a.dtype, "--dtype");
  lo.quantize_nf4 = a.quant == "nf4";
  lo.init_random = true;
  lo.init_seed = 0;
  s.model = model::load_model(a.model, lo);
  const torch::Device dev = s.model.device;
  if (a.data == "random") {
    s.train_examples = random_rows(a.batch * (a.steps + a.warmup), a.seq, s.model.config.vocab_size, 1);
  } else {
    ET_CHECK(!a.tokenizer.empty(), "train_throughput", "--data FILE needs --tokenizer DIR");
    s.tokenizer = load_tokenizer(model::model_files_folder(a.tokenizer));
    s.chat_template = a.chat_template == "auto" ? ChatTemplate::plain : parse_chat_template(a.chat_template);
    s.train_examples = tokenize_file(s, a.data, 0);
  }
  apply_plan(s, plan_all(s.model, r.adapters));

  BatchStream stream(s.train_examples, a.batch, a.seq, r.data.pack, 0, 7);
  // The batches the loop will draw (a copy of the stream): for --dump-rows, and the causal
  // attention pairs of the timed ones (sum over conversations of n (n + 1) / 2) for FLOP counts.
  int64_t attn_pairs = 0;
  {
    BatchStream copy = stream;
    std::vector<Batch> all;
    for (int i = 0; i < a.warmup + a.steps; ++i) all.push_back(copy.next());
    for (size_t i = static_cast<size_t>(a.warmup); i < all.size(); ++i) attn_pairs += causal_pairs(all[i]);
    if (!a.dump_rows.empty()) dump_rows(a.dump_rows, all);
  }
  AdamW opt(s.params, {r.train.beta1, r.train.beta2, r.train.adam_eps, r.train.weight_decay});
  LossOptions loss_opts;
  loss_opts.cut_layer = s.plan.cut_layer_at(0);
  loss_opts.grad_checkpoint = a.grad_checkpoint;

  nlohmann::json losses = nlohmann::json::array();
  for (int i = 0; i < a.warmup; ++i) losses.push_back(train_step(s, stream, opt, r.train.lr, i, loss_opts).loss);
  sync(dev);
  int64_t tokens = 0, targets = 0;
  const auto t0 = std::chrono::steady_clock::now();
  const std::clock_t c0 = std::clock();
  for (int i = 0; i < a.steps; ++i) {
    const StepStats st = train_step(s, stream, opt, r.train.lr, a.warmup + i, loss_opts);
    tokens += st.tokens;
    targets += st.targets;
    losses.push_back(st.loss);
  }
  sync(dev);
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  // CPU time of all threads over the timed steps: on a shared machine, wall time includes waiting
  // for cores that other processes hold; cpu_s / (threads * seconds) says how much of them we had.
  const double cpu_secs = static_cast<double>(std::clock() - c0) / CLOCKS_PER_SEC;
  const double peak_mb = peak_memory_mb(dev);

  bool profiled = false;
  if (!a.profile.empty()) {
    bench::start_profiler(dev.is_cuda());
    for (int i = 0; i < 2; ++i) train_step(s, stream, opt, r.train.lr, a.warmup + a.steps + i, loss_opts);
    sync(dev);
    profiled = bench::stop_profiler(a.profile);
    if (!profiled) log_warn("train_throughput: this libtorch has no profiler; no trace written");
  }

  nlohmann::json out{{"model", a.model},
                     {"quant", a.quant},
                     {"grad_checkpoint", a.grad_checkpoint},
                     {"kernels", a.kernels},
                     {"dense_attention", a.dense_attention},
                     {"batch", a.batch},
                     {"seq", a.seq},
                     {"data", a.data},
                     {"rank", a.rank},
                     {"steps", a.steps},
                     {"tokens", tokens},
                     {"targets", targets},
                     {"attn_pairs", attn_pairs},
                     {"seconds", secs},
                     {"cpu_seconds", cpu_secs},
                     {"threads", at::get_num_threads()},
                     {"step_s", secs / a.steps},
                     {"tokens_per_s", static_cast<double>(tokens) / secs},
                     {"peak_mb", peak_mb},
                     {"losses", losses},
                     {"profile_steps", profiled ? 2 : 0}};
  std::cout << out.dump() << std::endl;
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  CLI::App app{"edgetune training-step throughput"};
  app.add_option("--model", a.model, "folder with config.json")->required();
  app.add_option("--quant", a.quant, "nf4 | none")->check(CLI::IsMember({"nf4", "none"}));
  app.add_flag("--grad-checkpoint", a.grad_checkpoint, "recompute layer activations in backward");
  app.add_option("--batch", a.batch, "rows per step");
  app.add_option("--seq", a.seq, "tokens per row");
  app.add_option("--data", a.data, "random, or a JSONL file of conversations (packed)");
  app.add_option("--tokenizer", a.tokenizer, "model folder whose tokenizer renders --data");
  app.add_option("--chat-template", a.chat_template, "template for --data (plain, chatml, ...)");
  app.add_option("--rank", a.rank, "LoRA rank on all seven projections");
  app.add_option("--alpha", a.alpha, "LoRA alpha");
  app.add_option("--steps", a.steps, "timed steps");
  app.add_option("--warmup", a.warmup, "untimed steps first");
  app.add_option("--kernels", a.kernels, "fast | reference")->check(CLI::IsMember({"fast", "reference"}));
  app.add_option("--dense-attention", a.dense_attention, "kernel for rows of one sequence on the GPU: cudnn | flash")
      ->check(CLI::IsMember({"cudnn", "flash"}));
  app.add_option("--profile", a.profile, "write a Chrome trace of two more steps here");
  app.add_option("--dump-rows", a.dump_rows, "write the batches (ids, positions, targets) as JSON");
  app.add_option("--device", a.device, "cuda | cpu");
  app.add_option("--dtype", a.dtype, "bfloat16 | float32");
  app.add_option("--threads", a.threads, "CPU threads (train.threads; 0: libtorch's default)");
  CLI11_PARSE(app, argc, argv);
  try {
    return run(a);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "train_throughput: %s\n", e.what());
    return 1;
  }
}
