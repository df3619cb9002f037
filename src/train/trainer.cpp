// The training run: setup from a recipe and the one visible loop.
#include "edgetune/train/trainer.h"

#include <ATen/Parallel.h>
#include <torch/cuda.h>
#ifdef EDGETUNE_TORCH_CUDA
#include <c10/cuda/CUDACachingAllocator.h>
#endif

#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <optional>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "edgetune/core/dir_lock.h"
#include "edgetune/core/error.h"
#include "edgetune/core/file_io.h"
#include "edgetune/core/log.h"
#include "edgetune/core/progress.h"
#include "edgetune/data/trajectory.h"
#include "ops/common/kernel_path.h"
#include "edgetune/model/forward.h"
#include "edgetune/model/model_files.h"
#include "edgetune/train/causal_lm_loss.h"
#include "edgetune/train/checkpoint.h"
#include "edgetune/train/memory_plan.h"
#include "edgetune/train/metrics.h"
#include "edgetune/train/trainable_tokens.h"

namespace et {

namespace {

// SIGINT (Ctrl-C) and SIGTERM (what a service manager or `kill` sends) both ask the loop to stop
// after the running step, with a checkpoint; a second signal ends the process at once.
std::atomic<int> g_interrupts{0};
std::atomic<int> g_stop_signal{0};
void on_stop_signal(int sig) {
  g_stop_signal = sig;
  if (g_interrupts.fetch_add(1) >= 1) std::_Exit(128 + sig);
}

struct StopSignalScope {
  void (*previous_int)(int);
  void (*previous_term)(int);
  StopSignalScope() {
    g_interrupts = 0;
    g_stop_signal = 0;
    previous_int = std::signal(SIGINT, on_stop_signal);
    previous_term = std::signal(SIGTERM, on_stop_signal);
  }
  ~StopSignalScope() {
    std::signal(SIGINT, previous_int);
    std::signal(SIGTERM, previous_term);
  }
};

const char* signal_name(int sig) { return sig == SIGTERM ? "SIGTERM" : sig == SIGINT ? "SIGINT" : "a signal"; }

torch::Device resolve_device(const std::string& d) {
  if (d == "cpu") return torch::kCPU;
  if (d == "cuda" || d == "auto") {
    if (torch::cuda::is_available()) return torch::Device(torch::kCUDA, 0);
    if (d == "cuda") fail("train", "model.device is cuda but no CUDA device is available (use cpu or auto)");
  }
  return torch::kCPU;
}

}  // namespace

double peak_memory_mb(torch::Device device) {
#ifdef EDGETUNE_TORCH_CUDA
  if (device.is_cuda()) {
    // StatType::AGGREGATE is entry 0 in every libtorch version that has these stats.
    const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(device.index() < 0 ? 0 : device.index());
    return static_cast<double>(stats.allocated_bytes[0].peak) / (1 << 20);
  }
#else
  (void)device;
#endif
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("VmHWM:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;
  return 0;
}

void apply_kernel_path(const Recipe& recipe) {
  ops::set_kernel_path(ops::parse_kernel_path(recipe.train.kernels, "train.kernels"));
}

TrainSession open_session(const Recipe& recipe) {
  validate_recipe(recipe);
  apply_kernel_path(recipe);
  TrainSession s;
  s.recipe = recipe;
  s.recipe_yaml = recipe_to_yaml(recipe);
  if (recipe.model.path.empty()) fail("train", "model.path is not set (a Hugging Face model folder)");
  if (recipe.train.threads > 0) at::set_num_threads(recipe.train.threads);
  const torch::Device device = resolve_device(recipe.model.device);
  model::LoadOptions lo;
  lo.device = device;
  const std::string dt = recipe.model.dtype == "auto" ? (device.is_cuda() ? "bfloat16" : "float32") : recipe.model.dtype;
  lo.dtype = model::parse_compute_dtype(dt, "model.dtype");
  s.full = recipe.adapters.policy == "full";
  if (s.full && recipe.quant.backbone == "nf4")
    fail("train", "adapters.policy full trains every weight; it needs quant.backbone: none");
  check_memory_budget(recipe);  // a budget nothing fits is refused before the weights load
  lo.quantize_nf4 = recipe.quant.backbone == "nf4";
  lo.init_random = recipe.model.init == "random";
  lo.init_seed = static_cast<uint64_t>(recipe.train.seed);
  log_info("loading ", recipe.model.path, " (", dt, " on ", device.str(),
           lo.quantize_nf4 ? ", NF4 backbone" : "", lo.init_random ? ", random init" : "", ")");
  s.model = model::load_model(recipe.model.path, lo);
  s.tokenizer = load_tokenizer(model::model_files_folder(recipe.model.path));
  s.chat_template = recipe.data.chat_template == "auto"
                        ? choose_chat_template(model::family_name(s.model.config.family), *s.tokenizer)
                        : parse_chat_template(recipe.data.chat_template);
  log_info("chat template: ", chat_template_name(s.chat_template));
  if (recipe.data.train.empty()) fail("train", "data.train is not set (a JSONL file of trajectories)");
  s.train_examples = tokenize_file(s, recipe.data.train, 0);
  if (!recipe.data.eval.empty()) s.eval_examples = tokenize_file(s, recipe.data.eval, recipe.data.eval_max_examples);
  apply_memory_budget(s, nullptr);  // train.memory_budget: settings that fit, before any planning step runs
  return s;
}

ExampleOptions example_options(const TrainSession& s) {
  ExampleOptions o;
  o.chat_template = s.chat_template;
  o.system_prompt = s.recipe.data.system_prompt;
  o.last_turn_only = s.recipe.data.last_turn_only;
  o.max_len = s.recipe.data.max_seq_len;
  return o;
}

std::vector<TokenizedExample> tokenize_file(const TrainSession& s, const std::string& path, int max_examples) {
  TrajectoryLoadReport report;
  auto convs = load_trajectories(path, s.recipe.data.format, s.recipe.data.on_error, &report);
  if (max_examples > 0 && static_cast<int>(convs.size()) > max_examples) convs.resize(static_cast<size_t>(max_examples));
  std::vector<TokenizedExample> out;
  int64_t tokens = 0, targets = 0, truncated = 0, dropped = 0;
  const ExampleOptions eo = example_options(s);
  for (auto& c : convs) {
    TokenizedExample ex;
    bool cut = false;
    try {
      ex = conversation_example(std::move(c), eo, *s.tokenizer, &cut);
    } catch (const Error& e) {
      if (s.recipe.data.on_error == "fail") throw;
      log_warn("skipping: ", e.what());
      ++dropped;
      continue;
    }
    truncated += cut;
    if (ex.num_targets() == 0) {
      ++dropped;
      continue;
    }
    tokens += static_cast<int64_t>(ex.ids.size());
    targets += ex.num_targets();
    out.push_back(std::move(ex));
  }
  log_info(path, ": ", out.size(), " conversations, ", tokens, " tokens (", targets, " trained)",
           truncated ? cat(", ", truncated, " truncated to data.max_seq_len") : std::string(),
           dropped ? cat(", ", dropped, " without trainable tokens dropped") : std::string());
  if (out.empty()) fail("data", path, ": no usable conversations");
  return out;
}

void apply_plan(TrainSession& s, const Plan& plan) {
  s.plan = plan;
  s.params.clear();
  if (s.full) {
    for (auto& kv : model::named_weights(s.model)) {
      kv.second.set_requires_grad(true);
      s.params.push_back({kv.first, kv.second});
    }
    return;
  }
  const auto& tokens = s.recipe.adapters.trainable_tokens;
  if (s.plan.token_ids.empty() && !tokens.empty() && s.recipe.adapters.policy != "none") {
    s.plan.token_ids = resolve_trainable_tokens(tokens, s.model, *s.tokenizer, s.train_examples);
    s.plan.token_width = s.model.config.hidden_size;
    s.plan.token_module = s.model.prefix + "embed_tokens";
    if (s.plan.token_ids.empty()) log_info("adapters.trainable_tokens: no token needs its own row");
    else {
      std::string list;
      for (size_t i = 0; i < s.plan.token_ids.size() && i < 16; ++i)
        list += (i ? " " : "") + std::to_string(s.plan.token_ids[i]);
      log_info("adapters.trainable_tokens: ", s.plan.token_ids.size(), " embedding rows train (", list,
               s.plan.token_ids.size() > 16 ? " ..." : "", ")");
    }
  }
  detach_adapters(s.model);
  s.adapters = create_adapters(s.plan, static_cast<uint64_t>(s.recipe.train.seed), s.model.device);
  init_token_rows(s.adapters, s.model);
  attach_adapters(s.model, s.adapters);
  for (auto& kv : s.adapters.named_parameters()) s.params.push_back({kv.first, kv.second});
}

EvalResult evaluate_loss(const TrainSession& s, const std::vector<TokenizedExample>& examples) {
  EvalResult r;
  if (examples.empty()) return r;
  torch::NoGradGuard no_grad;
  std::vector<size_t> order(examples.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  auto rows = pack_examples(examples, order, s.recipe.data.max_seq_len, s.recipe.data.pack, 0);
  double sum = 0;
  const size_t bs = static_cast<size_t>(s.recipe.train.batch_size);
  LossOptions lo;
  lo.cut_layer = static_cast<int>(s.model.config.num_layers);
  lo.loss_chunk_rows = loss_chunk_rows(s.model, s.recipe.train.memory_budget > 0);
  for (size_t b = 0; b < rows.size(); b += bs) {
    Batch batch = make_batch(rows, b, std::min(bs, rows.size() - b), 0);
    if (batch.num_targets == 0) continue;
    sum += causal_lm_loss_sum(s.model, to_tensors(batch, s.model.device), lo).item<double>();
    r.tokens += batch.num_targets;
  }
  r.loss = r.tokens > 0 ? sum / static_cast<double>(r.tokens) : 0;
  return r;
}

StepStats train_step(TrainSession& s, BatchStream& stream, AdamW& opt, double lr, int64_t seed_step,
                     const LossOptions& lo, const CutCache* cache, const StepGuard& guard) {
  const Recipe& R = s.recipe;
  ET_CHECK(!cache || cache->cut_layer == lo.cut_layer, "train", "the cut-layer cache holds layer ",
           cache ? cache->cut_layer : 0, " but the step's cut is layer ", lo.cut_layer);
  StepStats st;
  std::vector<Batch> micro;
  for (int k = 0; k < R.train.grad_accum; ++k) {
    micro.push_back(stream.next());
    st.targets += micro.back().num_targets;
  }
  // The loss sum, the gradient norm and the clipping factor stay on the device: the step syncs
  // once, at its end, to read the loss and the norm.
  torch::Tensor loss_sum;
  for (size_t k = 0; k < micro.size(); ++k) {
    if (micro[k].num_targets == 0) continue;
    torch::manual_seed(static_cast<uint64_t>(R.train.seed) * 1000003ull + static_cast<uint64_t>(seed_step) * 131ull + k);
    BatchTensors bt = to_tensors(micro[k], s.model.device);
    if (cache) bt.cut_hidden = cut_cache_hidden(*cache, micro[k]);
    st.tokens += bt.num_tokens;
    torch::Tensor ls = causal_lm_loss_sum(s.model, bt, lo);
    (ls / static_cast<double>(st.targets)).backward();  // token-normalized over the whole step
    loss_sum = loss_sum.defined() ? loss_sum + ls.detach() : ls.detach();
  }
  if (st.targets > 0) {
    const GradClip clip = grad_clip(s.params, R.train.max_grad_norm);
    const torch::Tensor host = torch::stack({loss_sum.to(torch::kFloat32), clip.norm.to(torch::kFloat32)}).to(torch::kCPU);
    st.loss = static_cast<double>(host[0].item<float>()) / static_cast<double>(st.targets);
    st.grad_norm = host[1].item<float>();
    st.skipped = bad_step_reason(guard, st.loss, st.grad_norm);
    if (st.skipped.empty()) opt.step(lr, clip.scale);
  }
  opt.zero_grad();
  return st;
}

std::string bad_step_reason(const StepGuard& g, double loss, double grad_norm) {
  if (!g.enabled) return "";
  if (!std::isfinite(loss)) return cat("the loss is not finite (", loss, ")");
  if (!std::isfinite(grad_norm)) return cat("the gradient norm is not finite (", grad_norm, ")");
  if (grad_norm == 0 && loss > 0)
    return cat("no gradient reaches the trainable weights (grad_norm 0 at loss ", loss, "): the model has saturated");
  if (g.max_loss > 0 && loss > g.max_loss) return cat("the loss exploded (", loss, ", above ", g.max_loss, ")");
  return "";
}

namespace {

// Freezes the adapters whose train_steps have run out by `step`; returns how many froze now.
int freeze_finished_adapters(TrainSession& s, int64_t step) {
  int n = 0;
  for (const auto& e : s.plan.entries) {
    if (e.train_steps == 0 || step < e.train_steps) continue;
    auto it = s.adapters.dedicated.find(e.module);
    ET_CHECK(it != s.adapters.dedicated.end(), "train", e.module, " trains for ", e.train_steps,
             " steps but has no dedicated adapter");
    if (!it->second.A.requires_grad()) continue;
    it->second.A.set_requires_grad(false);
    it->second.B.set_requires_grad(false);
    ++n;
  }
  return n;
}

}  // namespace

std::unique_ptr<CutCache> make_cut_cache(const TrainSession& s, int cut_layer) {
  const TrainOptions& t = s.recipe.train;
  if (s.full || cut_layer <= 0 || t.cut_cache == "off") return nullptr;
  const double mb = static_cast<double>(cut_cache_bytes(s.model, s.train_examples)) / (1 << 20);
  if (t.cut_cache == "auto" && mb > t.cut_cache_max_mb) {
    log_info("cut cache: off (", static_cast<int64_t>(mb), " MB would exceed train.cut_cache_max_mb ",
             t.cut_cache_max_mb, "); every step runs the layers below the cut");
    return nullptr;
  }
  auto c = std::make_unique<CutCache>(
      build_cut_cache(s.model, s.train_examples, cut_layer, t.batch_size, s.recipe.data.max_seq_len));
  char buf[160];
  std::snprintf(buf, sizeof buf, "cut cache: hidden states at layer %d of %zu conversations, %.1f MB, filled in %.2f s",
                cut_layer, s.train_examples.size(), mb, c->seconds);
  log_info(buf, "; steps run no layer below the cut");
  return c;
}

namespace {

// The likely cause of a run of bad steps, for the error that stops it.
std::string bad_steps_cause(const Recipe& R, int64_t applied_before) {
  const std::string lr = cat("the learning rate train.lr = ", R.train.lr,
                             R.train.warmup_steps > 0 ? cat(" (reached after ", R.train.warmup_steps, " warm-up steps)") : "",
                             " is too high (LoRA usually trains at 1e-4 to 3e-3)");
  const std::string data = cat("the data (data.train ", R.data.train, ") or the model (", R.model.path,
                               ", model.dtype ", R.model.dtype, ") hold values that overflow");
  if (applied_before == 0)
    return cat("Likely cause: ", data, " (the very first step was bad, before any update); else ", lr);
  return cat("Likely cause: ", lr, "; else ", data);
}

// A log line after the progress bar's (which a terminal shows without a newline).
void end_bar_line() {
  if (stderr_is_tty()) std::fputc('\n', stderr);
}

}  // namespace

TrainResult run_training(TrainSession& s, bool resume, const TrainHooks& hooks) {
  apply_memory_budget(s, s.full ? nullptr : &s.plan);  // again with the plan's cut
  const Recipe& R = s.recipe;
  const std::string dir = R.output.dir;
  // One run writes into a folder at a time; what a killed run left half-written goes first.
  const DirLock lock(dir, "edgetune train");
  remove_stale_temp_files(dir);
  TrainResult result;
  const auto t0 = std::chrono::steady_clock::now();
  const StopSignalScope signals;

  AdamW opt(s.params, {R.train.beta1, R.train.beta2, R.train.adam_eps, R.train.weight_decay});
  BatchStream stream(s.train_examples, R.train.batch_size, R.data.max_seq_len, R.data.pack, 0,
                     static_cast<uint64_t>(R.train.seed));
  int64_t start = 0;
  if (resume) {
    std::optional<ResumePoint> rp = load_resume_checkpoint(dir);
    if (!rp) {
      log_warn("--resume: no intact checkpoint in ", path_join(dir, "checkpoints"), "; starting from step 0");
    } else {
      const std::string& ck = rp->path;
      CheckpointState& st = rp->state;
      torch::NoGradGuard no_grad;
      for (auto& p : s.params) {
        bool found = false;
        for (auto& kv : st.params)
          if (kv.first == p.name) {
            ET_CHECK(kv.second.sizes() == p.param.sizes(), "resume", ck, ": tensor '", p.name, "' has shape ",
                     kv.second.sizes(), ", the run needs ", p.param.sizes());
            p.param.copy_(kv.second);
            found = true;
          }
        ET_CHECK(found, "resume", ck, ": has no tensor '", p.name, "' (was it written by another recipe?)");
      }
      opt.load_state(st.optimizer, st.optimizer_steps < 0 ? st.step : st.optimizer_steps);
      stream.restore(st.data_epoch, st.data_cursor);
      start = st.step;
      log_info("resuming from ", ck, " at step ", start);
    }
  }
  write_file_atomic(path_join(dir, "recipe.resolved.yaml"), s.recipe_yaml);
  save_plan(s.plan, path_join(dir, "plan.json"));
  const std::string metrics_path = path_join(dir, "metrics.jsonl");
  MetricsWriter metrics(metrics_path, start);
  // What the rows kept from before the resume say (the first step's loss, the last eval).
  const MetricsSummary before = start > 0 ? summarize_metrics(metrics_path) : MetricsSummary{};

  LossOptions lo;
  lo.cut_layer = s.full ? 0 : s.plan.cut_layer_at(start);
  lo.grad_checkpoint = R.train.grad_checkpoint;
  lo.embeddings_trainable = s.full;
  lo.loss_chunk_rows = loss_chunk_rows(s.model, R.train.memory_budget > 0);
  if (!s.full) freeze_finished_adapters(s, start);
  log_info("training ", s.params.size(), " tensors (", [&] {
    int64_t n = 0;
    for (auto& p : s.params) n += p.param.numel();
    return n;
  }(), " parameters); backward stops at layer ", lo.cut_layer, " of ", s.model.config.num_layers,
           !s.full && s.plan.cut_layer() != lo.cut_layer
               ? cat(", at layer ", s.plan.cut_layer(), " after step ", s.plan.warmup_steps(), " (warm-up)")
               : std::string());
  std::unique_ptr<CutCache> cache = make_cut_cache(s, lo.cut_layer);
  if (cache) result.cut_cache_seconds = cache->seconds;

  auto do_eval = [&](int64_t step) {
    if (s.eval_examples.empty()) return;
    EvalResult e = evaluate_loss(s, s.eval_examples);
    metrics.eval_row(step, e.loss, e.tokens);
  };
  auto checkpoint = [&](int64_t step) {
    CheckpointState st;
    st.step = step;
    st.optimizer_steps = opt.step_count();
    st.data_epoch = stream.epoch();
    st.data_cursor = stream.cursor();
    st.plan_json = s.plan.to_json().dump();
    st.recipe_yaml = s.recipe_yaml;
    for (auto& p : s.params) st.params.emplace_back(p.name, p.param);
    st.optimizer = opt.state();
    const std::string path = save_checkpoint(dir, st, R.output.keep_checkpoints);
    log_debug("checkpoint ", path);
  };

  // A loss far above the run's first (the same reference after a resume: its row is kept).
  double first_loss = before.step_rows > 0 ? before.first_loss : std::nan("");
  auto guard_for = [&]() {
    StepGuard g;
    g.enabled = true;
    if (R.train.loss_spike_factor > 0 && std::isfinite(first_loss))
      g.max_loss = std::max(R.train.loss_spike_factor * first_loss,
                            first_loss + std::log(static_cast<double>(std::max<int64_t>(2, s.model.config.vocab_size))));
    return g;
  };

  if (start == 0) do_eval(0);
  Progress bar("train", R.train.max_steps);
  int64_t step = start;
  // An eval at the resumed step is already in the metrics (a finished run resumed again).
  int64_t last_eval_step = start == 0 ? 0 : before.last_eval_step;
  int bad_in_row = 0;
  int64_t first_bad_step = 0, applied = opt.step_count();
  while (step < R.train.max_steps) {
    if (!s.full && s.plan.cut_layer_at(step) != lo.cut_layer) {
      // Warm-up over: its adapters freeze (they stay attached) and the cut moves up.
      const int frozen = freeze_finished_adapters(s, step);
      lo.cut_layer = s.plan.cut_layer_at(step);
      log_info("\nstep ", step, ": ", frozen, " warm-up adapters froze; backward stops at layer ", lo.cut_layer);
      cache.reset();
      cache = make_cut_cache(s, lo.cut_layer);
      if (cache) result.cut_cache_seconds = std::max(0.0, result.cut_cache_seconds) + cache->seconds;
    }
    const auto ts = std::chrono::steady_clock::now();
    const double lr = schedule_lr(R.train.schedule, R.train.lr, static_cast<int>(step), R.train.warmup_steps,
                                  R.train.max_steps, R.train.min_lr_ratio);
    const StepStats st = train_step(s, stream, opt, lr, step, lo, cache.get(), guard_for());
    ++step;

    const double loss = st.loss, grad_norm = st.grad_norm;
    const int64_t n_targets = st.targets, n_tokens = st.tokens;
    const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - ts).count();
    const double mem = peak_memory_mb(s.model.device);
    if (!st.skipped.empty()) {
      if (bad_in_row++ == 0) first_bad_step = step;
      metrics.skipped_row(step, st.skipped, loss, grad_norm, lr);
      end_bar_line();
      log_warn("step ", step, ": update skipped: ", st.skipped);
      if (R.train.max_bad_steps > 0 && bad_in_row >= R.train.max_bad_steps)
        fail("train", "steps ", first_bad_step, "-", step, ": ", bad_in_row, " updates in a row skipped (the last: ",
             st.skipped, "); stopping. ", bad_steps_cause(R, applied), ". The checkpoints hold earlier steps' weights.");
    } else {
      bad_in_row = 0;
      ++applied;
      result.last_train_loss = loss;
      result.has_train_loss = true;
      if (!std::isfinite(first_loss)) first_loss = loss;
      if (step % R.train.log_every == 0 || step == R.train.max_steps)
        metrics.step_row(step, loss, lr, grad_norm, n_targets, n_tokens / std::max(dt, 1e-9), dt, mem);
    }
    char extra[160];
    std::snprintf(extra, sizeof extra, "loss %.4f lr %.2e %.0f tok/s %.0fMB", loss, lr, n_tokens / std::max(dt, 1e-9), mem);
    bar.update(step, extra);
    if (R.train.eval_every > 0 && step % R.train.eval_every == 0) {
      do_eval(step);
      last_eval_step = step;
    }
    const bool hook_stop = hooks.after_step && !hooks.after_step(step, loss);
    const int sig = g_interrupts.load() > 0 ? g_stop_signal.load() : 0;
    const bool stop = sig != 0 || hook_stop;
    if ((R.train.save_every > 0 && step % R.train.save_every == 0) || stop || step == R.train.max_steps)
      checkpoint(step);
    if (stop) {
      result.interrupted = true;
      result.stopped_by = sig ? signal_name(sig) : "";
      end_bar_line();
      log_info("stopped at step ", step, sig ? cat(" by ", signal_name(sig)) : std::string(),
               "; checkpoint saved (continue with --resume)");
      break;
    }
  }
  bar.finish();
  if (!result.interrupted && last_eval_step != step) do_eval(step);
  result.steps_done = step;
  // The summary of the whole run, whichever processes wrote its rows.
  const MetricsSummary m = summarize_metrics(metrics_path);
  result.first_eval_step = m.first_eval_step;
  result.first_eval_loss = m.first_eval_step >= 0 ? m.first_eval_loss : -1;
  result.last_eval_step = m.last_eval_step;
  result.last_eval_loss = m.last_eval_step >= 0 ? m.last_eval_loss : -1;
  if (!result.has_train_loss && m.step_rows > 0) {  // no step ran here: a finished run resumed
    result.has_train_loss = true;
    result.last_train_loss = m.last_loss;
  }
  result.skipped_steps = m.skipped_steps;
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return result;
}

}  // namespace et
