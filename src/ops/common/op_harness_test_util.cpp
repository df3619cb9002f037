// The shared op test harness (op_harness.h).
#include <gtest/gtest.h>
#include <torch/csrc/autograd/autograd.h>
#include <torch/cuda.h>

#include <sstream>

#include "ops/common/op_harness.h"

namespace et::ops::test {

Tolerance default_tolerance(torch::ScalarType dtype) {
  if (dtype == torch::kBFloat16) return {1.5e-2, 3e-2};
  if (dtype == torch::kFloat16) return {3e-3, 6e-3};
  if (dtype == torch::kFloat64) return {1e-12, 1e-11};
  return {1e-5, 1e-4};
}

std::vector<torch::Device> devices() {
  std::vector<torch::Device> d{torch::kCPU};
  if (torch::cuda::is_available()) d.emplace_back(torch::kCUDA, 0);
  return d;
}

const std::vector<int64_t>& odd_sizes() {
  static const std::vector<int64_t> s{1, 31, 33, 4097};
  return s;
}

double relative_error(const torch::Tensor& got, const torch::Tensor& want) {
  const torch::Tensor g = got.detach().to(torch::kCPU, torch::kFloat64);
  const torch::Tensor w = want.detach().to(torch::kCPU, torch::kFloat64);
  if (g.sizes() != w.sizes()) return std::numeric_limits<double>::infinity();
  if (!torch::isfinite(g).all().item<bool>()) return std::numeric_limits<double>::infinity();
  const double den = std::max(w.norm().item<double>(), 1e-30);
  return (g - w).norm().item<double>() / den;
}

namespace {

bool flag(const std::vector<bool>& v, size_t i) { return i < v.size() && v[i]; }

// The case's inputs as leaves of `dtype` on `device` (non-floating and keep_dtype ones as given,
// moved to the device); those with grad require it.
std::vector<torch::Tensor> prepare(const OpCase& c, torch::ScalarType dtype, torch::Device device) {
  std::vector<torch::Tensor> out;
  for (size_t i = 0; i < c.inputs.size(); ++i) {
    const torch::Tensor& t = c.inputs[i];
    torch::Tensor u = t.is_floating_point() && !flag(c.keep_dtype, i) ? t.to(device, dtype) : t.to(device);
    if (t.is_floating_point() && flag(c.keep_dtype, i) && dtype == torch::kFloat64) u = u.to(torch::kFloat64);
    u = u.detach().clone();
    if (flag(c.grad, i)) u.set_requires_grad(true);
    out.push_back(u);
  }
  return out;
}

// sum_j <upstream_j, outputs_j> (floating outputs only), in float64.
torch::Tensor contract(const std::vector<torch::Tensor>& outs, const std::vector<torch::Tensor>& up) {
  torch::Tensor total = torch::zeros({}, torch::TensorOptions().dtype(torch::kFloat64));
  for (size_t j = 0; j < outs.size(); ++j) {
    if (!outs[j].is_floating_point()) continue;
    total = total + (outs[j].to(torch::kCPU, torch::kFloat64) * up[j]).sum();
  }
  return total;
}

std::vector<torch::Tensor> upstream_for(const std::vector<torch::Tensor>& outs, uint64_t seed) {
  auto gen = at::detail::createCPUGenerator(seed);
  std::vector<torch::Tensor> up;
  for (const auto& o : outs) {
    if (!o.is_floating_point()) {
      up.emplace_back();
      continue;
    }
    auto t = at::empty(o.sizes(), at::TensorOptions().dtype(at::kDouble));
    t.normal_(0.0, 1.0, gen);
    up.push_back(t);
  }
  return up;
}

std::string where(const OpCheck& op, const OpCase& c, torch::ScalarType dtype, torch::Device device) {
  std::ostringstream s;
  s << op.op << " [" << c.label << "] " << c10::toString(dtype) << " on " << device.str();
  return s.str();
}

}  // namespace

std::vector<std::string> reference_mismatches(const OpCheck& op, const OpCase& c, torch::ScalarType dtype,
                                              torch::Device device, const Tolerance& tol) {
  std::vector<std::string> bad;
  const std::string at = where(op, c, dtype, device);
  std::vector<torch::Tensor> xf = prepare(c, dtype, device);
  std::vector<torch::Tensor> xr = prepare(c, torch::kFloat64, torch::kCPU);
  std::vector<torch::Tensor> yf, yr;
  try {
    yf = op.fast(xf);
  } catch (const std::exception& e) {
    return {at + ": the fast path threw: " + e.what()};
  }
  yr = op.reference(xr);
  if (yf.size() != yr.size()) return {at + ": " + std::to_string(yf.size()) + " outputs, the reference has " +
                                      std::to_string(yr.size())};
  for (size_t j = 0; j < yf.size(); ++j) {
    if (!yr[j].is_floating_point()) {
      if (!torch::equal(yf[j].to(torch::kCPU), yr[j])) bad.push_back(at + ": output " + std::to_string(j) + " differs");
      continue;
    }
    if (yf[j].device() != device)
      bad.push_back(at + ": output " + std::to_string(j) + " is on " + yf[j].device().str());
    const double e = relative_error(yf[j], yr[j]);
    if (!(e <= tol.forward))
      bad.push_back(at + ": output " + std::to_string(j) + " relative error " + std::to_string(e) + " > " +
                    std::to_string(tol.forward));
  }
  bool any_grad = false;
  for (size_t i = 0; i < c.inputs.size(); ++i) any_grad = any_grad || flag(c.grad, i);
  if (!any_grad) return bad;
  const std::vector<torch::Tensor> up = upstream_for(yr, 1234);
  std::vector<torch::Tensor> up_dev;
  for (size_t j = 0; j < yf.size(); ++j)
    up_dev.push_back(up[j].defined() ? up[j].to(yf[j].device(), yf[j].scalar_type()) : torch::Tensor());
  std::vector<torch::Tensor> outs_f, grads_f, outs_r, grads_r;
  for (size_t j = 0; j < yf.size(); ++j)
    if (up[j].defined() && yf[j].requires_grad()) {
      outs_f.push_back(yf[j]);
      grads_f.push_back(up_dev[j]);
    }
  for (size_t j = 0; j < yr.size(); ++j)
    if (up[j].defined() && yr[j].requires_grad()) {
      outs_r.push_back(yr[j]);
      grads_r.push_back(up[j]);
    }
  if (outs_f.empty()) return {at + ": no output of the fast path requires grad"};
  torch::autograd::backward(outs_f, grads_f);
  torch::autograd::backward(outs_r, grads_r);
  for (size_t i = 0; i < c.inputs.size(); ++i) {
    if (!flag(c.grad, i)) continue;
    const torch::Tensor gf = xf[i].grad(), gr = xr[i].grad();
    if (!gr.defined()) continue;
    if (!gf.defined()) {
      bad.push_back(at + ": input " + std::to_string(i) + " got no gradient from the fast path");
      continue;
    }
    const double e = relative_error(gf, gr);
    if (!(e <= tol.backward))
      bad.push_back(at + ": gradient of input " + std::to_string(i) + " relative error " + std::to_string(e) +
                    " > " + std::to_string(tol.backward));
  }
  return bad;
}

void expect_matches_reference(const OpCheck& op, const OpCase& c, torch::ScalarType dtype, torch::Device device,
                              const Tolerance& tol) {
  for (const auto& m : reference_mismatches(op, c, dtype, device, tol)) ADD_FAILURE() << m;
}

void expect_reference_gradients_match_finite_differences(const OpCheck& op, const OpCase& c, int directions,
                                                         double tol) {
  std::vector<torch::Tensor> x = prepare(c, torch::kFloat64, torch::kCPU);
  std::vector<torch::Tensor> y = op.reference(x);
  const std::vector<torch::Tensor> up = upstream_for(y, 99);
  torch::Tensor loss = contract(y, up);
  std::vector<torch::Tensor> leaves;
  for (size_t i = 0; i < x.size(); ++i)
    if (flag(c.grad, i)) leaves.push_back(x[i]);
  ASSERT_FALSE(leaves.empty()) << op.op << " [" << c.label << "]: no input has grad";
  const auto grads = torch::autograd::grad({loss}, leaves, {}, false, false, /*allow_unused=*/true);
  auto gen = at::detail::createCPUGenerator(7);
  for (int d = 0; d < directions; ++d) {
    std::vector<torch::Tensor> dir;
    double analytic = 0;
    for (size_t k = 0; k < leaves.size(); ++k) {
      auto v = at::empty(leaves[k].sizes(), at::TensorOptions().dtype(at::kDouble));
      v.normal_(0.0, 1.0, gen);
      dir.push_back(v);
      if (grads[k].defined()) analytic += (grads[k] * v).sum().item<double>();
    }
    const double h = 1e-6;
    auto shifted = [&](double sign) {
      torch::NoGradGuard ng;
      std::vector<torch::Tensor> xs = x;
      size_t k = 0;
      for (size_t i = 0; i < xs.size(); ++i)
        if (flag(c.grad, i)) xs[i] = x[i].detach() + sign * h * dir[k++];
      return contract(op.reference(xs), up).item<double>();
    };
    const double numeric = (shifted(1) - shifted(-1)) / (2 * h);
    const double scale = std::max({1.0, std::fabs(analytic), std::fabs(numeric)});
    EXPECT_LE(std::fabs(numeric - analytic) / scale, tol)
        << op.op << " [" << c.label << "] direction " << d << ": finite differences " << numeric
        << ", autograd " << analytic;
  }
}

}  // namespace et::ops::test
