// The fused LoRA linear group through the shared harness: groups of one, two and three members of
// odd widths, with and without adapters and bias, against the per-member reference in every dtype
// and device; the reference's backward against finite differences; and the frozen weight's
// callbacks run twice (forward, then again in backward), never kept. The CPU path (members on
// nf4_matmul's kernel, NF4 and dense mixed) against the same reference, with dropout against the
// generic fused path on the same mask.
#include <gtest/gtest.h>
#include <torch/csrc/autograd/autograd.h>
#include <torch/cuda.h>

#include "ops/common/kernel_path.h"
#include "ops/common/op_harness.h"
#include "ops/lora_linear/lora_linear.h"
#include "ops/lora_linear/lora_linear_cpu.h"

namespace {

using namespace et::ops;
using namespace et::ops::test;

// A dense frozen weight W [out, in] (+ bias) as callbacks; counts its calls.
std::shared_ptr<FrozenWeight> dense(const torch::Tensor& W, const torch::Tensor& b, int* calls = nullptr) {
  auto w = std::make_shared<FrozenWeight>();
  w->in = W.size(1);
  w->out = W.size(0);
  w->forward = [W, b, calls](const torch::Tensor& x) {
    if (calls) ++*calls;
    const torch::Tensor Wx = W.to(x.device(), x.scalar_type());
    return b.defined() ? at::addmm(b.to(x.device(), x.scalar_type()), x, Wx.t()) : at::mm(x, Wx.t());
  };
  w->input_grad = [W, calls](const torch::Tensor& dy) {
    if (calls) ++*calls;
    return at::mm(dy, W.to(dy.device(), dy.scalar_type()));
  };
  return w;
}

struct Group {
  std::vector<int64_t> outs, ranks;  // rank 0: no adapter
  int64_t in = 0;
  bool bias = false;
};

// inputs: x, W (frozen), b, then A_j, B_j for each member with an adapter.
OpCase group_case(const Group& g, int64_t rows) {
  torch::manual_seed(rows * 31 + g.in);
  int64_t out = 0;
  for (auto o : g.outs) out += o;
  OpCase c;
  c.label = "rows=" + std::to_string(rows) + " in=" + std::to_string(g.in) + " members=" + std::to_string(g.outs.size());
  c.inputs = {torch::randn({rows, g.in}), torch::randn({out, g.in}) * 0.2, g.bias ? torch::randn({out}) : torch::zeros({0})};
  c.grad = {true, false, false};
  c.keep_dtype = {false, false, false};
  for (size_t j = 0; j < g.outs.size(); ++j) {
    if (g.ranks[j] == 0) continue;
    c.inputs.push_back(torch::randn({g.ranks[j], g.in}) * 0.3);
    c.inputs.push_back(torch::randn({g.outs[j], g.ranks[j]}) * 0.3);
    c.grad.push_back(true);
    c.grad.push_back(true);
    c.keep_dtype.push_back(true);  // float32 factors, as the adapters hold them
    c.keep_dtype.push_back(true);
  }
  return c;
}

OpCheck group_check(const Group& g) {
  auto run = [g](const std::vector<torch::Tensor>& x, bool fused) {
    const torch::Tensor b = x[2].numel() ? x[2] : torch::Tensor();
    auto w = dense(x[1], b);
    std::vector<LoraFactors> lora;
    size_t k = 3;
    for (size_t j = 0; j < g.outs.size(); ++j) {
      if (g.ranks[j] == 0) {
        lora.emplace_back();
        continue;
      }
      lora.push_back({x[k], x[k + 1], 0.0, 0.5 + 0.75 * static_cast<double>(j)});  // a scale per member
      k += 2;
    }
    return std::vector<torch::Tensor>{fused ? lora_linear(x[0], w, g.outs, lora) : lora_linear_ref(x[0], *w, g.outs, lora)};
  };
  return {"lora_linear", [run](const std::vector<torch::Tensor>& x) { return run(x, true); },
          [run](const std::vector<torch::Tensor>& x) { return run(x, false); }};
}

const std::vector<Group>& groups() {
  static const std::vector<Group> g{
      {{33}, {4}, 31, false},                 // o or down: one member
      {{31, 33}, {3, 5}, 33, false},          // gate + up, different ranks
      {{33, 4097, 31}, {2, 0, 7}, 31, true},  // q, k, v with biases; k without an adapter
      {{31, 33}, {0, 0}, 33, true},           // no adapter at all
  };
  return g;
}

TEST(LoraLinear, GroupsMatchThePerMemberReferenceAtOddSizes) {
  for (const auto& dev : devices())
    for (const auto& g : groups())
      for (int64_t rows : {int64_t{1}, int64_t{31}, int64_t{33}})
        for (auto dt : {torch::kFloat32, torch::kBFloat16}) {
          int64_t out = 0;
          for (auto o : g.outs) out += o;
          // libtorch 1.13's CPU bfloat16 GEMM accumulates in bfloat16: its dx over thousands of
          // outputs is ~7% off for the reference itself, so wide bfloat16 groups run on CUDA only.
          if (dt == torch::kBFloat16 && dev.is_cpu() && out > 1024) continue;
          expect_matches_reference(group_check(g), group_case(g, rows), dt, dev);
        }
}

TEST(LoraLinear, ManyRowsMatchTheReference) {
  for (const auto& dev : devices()) expect_matches_reference(group_check(groups()[2]), group_case(groups()[2], 4097), torch::kFloat32, dev);
}

TEST(LoraLinear, ReferenceBackwardMatchesFiniteDifferences) {
  for (const auto& g : groups()) {
    OpCase c = group_case(g, 5);
    // small widths keep the float64 finite differences quick
    expect_reference_gradients_match_finite_differences(group_check(g), c);
  }
}

// A float32 CPU group as the model builds it: member j NF4 (even j: random codes, scales, levels)
// or dense (odd j), listed for the CPU path; the callbacks (the reference's frozen part) compute
// x W^T + b and dy W from the plain definition of W in the input's dtype.
std::shared_ptr<FrozenWeight> cpu_group(const std::vector<int64_t>& outs, int64_t in, bool bias, uint64_t seed) {
  torch::manual_seed(static_cast<int64_t>(seed));
  auto w = std::make_shared<FrozenWeight>();
  w->in = in;
  w->matrices = static_cast<int>(outs.size());
  for (size_t j = 0; j < outs.size(); ++j) {
    MatmulWeight m;
    m.rows = outs[j];
    m.cols = in;
    if (j % 2 == 0) {
      m.packed = torch::randint(0, 256, {(outs[j] * in + 1) / 2}, torch::kUInt8);
      m.scales = torch::rand({(outs[j] * in + 63) / 64}) * 0.2 + 0.05;
      m.code = std::get<0>(torch::sort(torch::rand({16}) * 2 - 1));
    } else {
      m.dense = torch::randn({outs[j], in}) * 0.2;
    }
    w->cpu_members.push_back(m);
    w->cpu_bias.push_back(bias ? torch::randn({outs[j]}) : torch::Tensor());
    w->out += outs[j];
  }
  const auto members = w->cpu_members;
  const auto biases = w->cpu_bias;
  auto whole = [members](torch::ScalarType dt) {
    std::vector<torch::Tensor> rows;
    for (const auto& m : members) rows.push_back(nf4_dequantize_plain(m, dt));
    return torch::cat(rows, 0);
  };
  w->forward = [whole, biases, outs](const torch::Tensor& x) {
    torch::Tensor y = at::mm(x, whole(x.scalar_type()).t());
    int64_t col = 0;
    for (size_t j = 0; j < outs.size(); ++j) {
      if (biases[j].defined()) y.narrow(1, col, outs[j]).add_(biases[j].to(x.scalar_type()));
      col += outs[j];
    }
    return y;
  };
  w->input_grad = [whole](const torch::Tensor& dy) { return at::mm(dy, whole(dy.scalar_type())); };
  return w;
}

// inputs: x, then A_j, B_j for each member with an adapter (the frozen weight is fixed by g).
OpCase cpu_group_case(const Group& g, int64_t rows) {
  OpCase c = group_case(g, rows);
  c.inputs.erase(c.inputs.begin() + 1, c.inputs.begin() + 3);
  c.grad.erase(c.grad.begin() + 1, c.grad.begin() + 3);
  c.keep_dtype.erase(c.keep_dtype.begin() + 1, c.keep_dtype.begin() + 3);
  return c;
}

OpCheck cpu_group_check(const Group& g) {
  auto w = cpu_group(g.outs, g.in, g.bias, static_cast<uint64_t>(g.in * 7 + g.outs.size()));
  auto run = [g, w](const std::vector<torch::Tensor>& x, bool fast) {
    std::vector<LoraFactors> lora;
    size_t k = 1;
    for (size_t j = 0; j < g.outs.size(); ++j) {
      if (g.ranks[j] == 0) {
        lora.emplace_back();
        continue;
      }
      lora.push_back({x[k], x[k + 1], 0.0, 1.0 + 0.5 * static_cast<double>(j)});  // a scale per member (1: none)
      k += 2;
    }
    return std::vector<torch::Tensor>{fast ? lora_linear(x[0], w, g.outs, lora) : lora_linear_ref(x[0], *w, g.outs, lora)};
  };
  return {"lora_linear (CPU)", [run](const std::vector<torch::Tensor>& x) { return run(x, true); },
          [run](const std::vector<torch::Tensor>& x) { return run(x, false); }};
}

TEST(LoraLinear, CpuPathMatchesThePerMemberReferenceAtOddSizes) {
  KernelPathScope fast(KernelPath::fast);
  ASSERT_TRUE(et::ops::detail::lora_linear_cpu_usable(torch::randn({2, 31}), *cpu_group({33}, 31, false, 1)));
  for (const auto& g : groups())
    for (int64_t rows : {int64_t{1}, int64_t{31}, int64_t{33}})
      expect_matches_reference(cpu_group_check(g), cpu_group_case(g, rows), torch::kFloat32, torch::kCPU);
  expect_matches_reference(cpu_group_check(groups()[1]), cpu_group_case(groups()[1], 4097), torch::kFloat32, torch::kCPU);
}

TEST(LoraLinear, CpuPathDropsOutLikeTheGenericFusedPath) {
  // The same seed gives both paths the same mask (one draw for the group, of x's shape), so the
  // outputs and every gradient agree to float32 rounding.
  KernelPathScope fast(KernelPath::fast);
  const std::vector<int64_t> outs{33, 31};
  auto w = cpu_group(outs, 37, true, 4);
  auto generic = std::make_shared<FrozenWeight>(*w);
  generic->cpu_members.clear();
  generic->cpu_bias.clear();
  torch::manual_seed(8);
  const torch::Tensor x0 = torch::randn({29, 37}), A0 = torch::randn({4, 37}) * 0.3, B0 = torch::randn({33, 4}) * 0.3;
  const torch::Tensor A1 = torch::randn({3, 37}) * 0.3, B1 = torch::randn({31, 3}) * 0.3, up = torch::randn({29, 64});
  std::vector<torch::Tensor> grads[2], ys;
  for (int path = 0; path < 2; ++path) {
    torch::Tensor x = x0.clone().requires_grad_(true), a0 = A0.clone().requires_grad_(true), b0 = B0.clone().requires_grad_(true);
    torch::Tensor a1 = A1.clone().requires_grad_(true), b1 = B1.clone().requires_grad_(true);
    torch::manual_seed(21);
    torch::Tensor y = lora_linear(x, path == 0 ? w : generic, outs, {{a0, b0, 0.25}, {a1, b1, 0.25}});
    torch::autograd::backward({y}, {up});
    ys.push_back(y.detach());
    grads[path] = {x.grad(), a0.grad(), b0.grad(), a1.grad(), b1.grad()};
  }
  EXPECT_LT(relative_error(ys[0], ys[1]), 1e-5);
  EXPECT_GT(relative_error(ys[0], lora_linear_ref(x0, *w, outs, {{A0, B0}, {A1, B1}})), 1e-3) << "no dropout happened";
  for (size_t i = 0; i < grads[0].size(); ++i) EXPECT_LT(relative_error(grads[0][i], grads[1][i]), 1e-5) << "gradient " << i;
}

TEST(LoraLinear, TheFrozenWeightIsProducedInForwardAndAgainInBackward) {
  int calls = 0;
  auto w = dense(torch::randn({6, 4}), torch::Tensor(), &calls);
  auto x = torch::randn({3, 4}).requires_grad_(true);
  auto A = torch::randn({2, 4}).requires_grad_(true), B = torch::randn({6, 2}).requires_grad_(true);
  auto y = lora_linear(x, w, {6}, {{A, B}});
  EXPECT_EQ(calls, 1);
  y.sum().backward();
  EXPECT_EQ(calls, 2);
  EXPECT_TRUE(A.grad().defined() && B.grad().defined() && x.grad().defined());
}

// OutputValue::unused (a recompute that only backpropagates): the frozen forward is not called and
// every gradient is the one of the computed output, bit for bit (the backward reads no output), on
// the generic fused path (CPU, and CUDA where present) and the CPU path.
TEST(LoraLinear, AnUnusedOutputSkipsTheFrozenForwardAndKeepsTheGradients) {
  KernelPathScope fast(KernelPath::fast);
  const std::vector<int64_t> outs{33, 31};
  std::vector<std::pair<std::string, torch::Device>> paths{{"generic", torch::kCPU}, {"cpu", torch::kCPU}};
  if (torch::cuda::is_available()) paths.push_back({"generic", torch::Device(torch::kCUDA)});
  for (const auto& [kind, dev] : paths) {
    const auto dt = dev.is_cuda() ? torch::kBFloat16 : torch::kFloat32;
    torch::manual_seed(9);
    const torch::Tensor W = torch::randn({64, 37}) * 0.2;
    int calls = 0;
    std::shared_ptr<FrozenWeight> w = kind == "cpu" ? cpu_group(outs, 37, true, 5) : dense(W, torch::randn({64}), &calls);
    const auto o = torch::TensorOptions().device(dev);
    const torch::Tensor x0 = torch::randn({29, 37}, o).to(dt), up = torch::randn({29, 64}, o).to(dt);
    const torch::Tensor A0 = torch::randn({4, 37}, o) * 0.3, B0 = torch::randn({33, 4}, o) * 0.3;
    const torch::Tensor A1 = torch::randn({3, 37}, o) * 0.3, B1 = torch::randn({31, 3}, o) * 0.3;
    std::vector<torch::Tensor> grads[2];
    for (int unused = 0; unused < 2; ++unused) {
      torch::Tensor x = x0.clone().requires_grad_(true), a0 = A0.clone().requires_grad_(true), b0 = B0.clone().requires_grad_(true);
      torch::Tensor a1 = A1.clone().requires_grad_(true), b1 = B1.clone().requires_grad_(true);
      calls = 0;
      torch::Tensor y = lora_linear(x, w, outs, {{a0, b0, 0, 0.5}, {a1, b1, 0, 2.0}},
                                    unused ? OutputValue::unused : OutputValue::computed);
      ASSERT_EQ(y.sizes(), (std::vector<int64_t>{29, 64})) << kind;
      if (kind == "generic") {
        EXPECT_EQ(calls, unused ? 0 : 1) << "frozen forward calls, " << dev;
      }
      torch::autograd::backward({y}, {up});
      grads[unused] = {x.grad(), a0.grad(), b0.grad(), a1.grad(), b1.grad()};
    }
    for (size_t i = 0; i < grads[0].size(); ++i)
      EXPECT_TRUE(torch::equal(grads[0][i], grads[1][i])) << kind << " on " << dev << ", gradient " << i;
  }
}

TEST(LoraLinear, BadShapesNameTheMember) {
  auto w = dense(torch::randn({6, 4}), torch::Tensor());
  const auto x = torch::randn({3, 4});
  EXPECT_THROW(lora_linear(x, w, {5}, {{}}), std::exception);  // widths add up to 5, not 6
  EXPECT_THROW(lora_linear(x, w, {6}, {{torch::randn({2, 3}), torch::randn({6, 2})}}), std::exception);
}

}  // namespace
