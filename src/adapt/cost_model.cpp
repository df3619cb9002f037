// Per-token FLOPs and activation memory of adapter plans (formulas in cost_model.h), GradCut's
// cost C_m and the totals written into plan.json.
#include "edgetune/adapt/cost_model.h"

#include <algorithm>
#include <tuple>

#include "edgetune/core/error.h"

namespace et {

namespace {

using nlohmann::json;

double dbl(int64_t v) { return static_cast<double>(v); }

// Position of a matrix in its layer's data flow: q/k/v read the layer input, o the attention
// output, gate/up the MLP input, down the activation.
int stage_of(const std::string& type) {
  if (type == "q_proj" || type == "k_proj" || type == "v_proj") return 0;
  if (type == "o_proj") return 1;
  if (type == "gate_proj" || type == "up_proj") return 2;
  if (type == "down_proj") return 3;
  fail("cost model", "unknown module type '", type, "'");
}

// Keys a query of `layer` attends to, averaged over the row: (T + 1) / 2 under the causal mask,
// (w (w + 1) / 2 + (T - w) w) / T when a sliding window of w < T tokens bites.
double keys_seen(const CostShape& s, int layer) {
  const double T = dbl(s.seq_len);
  const bool listed = layer >= 0 && layer < static_cast<int>(s.layer_window.size());
  const int64_t window = listed ? s.layer_window[static_cast<size_t>(layer)] : 0;
  if (window <= 0 || window >= s.seq_len) return (T + 1.0) / 2.0;
  const double w = dbl(window);
  return (w * (w + 1) / 2 + (T - w) * w) / T;
}

double norm_fwd(double n) { return 4 * n; }
double norm_bwd(double n) { return 8 * n; }

double layer_forward_flops(const CostShape& s, int layer) {
  const double h = dbl(s.hidden), I = dbl(s.intermediate), q = dbl(s.q_out), kv = dbl(s.kv_out);
  double f = 2 * h * (q + 2 * kv) + 2 * q * h + 3 * 2 * h * I;  // projections
  f += 4 * keys_seen(s, layer) * q + 3 * (q + kv) + 6 * I;      // attention, RoPE, activation
  f += (s.gemma_norms ? 4 : 2) * norm_fwd(h);
  if (s.qk_norm) f += norm_fwd(q + kv);
  return f;
}

// Backward FLOPs of the part of a layer after `stage` in the data flow (-1: the whole layer).
double layer_backward_after(const CostShape& s, int layer, int stage) {
  const double h = dbl(s.hidden), I = dbl(s.intermediate), q = dbl(s.q_out), kv = dbl(s.kv_out);
  double f = s.gemma_norms ? norm_bwd(h) : 0;  // Gemma's post-MLP norm
  if (stage <= 2) f += 2 * I * h + 10 * I;     // down dX, activation
  if (stage <= 1) f += 2 * 2 * h * I + norm_bwd(h) + (s.gemma_norms ? norm_bwd(h) : 0);  // gate/up dX, norms
  if (stage <= 0) {
    f += 2 * q * h + 2 * 4 * keys_seen(s, layer) * q + 3 * (q + kv);  // o dX, attention, RoPE
    if (s.qk_norm) f += norm_bwd(q + kv);
  }
  if (stage < 0) f += 2 * h * (q + 2 * kv) + norm_bwd(h);  // q/k/v dX, input norm
  return f;
}

// Activation elements a layer keeps for the backward of the part after `stage` (-1: whole layer).
double layer_kept_after(const CostShape& s, int stage) {
  const double h = dbl(s.hidden), I = dbl(s.intermediate), q = dbl(s.q_out), kv = dbl(s.kv_out);
  double e = s.gemma_norms ? h : 0;
  if (stage <= 2) e += 3 * I;
  if (stage <= 1) e += h + (s.gemma_norms ? h : 0);
  if (stage <= 0) e += 4 * q + (s.qk_norm ? q + kv : 0);
  if (stage < 0) e += h;
  return e;
}

double head_forward_flops(const CostShape& s) {
  return norm_fwd(dbl(s.hidden)) + s.target_fraction * 2 * dbl(s.vocab) * dbl(s.hidden);
}
double head_backward_flops(const CostShape& s) {
  return norm_bwd(dbl(s.hidden)) + s.target_fraction * 4 * dbl(s.vocab) * dbl(s.hidden);
}
double head_kept(const CostShape& s) { return dbl(s.hidden) * (1 + s.target_fraction); }

// The costed form of an entry: its own adapter, or its type's shared adapter when it has none.
std::pair<AdapterKind, int> costed_kind(const Plan& plan, const PlanEntry& e) {
  if (e.kind != AdapterKind::none) return {e.kind, e.rank};
  if (const SharedSpec* s = plan.shared_of(e.type)) return {AdapterKind::shared, s->rank};
  return {AdapterKind::dedicated, std::max(e.rank, 1)};
}

double pct_saved(double ours, double base) { return base > 0 ? 100.0 * (base - ours) / base : 0.0; }

}  // namespace

CostShape cost_shape(const model::ModelConfig& c, int64_t seq_len, int64_t bytes_per_element, double target_fraction) {
  ET_CHECK(seq_len > 0, "cost model", "sequence length must be positive, got ", seq_len);
  CostShape s;
  s.hidden = c.hidden_size;
  s.intermediate = c.intermediate_size;
  s.q_out = c.q_out();
  s.kv_out = c.kv_out();
  s.num_layers = c.num_layers;
  s.vocab = c.vocab_size;
  s.seq_len = seq_len;
  s.bytes_per_element = bytes_per_element;
  s.target_fraction = target_fraction;
  s.qk_norm = c.qk_norm;
  s.gemma_norms = c.gemma_norms;
  for (int64_t l = 0; l < c.num_layers; ++l) {
    const bool sliding = static_cast<size_t>(l) < c.layer_types.size() &&
                         c.layer_types[static_cast<size_t>(l)] == model::LayerType::sliding_attention;
    s.layer_window.push_back(sliding ? c.sliding_window : 0);
  }
  return s;
}

MatrixCost matrix_cost(const CostShape& s, const PlanEntry& e, AdapterKind kind, int rank) {
  ET_CHECK(kind != AdapterKind::none && rank > 0, "cost model", e.module, ": costing needs an adapter kind and a rank");
  ET_CHECK(e.layer >= 0 && e.layer < s.num_layers, "cost model", e.module, ": layer ", e.layer, " is outside the model's ",
           s.num_layers, " layers");
  const double r = rank, in = dbl(e.in_features), out = dbl(e.out_features);
  MatrixCost c;
  c.adapter_forward_flops = 2 * r * (in + out);
  c.adapter_backward_flops = 4 * r * (in + out);
  c.adapter_bytes = in + r;  // a shared adapter folds its vectors into A_t and B_t once per forward: same per token
  c.adapter_bytes *= dbl(s.bytes_per_element);
  const int stage = stage_of(e.type);
  c.forced_flops = head_backward_flops(s) + layer_backward_after(s, e.layer, stage);
  double kept = head_kept(s) + layer_kept_after(s, stage);
  for (int l = e.layer + 1; l < s.num_layers; ++l) {
    c.forced_flops += layer_backward_after(s, l, -1);
    kept += layer_kept_after(s, -1);
  }
  c.forced_bytes = kept * dbl(s.bytes_per_element);
  return c;
}

PlanCost plan_cost(const Plan& plan, const CostShape& s) {
  PlanCost c;
  c.forward_flops = head_forward_flops(s);
  for (int l = 0; l < s.num_layers; ++l) c.forward_flops += layer_forward_flops(s, l);
  double forced_flops = 0, forced_bytes = 0;
  for (const auto& e : plan.entries) {
    if (e.kind == AdapterKind::none || e.train_steps > 0) continue;
    const MatrixCost m = matrix_cost(s, e, e.kind, e.rank);
    c.forward_flops += m.adapter_forward_flops;
    c.backward_flops += m.adapter_backward_flops;
    c.activation_bytes += m.adapter_bytes;
    forced_flops = std::max(forced_flops, m.forced_flops);
    forced_bytes = std::max(forced_bytes, m.forced_bytes);
  }
  c.backward_flops += forced_flops;
  c.activation_bytes += forced_bytes;
  c.forward_flops_cut_cache = c.forward_flops;
  const int cut = static_cast<int>(std::min<int64_t>(plan.cut_layer(), s.num_layers));
  for (int l = 0; l < cut; ++l) c.forward_flops_cut_cache -= layer_forward_flops(s, l);
  return c;
}

std::vector<double> gradcut_costs(const Plan& plan, const CostShape& s, const std::string& model, int floor_layer) {
  std::vector<double> out;
  if (model == "depth") {
    for (const auto& e : plan.entries) out.push_back(static_cast<double>(plan.num_layers - e.layer));
    return out;
  }
  ET_CHECK(model == "flops", "gradcut", "unknown cost model '", model, "' (flops or depth)");
  ET_CHECK(floor_layer >= 0 && floor_layer < s.num_layers, "gradcut", "floor layer ", floor_layer,
           " is outside the model's ", s.num_layers, " layers");
  Plan every = plan;
  for (auto& e : every.entries) std::tie(e.kind, e.rank) = costed_kind(plan, e);
  const PlanCost ref = plan_cost(every, s);
  const double F = ref.forward_flops + ref.backward_flops, M = ref.activation_bytes;
  PlanEntry floor_entry;
  floor_entry.module = "layers." + std::to_string(floor_layer) + ".down_proj";
  floor_entry.layer = floor_layer;
  floor_entry.type = "down_proj";
  floor_entry.in_features = s.intermediate;
  floor_entry.out_features = s.hidden;
  const MatrixCost sunk = matrix_cost(s, floor_entry, AdapterKind::dedicated, 1);
  for (const auto& e : every.entries) {
    const MatrixCost m = matrix_cost(s, e, e.kind, e.rank);
    out.push_back((m.adapter_forward_flops + m.adapter_backward_flops + std::max(0.0, m.forced_flops - sunk.forced_flops)) / F +
                  (m.adapter_bytes + std::max(0.0, m.forced_bytes - sunk.forced_bytes)) / M);
  }
  return out;
}

json plan_totals(const Plan& plan, const CostShape& s, int baseline_rank, double baseline_alpha) {
  Plan base = plan;
  base.shared.clear();
  for (auto& e : base.entries) {
    e.kind = AdapterKind::dedicated;
    e.rank = baseline_rank;
    e.alpha = baseline_alpha;
    e.train_steps = 0;  // all-matrix LoRA trains every adapter every step
  }
  const PlanCost ours = plan_cost(plan, s), theirs = plan_cost(base, s);
  json j;
  j["units"] = "per trained token: FLOPs and activation bytes (formulas: cost_model.h)";
  j["seq_len"] = s.seq_len;
  j["bytes_per_element"] = s.bytes_per_element;
  j["target_fraction"] = s.target_fraction;
  j["num_layers"] = plan.num_layers;
  j["cut_layer"] = plan.cut_layer();
  j["counts"] = {{"dedicated", plan.count(AdapterKind::dedicated)},
                 {"shared", plan.count(AdapterKind::shared)},
                 {"none", plan.count(AdapterKind::none)}};
  j["trainable_parameters"] = plan.trainable_parameters();
  if (plan.warmup_steps() > 0) {
    int n = 0;
    int64_t params = 0;
    for (const auto& e : plan.entries)
      if (e.train_steps > 0) {
        ++n;
        params += static_cast<int64_t>(e.rank) * (e.in_features + e.out_features);
      }
    j["warmup"] = {{"steps", plan.warmup_steps()}, {"adapters", n}, {"trainable_parameters", params},
                   {"cut_layer", plan.cut_layer_at(0)}};
  }
  j["forward_flops"] = ours.forward_flops;
  j["backward_flops"] = ours.backward_flops;
  j["activation_bytes"] = ours.activation_bytes;
  j["forward_flops_cut_cache"] = ours.forward_flops_cut_cache;
  j["all_matrix_lora"] = {{"rank", baseline_rank},
                          {"alpha", baseline_alpha},
                          {"cut_layer", base.cut_layer()},
                          {"trainable_parameters", base.trainable_parameters()},
                          {"forward_flops", theirs.forward_flops},
                          {"backward_flops", theirs.backward_flops},
                          {"activation_bytes", theirs.activation_bytes}};
  j["saved_percent"] = {{"forward_flops", pct_saved(ours.forward_flops, theirs.forward_flops)},
                        {"backward_flops", pct_saved(ours.backward_flops, theirs.backward_flops)},
                        {"training_flops", pct_saved(ours.forward_flops + ours.backward_flops,
                                                     theirs.forward_flops + theirs.backward_flops)},
                        {"training_flops_cut_cache", pct_saved(ours.forward_flops_cut_cache + ours.backward_flops,
                                                               theirs.forward_flops + theirs.backward_flops)},
                        {"activation_bytes", pct_saved(ours.activation_bytes, theirs.activation_bytes)},
                        {"trainable_parameters", pct_saved(static_cast<double>(plan.trainable_parameters()),
                                                           static_cast<double>(base.trainable_parameters()))}};
  j["formula"] =
      "forward = every layer's projections, attention, RoPE, norms and activation + the head on target rows + "
      "every adapter's forward; backward = the backward forced by the lowest adapted matrix (the head, every "
      "layer above it, the part of its own layer after it) + every adapter's backward (dA, dB, dX); activation "
      "bytes = what that forced region and every adapter keep for the backward; forward_flops_cut_cache = the "
      "forward without the layers below the cut (train.cut_cache: they run once per conversation, not per step)";
  return j;
}

}  // namespace et
