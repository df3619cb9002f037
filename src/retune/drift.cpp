#include "edgetune/retune/drift.h"

#include <ATen/ATen.h>

#include <cmath>
#include <limits>

#include "edgetune/core/error.h"
#include "edgetune/core/log.h"
#include "edgetune/core/progress.h"
#include "edgetune/retune/base_weights.h"

namespace et {

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

// a / b for norms: 0 when both are 0, inf when only b is.
double ratio(double a, double b) {
  if (b > 0) return a / b;
  return a > 0 ? kInf : 0.0;
}

// The first patched matrix whose fingerprint in `folder` differs from the patch's, or "".
std::string fingerprint_mismatch(const Patch& p, const std::string& folder) {
  std::vector<std::string> modules;
  for (const auto& f : p.fingerprints) modules.push_back(f.module);
  const auto now = fingerprint_base(folder, modules);
  for (size_t i = 0; i < now.size(); ++i)
    if (now[i].shape != p.fingerprints[i].shape || now[i].hash != p.fingerprints[i].hash)
      return cat(now[i].module, " (norm ", p.fingerprints[i].norm, " in the patch's base, ", now[i].norm, " there)");
  return "";
}

// The factors of an entry's update dW = s B A in float64: a dedicated pair as stored, a shared one
// folded as A = diag(a) A_t, B = diag(b) B_t in float64 (AdapterSet::effective folds in float32).
LoraPair factors64(const AdapterSet& s, const PlanEntry& e) {
  auto f64 = [](const torch::Tensor& t) { return t.detach().to(torch::kCPU, torch::kFloat64); };
  if (e.kind == AdapterKind::dedicated) {
    const LoraPair& p = s.dedicated.at(e.module);
    return {f64(p.A), f64(p.B), p.scale};
  }
  const LoraPair& t = s.shared.at(e.type);
  const SharedVectors& v = s.vectors.at(e.module);
  return {f64(t.A) * f64(v.a).unsqueeze(1), f64(t.B) * f64(v.b).unsqueeze(1), t.scale};
}

}  // namespace

const char* retune_decision_name(RetuneDecision d) { return d == RetuneDecision::retune ? "retune" : "reuse"; }

void Moments::add(const torch::Tensor& values) {
  Moments m;
  m.n = values.numel();
  if (m.n == 0) return;
  const torch::Tensor v = values.to(torch::kFloat64).reshape({-1});
  m.mean = v.mean().item<double>();
  m.m2 = (v - m.mean).square().sum().item<double>();
  merge(m);
}

void Moments::merge(const Moments& o) {
  if (o.n == 0) return;
  if (n == 0) {
    *this = o;
    return;
  }
  const double na = static_cast<double>(n), nb = static_cast<double>(o.n), nt = na + nb;
  const double delta = o.mean - mean;
  mean += delta * nb / nt;
  m2 += o.m2 + delta * delta * na * nb / nt;
  n += o.n;
}

double Moments::std() const { return n > 0 ? std::sqrt(std::max(0.0, m2 / static_cast<double>(n))) : 0.0; }

RetuneDecision decide(double mu_D, double sigma_D, double mu_P, double sigma_P, const RetuneOptions& o) {
  return mu_D + o.k * sigma_D > o.kappa * (mu_P + o.k * sigma_P) ? RetuneDecision::retune : RetuneDecision::reuse;
}

double subspace_drift_norm(const torch::Tensor& D, const torch::Tensor& A, const torch::Tensor& B) {
  ET_CHECK(D.dim() == 2 && A.dim() == 2 && B.dim() == 2 && B.size(0) == D.size(0) && A.size(1) == D.size(1) &&
               A.size(0) == B.size(1),
           "retune", "subspace drift: D ", D.sizes(), ", A ", A.sizes(), " and B ", B.sizes(), " do not fit D ~ B A");
  const torch::Tensor U = std::get<0>(at::linalg_qr(B.to(torch::kFloat64), "reduced"));      // out x r
  const torch::Tensor V = std::get<0>(at::linalg_qr(A.to(torch::kFloat64).t(), "reduced"));  // in x r
  return U.t().mm(D.to(torch::kFloat64).mm(V)).norm().item<double>();
}

DriftReport drift_report(const std::string& patch_path, const std::string& base_old, const std::string& base_new,
                         const RetuneOptions& options) {
  return drift_report(read_patch(patch_path), patch_path, base_old, base_new, options);
}

DriftReport drift_report(const Patch& patch, const std::string& patch_label, const std::string& base_old,
                         const std::string& base_new, const RetuneOptions& options) {
  ET_CHECK(std::isfinite(options.kappa) && options.kappa >= 0, "retune", "--kappa must be a finite number >= 0, not ",
           options.kappa);
  ET_CHECK(std::isfinite(options.k) && options.k >= 0, "retune", "--k must be a finite number >= 0, not ", options.k);
  DriftReport r;
  r.patch = patch_label;
  r.base_old = base_old;
  r.base_new = base_new;
  r.options = options;

  const std::string mismatch = fingerprint_mismatch(patch, base_old);
  if (!mismatch.empty()) {
    r.old_fingerprint_matches = false;
    const std::string msg = cat("--base-old ", base_old, " is not the base ", patch_label, " was trained on: ",
                                mismatch, " differs");
    if (!options.force) fail("retune", msg, "; pass the base it was trained on (", patch.base_path, "), or --force");
    log_warn(msg, " (--force: measuring the drift from it anyway)");
  }
  const BaseWeights a(base_old), b(base_new);
  check_same_architecture(a, b);
  r.old_kind = a.describe();
  r.new_kind = b.describe();
  if (a.nf4() != b.nf4())
    log_warn("one base is NF4 and the other dense: the drift includes the quantization error (",
             a.nf4() ? base_old : base_new, "); compare two .etq files or two folders for the release's own drift");

  const AdapterSet adapters = adapters_from_patch(patch, torch::kCPU);
  std::vector<const PlanEntry*> patched;
  for (const auto& e : patch.plan.entries)
    if (e.kind != AdapterKind::none) patched.push_back(&e);
  if (patched.empty()) fail("retune", patch_label, ": the patch adapts no matrix; there is nothing to decide");

  Moments pd, dd;
  Progress bar("drift", static_cast<int64_t>(patched.size()));
  torch::NoGradGuard no_grad;
  for (size_t i = 0; i < patched.size(); ++i) {
    const PlanEntry& e = *patched[i];
    const std::string name = e.module + ".weight";
    if (!a.has(name)) fail("retune", patch_label, ": adapts ", e.module, ", which ", base_old, " does not have");
    const std::vector<int64_t> want = {e.out_features, e.in_features};
    if (a.shape(name) != want)
      fail("retune", patch_label, ": ", e.module, " is ", e.out_features, "x", e.in_features, " in the patch's plan but ",
           a.shape(name)[0], "x", a.shape(name)[1], " in ", base_old);
    MatrixDrift m;
    m.module = e.module;
    m.layer = e.layer;
    m.type = e.type;
    m.kind = e.kind;
    m.rank = e.rank;
    m.shape = want;
    torch::Tensor D;
    {
      const torch::Tensor w_old = a.read(name);
      m.weight_norm = w_old.norm().item<double>();
      D = b.read(name) - w_old;
    }
    const LoraPair f = factors64(adapters, e);
    const torch::Tensor &A = f.A, &B = f.B;
    {
      const torch::Tensor dW = B.mm(A) * f.scale;  // the only dW alive
      m.patch_norm = dW.norm().item<double>();
      const torch::Tensor x = dW.square();
      Moments pm;
      pm.add(x);
      m.mu_P = pm.mean;
      pd.merge(pm);
    }
    m.drift_norm = D.norm().item<double>();
    {
      Moments dm;
      dm.add(D.square());
      m.mu_D = dm.mean;
      dd.merge(dm);
    }
    m.subspace_norm = subspace_drift_norm(D, A, B);
    m.relative_drift = ratio(m.drift_norm, m.weight_norm);
    m.drift_to_patch = ratio(m.drift_norm, m.patch_norm);
    m.subspace_drift = ratio(m.subspace_norm, m.patch_norm);
    r.matrices.push_back(std::move(m));
    bar.update(static_cast<int64_t>(i + 1));
  }
  bar.finish();
  r.values = pd.n;
  r.mu_P = pd.mean;
  r.sigma_P = pd.std();
  r.mu_D = dd.mean;
  r.sigma_D = dd.std();
  r.statistic = r.mu_D + options.k * r.sigma_D;
  r.threshold = options.kappa * (r.mu_P + options.k * r.sigma_P);
  r.decision = decide(r.mu_D, r.sigma_D, r.mu_P, r.sigma_P, options);
  r.kappa_flip = ratio(r.statistic, r.mu_P + options.k * r.sigma_P);
  return r;
}

}  // namespace et
