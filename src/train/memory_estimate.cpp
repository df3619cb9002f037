// The peak-memory estimate of a training step (memory_plan.h), term by term. Every per-token
// count below is read off the code that runs: what each autograd node of src/model and src/ops
// saves for the backward (ctx->save_for_backward, and the tensors libtorch's own backward formulas
// keep), and what is alive at the step's peak.
//
// The step's peak is at the end of the forward or early in the backward. At that point the
// persistent state (weights, embeddings, adapters with their gradients and AdamW moments, the cut
// cache) and every saved activation of the micro-batch are alive, plus the larger of two transients
// that are never alive together: the cross-entropy's chunk of logits (forward) and one layer's
// backward working set (the gradients in flight and the NF4 weight group dequantized for dX).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

#include "edgetune/core/error.h"
#include "edgetune/train/memory_plan.h"
#include "ops/cross_entropy/cross_entropy.h"

namespace et {

namespace {

constexpr double kMiB = 1024.0 * 1024.0;

// --- Calibrated constants (CPU: x86-64 Debian 12, libtorch 1.13, bench/memory_probe and
// bench/memory_budget.sh --cpu; see bench/RESULTS.md) ---------------------------------------------
// The process besides its tensors: libtorch's libraries and the code pages a training step runs,
// the tokenizer, the thread pools, the heap's small blocks (measured: the peak resident set less
// the allocator's live peak, 188-203 MiB, the same with 1 and 2 threads).
constexpr double kCpuProcess = 186 * kMiB;
constexpr double kCpuPerThread = 2 * kMiB;
// Blocks under glibc's mmap threshold (fixed at 1 MiB by the CLI's main) stay in the heap when
// freed; the resident peak runs this much above the live tensors of a step.
constexpr double kCpuHeapSlack = 1.03;
// A unified-memory device (Jetson) holds the CUDA context, cuBLAS and libtorch's CUDA libraries in
// the same memory as the host process, and the caching allocator reserves more than it hands out
// (an estimate: not yet measured on a Jetson).
constexpr double kUnifiedRuntime = 900 * kMiB;
constexpr double kUnifiedReserveSlack = 1.10;
// cuBLAS / cuBLASLt workspaces, allocated through the caching allocator by libtorch 2.x (one per
// thread and stream: the forward's and autograd's), and the small tensors of a step (RoPE tables,
// sequence offsets, loss positions, the clip's partial norms).
constexpr double kCudaWorkspace = 72 * kMiB;

bool is_cuda(MemoryDevice d) { return d != MemoryDevice::cpu; }

// The fused attention path (model::uses_varlen_attention on the fast kernel path): on CUDA in a
// 16-bit dtype the kernels of ops/varlen_attention (cuDNN on rows of one sequence, FlashAttention-2's
// varlen kernel on packed rows), on the CPU in float32 its CPU kernel (the probabilities recomputed
// in the backward, nothing of size T x T kept); else the explicit path (Gemma 2's softcapping,
// other dtypes).
bool flash(const MemoryShape& s) {
  const model::ModelConfig& c = s.config;
  if (c.attn_softcap > 0) return false;
  if (!is_cuda(s.device)) return s.dtype_bytes == 4;
  return s.dtype_bytes == 2 && c.head_dim % 8 == 0 && c.head_dim <= 256;
}

double proj_params_per_layer(const model::ModelConfig& c) {
  const double H = static_cast<double>(c.hidden_size), I = static_cast<double>(c.intermediate_size);
  return H * static_cast<double>(c.q_out() + 2 * c.kv_out()) + static_cast<double>(c.q_out()) * H + 3.0 * H * I;
}

// Bytes one layer saves for its backward: `all` per token of the row (the inputs, the key/value
// side), `query` per position whose output is computed (every token, except in the last layer,
// which runs its query side only where the loss reads).
struct LayerSaved {
  double all = 0, query = 0;
};

// The explicit-attention layer (decoder_layer.cpp self_attention, attention.cpp; the CPU path):
//   rmsnorm saves its input x and rstd; the q, k and v projections (one fused LoRA linear each)
//   share the normed input n1 and keep their LoRA products z; RoPE's x*cos + rotate(x)*sin keeps
//   only the cos/sin tables ([B, T, D] each, built per layer); k and v repeated to every query
//   head (GQA) are saved by the two matmuls, with q after RoPE and the float32 softmax output
//   [heads, T] per query (and its cast to the compute dtype when that is not float32); masked_fill
//   keeps the negated mask (bool, per layer); o_proj keeps the attention output (the transposed
//   copy); the second norm keeps the residual sum; gate|up keeps n2, the packed GLU keeps gate|up
//   [2I], down keeps the gated activation [I].
LayerSaved explicit_layer_saved(const MemoryShape& s, bool last) {
  const model::ModelConfig& c = s.config;
  const double dt = s.dtype_bytes, H = static_cast<double>(c.hidden_size), I = static_cast<double>(c.intermediate_size);
  const double qo = static_cast<double>(c.q_out()), kvo = static_cast<double>(c.kv_out());
  const double nh = static_cast<double>(c.num_heads), T = static_cast<double>(s.row_tokens);
  const double D = static_cast<double>(c.head_dim);
  const bool repeat = c.num_heads != c.num_kv_heads;
  LayerSaved l;
  l.all = dt * (2 * H + 2 * (repeat ? qo : kvo) + 2 * D) + 4 /* rstd */;
  l.query = dt * (qo /* q */ + qo /* attention output */ + 2 * H /* residual, n2 */ + 3 * I) + 4 + T /* mask */ +
            nh * T * 4 + (dt != 4 ? nh * T * dt : 0);
  if (last) l.query += dt * H;  // the queries' rows of n1, gathered for q_proj
  if (c.qk_norm) {
    l.all += dt * kvo;
    l.query += dt * qo;
  }
  if (c.gemma_norms) l.query += dt * 2 * H;
  l.query += dt * static_cast<double>(s.layer_rank);
  // Adapter dropout: each projection's dropped input and its mask (float, as the input) for q, k,
  // v, o, gate|up and down, each drawn on its own.
  if (s.dropout > 0 && !s.full) {
    l.all += dt * 2 * (2 * H);
    l.query += dt * 2 * (H + qo + H + I);
  }
  return l;
}

// The fused layer (decoder_layer.cpp self_attention_varlen: the CUDA path in bfloat16, the CPU's in
// float32):
//   q|k|v run as one fused LoRA linear (saving n1 and z), RoPE writes fresh q and k and copies v
//   (saving nothing per token), the fused attention (cuDNN or flash) keeps q, k, v, its output and
//   the float32 log-sum-exp per head; o_proj reads the output in place; the MLP as above. With
//   q/k norms the three projections run one by one and the norms keep q and k before RoPE.
LayerSaved flash_layer_saved(const MemoryShape& s) {
  const model::ModelConfig& c = s.config;
  const double dt = s.dtype_bytes, H = static_cast<double>(c.hidden_size), I = static_cast<double>(c.intermediate_size);
  const double qo = static_cast<double>(c.q_out()), kvo = static_cast<double>(c.kv_out());
  const double nh = static_cast<double>(c.num_heads);
  LayerSaved l;
  l.query = dt * (2 * H /* x, n1 */ + qo + 2 * kvo /* q, k, v */ + qo /* output */ + 2 * H /* residual, n2 */ + 3 * I) +
            4 * (2 + nh) /* rstd x2, lse */;
  if (c.qk_norm) l.query += dt * (qo + kvo);
  if (c.gemma_norms) l.query += dt * 2 * H;
  l.query += dt * static_cast<double>(s.layer_rank);
  // Adapter dropout (fused, one mask per group: q|k|v, o, gate|up, down): the dropped input and a
  // bool mask.
  if (s.dropout > 0 && !s.full) l.query += (dt + 1) * (H + qo + H + I);
  return l;
}

// One layer's backward working set per token, beyond what the layers saved. The top layer's
// backward peaks in its MLP, where the incoming gradient [H] and the down projection's input
// gradient [I] are alive with everything saved (the gated activation's own gradients come after the
// down projection's saved input is freed); the attention's backward runs after the MLP's saved
// tensors ([2H + 3I]) are freed, so it only adds to the peak where it is larger than those: the
// explicit attention's float32 gradients of the probabilities and the scores ([heads, T] each per
// token) on long rows. Checked against the H200's allocator peaks of bench/RESULTS.md
// (train_throughput, 8 x 2048 rows of the Llama-3.2-1B and Qwen2.5-0.5B shapes, bf16 and NF4,
// checkpointing off and on: the estimate within 3% of each, the peaks being given to 0.1 GiB) and
// the CPU's resident peaks.
double layer_backward_per_token(const MemoryShape& s) {
  const model::ModelConfig& c = s.config;
  const double dt = s.dtype_bytes, H = static_cast<double>(c.hidden_size), I = static_cast<double>(c.intermediate_size);
  const double qo = static_cast<double>(c.q_out()), kvo = static_cast<double>(c.kv_out());
  const double nh = static_cast<double>(c.num_heads), T = static_cast<double>(s.row_tokens);
  const bool repeat = c.num_heads != c.num_kv_heads;
  const double mlp = dt * (H + I);
  if (flash(s)) return mlp;
  const double attn = 2 * nh * T * 4 + dt * (H + qo + 2 * (repeat ? qo : kvo)) - dt * (2 * H + 3 * I);
  return std::max(mlp, attn);
}

// The dense copy of the largest projection group, dequantized just in time for a GEMM (NF4 only:
// dense weights are used in place; the CPU's float32 path decodes NF4 inside its GEMM's panels,
// ops/nf4_matmul, and keeps no dense copy).
double dequant_transient(const MemoryShape& s) {
  if (!s.nf4 || (!is_cuda(s.device) && s.dtype_bytes == 4)) return 0;
  const model::ModelConfig& c = s.config;
  const double H = static_cast<double>(c.hidden_size), I = static_cast<double>(c.intermediate_size);
  return s.dtype_bytes * std::max(2.0 * I * H, H * static_cast<double>(c.q_out() + 2 * c.kv_out()));
}

// One chunk of logits of the chunked cross-entropy (its chunk size; the small one with unified
// memory or under a budget, train/causal_lm_loss.h loss_chunk_rows): in the compute dtype on CUDA,
// float32 on the CPU.
double ce_chunk_bytes(const MemoryShape& s, double rows) {
  const int64_t V = s.config.vocab_size;
  const bool cuda = is_cuda(s.device);
  const double chunk = std::min(rows, static_cast<double>(ops::cross_entropy_chunk_rows(V, static_cast<int64_t>(std::ceil(rows)), cuda,
                                                                      s.device == MemoryDevice::cuda_unified || s.budgeted)));
  return chunk * static_cast<double>(V) * (cuda ? s.dtype_bytes : 4);
}

std::string mib(double bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f MiB", bytes / kMiB);
  return buf;
}

}  // namespace

const char* memory_device_name(MemoryDevice d) {
  switch (d) {
    case MemoryDevice::cpu: return "cpu";
    case MemoryDevice::cuda: return "cuda";
    case MemoryDevice::cuda_unified: return "cuda (unified memory)";
  }
  return "?";
}

std::string describe_settings(const MemorySettings& s) {
  std::ostringstream os;
  os << "micro-batch " << s.batch_size << " x " << s.grad_accum << " accumulated, gradient checkpointing "
     << (s.grad_checkpoint ? "on" : "off") << ", cut cache " << (s.cut_cache ? "on" : "off");
  return os.str();
}

double MemoryEstimate::total() const {
  return runtime + weights + embeddings + adapters + activations + cross_entropy + transient + cut_cache + workspace;
}

MemoryEstimate estimate_memory(const MemoryShape& s, const MemorySettings& m) {
  const model::ModelConfig& c = s.config;
  ET_CHECK(c.num_layers > 0 && c.hidden_size > 0 && s.row_tokens > 0, "memory", "an empty model or data shape");
  MemoryEstimate e;
  e.settings = m;
  const double dt = s.dtype_bytes, H = static_cast<double>(c.hidden_size), V = static_cast<double>(c.vocab_size);
  const double L = static_cast<double>(c.num_layers);
  const bool cuda = is_cuda(s.device);

  // Persistent: the frozen projections (NF4: 4 bits, a uint8 absmax per 64 values, a float32 per
  // 256 absmax, small code tables per matrix), the embeddings (and an untied head) and norms, the
  // trainable parameters (float32 value, gradient and AdamW's two moments; full fine-tuning: the
  // weights' value and gradient in the compute dtype, float32 moments).
  const double proj = proj_params_per_layer(c) * L;
  e.weights = s.nf4 ? proj * (0.5 + 1.0 / 64 + 4.0 / (64 * 256)) + 7 * L * 1024 : proj * dt;
  e.embeddings = V * H * dt * (c.tie_word_embeddings ? 1 : 2) + (2 * L + 1) * H * dt;
  if (s.full)
    e.adapters = (e.weights + e.embeddings) / dt * (2 * dt + 8);
  else
    e.adapters = static_cast<double>(s.trainable) * 16;
  if (m.cut_cache) e.cut_cache = static_cast<double>(s.dataset_tokens + 1) * H * dt;

  // Saved activations of one micro-batch in the layers above the cut.
  const double rows = static_cast<double>(m.batch_size), T = static_cast<double>(s.row_tokens);
  const double tokens = rows * T;
  const double targets = tokens * std::min(1.0, std::max(0.0, s.target_fraction));
  const int grad_layers = std::max(0, static_cast<int>(c.num_layers) - std::max(0, s.cut_layer));
  const bool fl = flash(s);
  auto saved_bytes = [&](const LayerSaved& l, double queries) { return l.all * tokens + l.query * queries; };
  const LayerSaved mid = fl ? flash_layer_saved(s) : explicit_layer_saved(s, false);
  const double full_layer = saved_bytes(mid, tokens);
  // The last layer: on the flash path it runs whole and the loss positions are gathered after it
  // (causal_lm_loss.cpp); the explicit path runs only its query side at the loss positions.
  double last_layer = full_layer;
  if (!fl) last_layer = saved_bytes(explicit_layer_saved(s, true), targets);
  double saved = 0;
  if (grad_layers == 1) {
    saved = last_layer;
  } else if (grad_layers > 1 && (!m.grad_checkpoint || grad_layers == 2)) {
    saved = full_layer * (grad_layers - 1) + last_layer;
  } else if (grad_layers > 2) {
    // The first layer above the cut and the last are never checkpointed; the others keep their
    // input, and in the backward one of them at a time is recomputed whole (the last layer's
    // activations are freed by then).
    saved = full_layer + (grad_layers - 2) * H * dt * tokens + std::max(last_layer, full_layer);
  }
  e.activations = saved;

  // The cross-entropy keeps the final norm's input at the targets and dL/dh (taken in the
  // forward, ops/cross_entropy GradInForward), float32 losses; the CPU path in a 16-bit dtype
  // converts the head to float32 for its GEMM.
  e.cross_entropy = targets * (2 * H * dt + 4);
  if (!cuda && s.dtype_bytes != 4) e.cross_entropy += V * H * 4 + targets * H * 4;

  // The larger transient: one chunk of logits in the forward, or one layer's backward working set
  // with a dequantized weight group.
  const double chunk = ce_chunk_bytes(s, targets);
  const double backward = grad_layers > 0 ? layer_backward_per_token(s) * tokens + dequant_transient(s) : 0;
  e.transient = std::max(chunk, backward);
  e.transient_is_backward = backward >= chunk;

  if (cuda) {
    e.workspace = kCudaWorkspace;
    if (s.device == MemoryDevice::cuda_unified) {
      const double device = e.weights + e.embeddings + e.adapters + e.activations + e.cross_entropy + e.transient +
                            e.cut_cache + e.workspace;
      e.runtime = kCpuProcess + kUnifiedRuntime + device * (kUnifiedReserveSlack - 1);
    }
  } else {
    e.runtime = kCpuProcess + kCpuPerThread * std::max(1, s.threads);
    // The heap's slack on what the step allocates and frees.
    e.activations *= kCpuHeapSlack;
    e.cross_entropy *= kCpuHeapSlack;
    e.transient *= kCpuHeapSlack;
  }
  return e;
}

std::string format_estimate(const MemoryShape& s, const MemoryEstimate& e) {
  const model::ModelConfig& c = s.config;
  std::ostringstream os;
  auto row = [&](const char* name, double v, const std::string& what) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "  %-14s %11s  ", name, mib(v).c_str());
    os << buf << what << "\n";
  };
  const std::string dt = s.dtype_bytes == 4 ? "float32" : "bfloat16";
  const int grad_layers = std::max(0, static_cast<int>(c.num_layers) - std::max(0, s.cut_layer));
  row("runtime", e.runtime,
      s.device == MemoryDevice::cpu ? cat("the process: libtorch, ", s.threads, " threads' buffers")
      : s.device == MemoryDevice::cuda ? std::string("not counted: the budget is the CUDA allocator's peak")
                                       : std::string("host process, CUDA context and the allocator's reserve (unified memory)"));
  row("weights", e.weights, cat(s.nf4 ? "NF4" : dt, " projections of ", c.num_layers, " layers"));
  row("embeddings", e.embeddings, cat(dt, c.tie_word_embeddings ? ", tied head" : ", untied head", ", norms"));
  row("adapters", e.adapters,
      s.full ? std::string("every weight trains: gradients and AdamW moments")
             : cat(s.trainable, " trainable parameters, their gradients and AdamW moments (float32)"));
  row("activations", e.activations,
      grad_layers == 0
          ? std::string("none: no layer runs with autograd")
          : cat("saved for the backward: ", e.settings.batch_size, " x ", s.row_tokens, " tokens in layers ",
                std::max(0, s.cut_layer), "..", c.num_layers - 1,
                e.settings.grad_checkpoint && grad_layers > 2 ? " (checkpointed: their inputs, one layer whole)" : "",
                flash(s) ? ", fused attention" : ", explicit attention"));
  row("cross_entropy", e.cross_entropy, "the targets' final hidden states and their gradient");
  row("transient", e.transient,
      e.transient_is_backward ? std::string("one layer's backward: gradients in flight") +
                                    (s.nf4 ? ", a dequantized weight group" : "") +
                                    " (larger than the cross-entropy's chunk of logits)"
                              : std::string("one chunk of logits of the cross-entropy (larger than a layer's backward)"));
  row("cut_cache", e.cut_cache,
      e.settings.cut_cache ? cat(s.dataset_tokens, " tokens' hidden states at layer ", s.cut_layer) : std::string("off"));
  row("workspace", e.workspace, is_cuda(s.device) ? "cuBLAS workspaces, small per-step tensors" : "-");
  row("total", e.total(), describe_settings(e.settings));
  return os.str();
}

}  // namespace et
