#include "edgetune/adapt/adapters.h"

#include <ATen/ATen.h>
#include <torch/csrc/autograd/generated/variable_factories.h>

#include <cmath>

#include "edgetune/core/error.h"
#include "edgetune/model/model.h"

namespace et {

std::vector<std::pair<std::string, torch::Tensor>> AdapterSet::named_parameters() const {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (const auto& s : plan.shared) {
    auto it = shared.find(s.type);
    if (it == shared.end()) continue;
    out.emplace_back("shared." + s.type + ".lora_A", it->second.A);
    out.emplace_back("shared." + s.type + ".lora_B", it->second.B);
  }
  for (const auto& e : plan.entries) {
    if (e.kind == AdapterKind::dedicated) {
      const auto& p = dedicated.at(e.module);
      out.emplace_back(e.module + ".lora_A", p.A);
      out.emplace_back(e.module + ".lora_B", p.B);
    } else if (e.kind == AdapterKind::shared) {
      const auto& v = vectors.at(e.module);
      out.emplace_back(e.module + ".shared_a", v.a);
      out.emplace_back(e.module + ".shared_b", v.b);
    }
  }
  if (token_rows.defined()) out.emplace_back("token_rows", token_rows);
  return out;
}

int64_t AdapterSet::parameter_count() const {
  int64_t n = 0;
  for (const auto& kv : named_parameters()) n += kv.second.numel();
  return n;
}

LoraPair AdapterSet::effective(const std::string& module) const {
  for (const auto& e : plan.entries) {
    if (e.module != module) continue;
    if (e.kind == AdapterKind::dedicated) return dedicated.at(module);
    if (e.kind == AdapterKind::shared) {
      const LoraPair& s = shared.at(e.type);
      const SharedVectors& v = vectors.at(module);
      torch::NoGradGuard g;
      return {s.A * v.a.unsqueeze(1), s.B * v.b.unsqueeze(1), s.scale};
    }
    fail("adapters", module, " has no adapter in the plan");
  }
  fail("adapters", "no matrix named ", module, " in the plan");
}

torch::Tensor AdapterSet::delta_weight(const std::string& module) const {
  LoraPair p = effective(module);
  torch::NoGradGuard g;
  return p.scale * torch::matmul(p.B.to(torch::kFloat32), p.A.to(torch::kFloat32));
}

namespace {
torch::Tensor kaiming_a(int64_t rank, int64_t in, torch::Generator& gen, torch::Device device) {
  const double bound = 1.0 / std::sqrt(static_cast<double>(in));
  auto t = at::empty({rank, in}, at::TensorOptions().dtype(at::kFloat));
  t.uniform_(-bound, bound, gen);
  return t.to(device).set_requires_grad(true);
}
torch::Tensor leaf_zeros(at::IntArrayRef shape, torch::Device device) {
  return torch::zeros(shape, torch::TensorOptions().dtype(torch::kFloat32).device(device)).set_requires_grad(true);
}
torch::Tensor leaf_ones(at::IntArrayRef shape, torch::Device device) {
  return torch::ones(shape, torch::TensorOptions().dtype(torch::kFloat32).device(device)).set_requires_grad(true);
}

torch::Tensor adapter_input(const torch::Tensor& x, double dropout) {
  return dropout > 0 && torch::GradMode::is_enabled() ? at::dropout(x, dropout, true) : x;
}

// y + (h A^T) B^T with the addition fused into the second GEMM (addmm, beta = 1: a zero B adds
// exactly nothing). The scale is already folded into B (out x r), so no token-sized tensor is
// scaled or added on its own: two GEMMs forward, and autograd's addmm/mm backward gives dA and dB
// as single GEMMs and dX = s (dY B) A on top of the base weight's dX.
torch::Tensor lora_add(const torch::Tensor& y, const torch::Tensor& h, const torch::Tensor& A, const torch::Tensor& B) {
  const auto z = at::mm(h.reshape({-1, h.size(-1)}), A.t());
  return at::addmm(y.reshape({-1, y.size(-1)}), z, B.t()).view(y.sizes());
}
}  // namespace

AdapterSet create_adapters(const Plan& plan, uint64_t seed, torch::Device device) {
  AdapterSet s;
  s.plan = plan;
  auto gen = at::detail::createCPUGenerator(seed);
  for (const auto& sp : plan.shared) {
    s.shared[sp.type] = {kaiming_a(sp.rank, sp.in_features, gen, device), leaf_zeros({sp.out_features, sp.rank}, device),
                         plan.scale(sp.rank, sp.alpha)};
  }
  for (const auto& e : plan.entries) {
    if (e.kind == AdapterKind::dedicated) {
      s.dedicated[e.module] = {kaiming_a(e.rank, e.in_features, gen, device),
                               leaf_zeros({e.out_features, e.rank}, device), plan.scale(e.rank, e.alpha)};
    } else if (e.kind == AdapterKind::shared) {
      const SharedSpec* sp = plan.shared_of(e.type);
      ET_CHECK(sp, "adapters", e.module, " is shared but the plan has no shared adapter for ", e.type);
      ET_CHECK(sp->in_features == e.in_features && sp->out_features == e.out_features, "adapters", e.module,
               " is ", e.out_features, "x", e.in_features, " but the shared ", e.type, " adapter is ",
               sp->out_features, "x", sp->in_features);
      s.vectors[e.module] = {leaf_ones({sp->rank}, device), leaf_ones({e.out_features}, device)};
    }
  }
  if (!plan.token_ids.empty()) {
    ET_CHECK(plan.token_width > 0, "adapters", "the plan trains ", plan.token_ids.size(), " token rows of width ",
             plan.token_width);
    s.token_rows = leaf_zeros({static_cast<int64_t>(plan.token_ids.size()), plan.token_width}, device);
  }
  return s;
}

void init_token_rows(AdapterSet& adapters, const model::Model& model) {
  if (!adapters.token_rows.defined()) return;
  const auto& ids = adapters.plan.token_ids;
  for (int64_t id : ids)
    ET_CHECK(id >= 0 && id < model.config.vocab_size, "adapters", "trainable token id ", id,
             " is outside the vocabulary [0, ", model.config.vocab_size, ")");
  ET_CHECK(model.embed_tokens.size(1) == adapters.plan.token_width, "adapters", "token rows are ",
           adapters.plan.token_width, " wide but the model's embedding is ", model.embed_tokens.size(1));
  torch::NoGradGuard g;
  const auto index = torch::tensor(ids, torch::kInt64).to(model.embed_tokens.device());
  adapters.token_rows.copy_(model.embed_tokens.index_select(0, index).to(torch::kFloat32).to(adapters.token_rows.device()));
}

void attach_adapters(model::Model& model, const AdapterSet& adapters) {
  detach_adapters(model);
  if (adapters.token_rows.defined()) {
    const auto& ids = adapters.plan.token_ids;
    ET_CHECK(model.tied_head, "adapters", "trainable token rows need a head tied to the embedding; ", model.folder,
             " has its own ", model.head_name);
    ET_CHECK(adapters.token_rows.dim() == 2 && adapters.token_rows.size(0) == static_cast<int64_t>(ids.size()) &&
                 adapters.token_rows.size(1) == model.config.hidden_size,
             "adapters", "token rows are ", adapters.token_rows.sizes(), " but ", ids.size(), " rows of width ",
             model.config.hidden_size, " are needed");
    const int64_t k = static_cast<int64_t>(ids.size());
    std::vector<int64_t> slot(static_cast<size_t>(model.config.vocab_size), k);
    for (int64_t i = 0; i < k; ++i) {
      ET_CHECK(ids[i] >= 0 && ids[i] < model.config.vocab_size, "adapters", "trainable token id ", ids[i],
               " is outside the vocabulary [0, ", model.config.vocab_size, ")");
      slot[static_cast<size_t>(ids[i])] = i;
    }
    model.token_ids = torch::tensor(ids, torch::kInt64).to(model.device);
    model.token_slot = torch::tensor(slot, torch::kInt64).to(model.device);
    model.token_rows = adapters.token_rows;
  }
  model::fuse_projection_weights(model);  // the fused groups' one-GEMM weights (views, no copy kept)
  const double dropout = adapters.plan.dropout;
  std::map<std::string, model::Linear*> by_name;
  for (model::Linear* lin : model::linear_layers(model)) by_name[lin->name] = lin;
  for (const auto& e : adapters.plan.entries) {
    if (e.kind == AdapterKind::none) continue;
    auto it = by_name.find(e.module);
    ET_CHECK(it != by_name.end(), "adapters", "the plan names ", e.module, ", which the model does not have");
    model::Linear* lin = it->second;
    ET_CHECK(lin->in_features == e.in_features && lin->out_features == e.out_features, "adapters", e.module,
             " is ", lin->out_features, "x", lin->in_features, " in the model but ", e.out_features, "x",
             e.in_features, " in the plan");
    if (e.kind == AdapterKind::dedicated) {
      LoraPair p = adapters.dedicated.at(e.module);
      lin->adapter = [p, dropout](const torch::Tensor& x, const torch::Tensor& y) {
        const auto dt = x.scalar_type();
        return lora_add(y, adapter_input(x, dropout), p.A.to(dt), (p.B * p.scale).to(dt));
      };
      lin->lora = [p, dropout] { return ops::LoraFactors{p.A, p.B, dropout, p.scale}; };
    } else {
      LoraPair s = adapters.shared.at(e.type);
      SharedVectors v = adapters.vectors.at(e.module);
      lin->adapter = [s, v, dropout](const torch::Tensor& x, const torch::Tensor& y) {
        // diag(b) B_t diag(a) A_t = (B_t * b[:, None]) (A_t * a[:, None]): fold the vectors into
        // the small factors (r x in, out x r) instead of scaling token-sized activations.
        const auto dt = x.scalar_type();
        return lora_add(y, adapter_input(x, dropout), (s.A * v.a.unsqueeze(1)).to(dt),
                        (s.B * (v.b.unsqueeze(1) * s.scale)).to(dt));
      };
      lin->lora = [s, v, dropout] {
        return ops::LoraFactors{s.A * v.a.unsqueeze(1), s.B * (v.b.unsqueeze(1) * s.scale), dropout};
      };
    }
  }
}

void detach_adapters(model::Model& model) {
  model.token_ids = model.token_slot = model.token_rows = torch::Tensor();
  for (model::Linear* lin : model::linear_layers(model)) {
    lin->adapter = nullptr;
    lin->lora = nullptr;
  }
}

}  // namespace et
