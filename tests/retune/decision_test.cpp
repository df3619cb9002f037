// ReTune's decision on tiny base releases made from the golden Llama folder: identical bases
// reuse; a new base = old + Gaussian noise on the projections retunes when the noise's energy puts
// the statistic above the threshold and reuses below it; the decision is monotone in kappa and
// flips where the report says. The pooled statistics are checked against a direct computation
// over every value at once from the files (not the per-matrix merge the library does).
#include <gtest/gtest.h>

#include <cmath>

#include "edgetune/retune/drift.h"
#include "retune_test_util.h"

using namespace et;
using namespace et::test;

namespace {

struct Fixture {
  std::string base, patch;
  Patch p;
};

Fixture make_fixture(const std::string& tag) {
  Fixture f;
  f.base = noisy_copy(golden("llama"), tag + "-a", 0.0, [](const std::string&) { return false; });
  model::Model m = model::load_model(f.base);
  f.patch = path_join(temp_dir(tag + "-patch"), "patch.safetensors");
  f.p = write_random_patch(f.base, mixed_plan(m), f.patch, 11);
  return f;
}

void expect_rel_near(double got, double want, double rel, const char* what) {
  EXPECT_NEAR(got, want, rel * std::abs(want) + 1e-300) << what;
}

void expect_matches_reference(const DriftReport& r, const Patch& p, const std::string& a, const std::string& b) {
  const ReferenceStats ref = reference_stats(p, a, b);
  expect_rel_near(r.mu_P, ref.mu_P, 1e-9, "mu_P");
  expect_rel_near(r.sigma_P, ref.sigma_P, 1e-9, "sigma_P");
  expect_rel_near(r.mu_D, ref.mu_D, 1e-9, "mu_D");
  expect_rel_near(r.sigma_D, ref.sigma_D, 1e-9, "sigma_D");
  const RetuneOptions& o = r.options;
  expect_rel_near(r.statistic, ref.mu_D + o.k * ref.sigma_D, 1e-9, "statistic");
  expect_rel_near(r.threshold, o.kappa * (ref.mu_P + o.k * ref.sigma_P), 1e-9, "threshold");
  EXPECT_EQ(r.decision == RetuneDecision::retune,
            ref.mu_D + o.k * ref.sigma_D > o.kappa * (ref.mu_P + o.k * ref.sigma_P));
}

}  // namespace

TEST(RetuneDecision, IdenticalBasesReuseWithZeroDrift) {
  const Fixture f = make_fixture("retune-same");
  const std::string same = noisy_copy(f.base, "retune-same-b", 0.0, [](const std::string&) { return false; });
  const DriftReport r = drift_report(f.patch, f.base, same, {});
  EXPECT_EQ(r.decision, RetuneDecision::reuse);
  EXPECT_EQ(r.statistic, 0.0);
  EXPECT_EQ(r.mu_D, 0.0);
  EXPECT_GT(r.threshold, 0.0);
  EXPECT_EQ(r.kappa_flip, 0.0);
  size_t patched = 0;
  for (const auto& e : f.p.plan.entries) patched += e.kind != AdapterKind::none;
  ASSERT_EQ(r.matrices.size(), patched);
  for (const auto& m : r.matrices) {
    EXPECT_EQ(m.drift_norm, 0.0) << m.module;
    EXPECT_EQ(m.relative_drift, 0.0) << m.module;
    EXPECT_EQ(m.subspace_drift, 0.0) << m.module;
    EXPECT_GT(m.patch_norm, 0.0) << m.module;
  }
  expect_matches_reference(r, f.p, f.base, same);
  // The same folder as both bases: the same answer.
  EXPECT_EQ(drift_report(f.patch, f.base, f.base, {}).decision, RetuneDecision::reuse);
}

TEST(RetuneDecision, NoiseRetunesAboveTheThresholdAndReusesBelow) {
  const Fixture f = make_fixture("retune-noise");
  const RetuneOptions o;
  const DriftReport same = drift_report(f.patch, f.base, f.base, o);
  // Gaussian drift of variance s2: (D_ij)^2 has mean s2 and standard deviation sqrt(2) s2, so the
  // statistic is about s2 (1 + k sqrt 2). The noise energy, as a multiple of the patch's mu_P, that
  // puts it at the threshold:
  const double boundary = same.threshold / (same.mu_P * (1 + o.k * std::sqrt(2.0)));
  for (double factor : {0.1, 0.5, 2.0, 10.0}) {
    const double multiple = factor * boundary;  // noise energy / patch energy
    SCOPED_TRACE(testing::Message() << "noise energy " << multiple << " x the patch's (" << factor << " x the boundary)");
    const std::string b = noisy_copy(f.base, "retune-noise-b", std::sqrt(multiple * same.mu_P), is_projection,
                                     static_cast<uint64_t>(100 * factor));
    const DriftReport r = drift_report(f.patch, f.base, b, o);
    EXPECT_EQ(r.decision, factor > 1 ? RetuneDecision::retune : RetuneDecision::reuse)
        << "statistic " << r.statistic << ", threshold " << r.threshold;
    EXPECT_NEAR(r.mu_D / r.mu_P, multiple, 0.1 * multiple);
    EXPECT_NEAR(r.statistic / r.threshold, factor, 0.15 * factor);
    expect_matches_reference(r, f.p, f.base, b);
  }
}

TEST(RetuneDecision, MonotoneInKappaAndFlipsWhereReported) {
  const Fixture f = make_fixture("retune-kappa");
  const DriftReport same = drift_report(f.patch, f.base, f.base, {});
  const std::string b = noisy_copy(f.base, "retune-kappa-b", std::sqrt(same.mu_P), is_projection, 5);
  RetuneOptions o;
  const DriftReport at_default = drift_report(f.patch, f.base, b, o);
  const double flip = at_default.kappa_flip;
  ASSERT_GT(flip, 0.0);
  EXPECT_NEAR(flip, at_default.statistic / (at_default.mu_P + o.k * at_default.sigma_P), 1e-12 * flip);
  bool seen_reuse = false;
  for (double kappa = 0; kappa <= 3 * flip; kappa += flip / 8) {
    o.kappa = kappa;
    const DriftReport r = drift_report(f.patch, f.base, b, o);
    EXPECT_EQ(r.statistic, at_default.statistic) << "the statistic does not depend on kappa";
    if (r.decision == RetuneDecision::reuse) seen_reuse = true;
    EXPECT_FALSE(seen_reuse && r.decision == RetuneDecision::retune) << "retune again at kappa " << kappa;
  }
  EXPECT_TRUE(seen_reuse);
  o.kappa = flip * (1 - 1e-9);
  EXPECT_EQ(drift_report(f.patch, f.base, b, o).decision, RetuneDecision::retune);
  o.kappa = flip * (1 + 1e-9);
  EXPECT_EQ(drift_report(f.patch, f.base, b, o).decision, RetuneDecision::reuse);
  // k weighs the standard deviations on both sides: the rule agrees with the reference for any k.
  for (double k : {0.0, 1.0, 3.0}) {
    o.kappa = 0.5;
    o.k = k;
    expect_matches_reference(drift_report(f.patch, f.base, b, o), f.p, f.base, b);
  }
}

TEST(RetuneDecision, DecideIsTheRule) {
  RetuneOptions o;  // kappa 0.5, k 0.25
  // 1 + 0.25 * 2 = 1.5 against 0.5 * (2 + 0.25 * 4) = 1.5: equality reuses.
  EXPECT_EQ(decide(1, 2, 2, 4, o), RetuneDecision::reuse);
  EXPECT_EQ(decide(1.0001, 2, 2, 4, o), RetuneDecision::retune);
  EXPECT_EQ(decide(0, 0, 0, 0, o), RetuneDecision::reuse);
  EXPECT_EQ(decide(1e-30, 0, 0, 0, o), RetuneDecision::retune);
}

TEST(RetuneDecision, MomentsMergeLikeOnePass) {
  torch::manual_seed(3);
  const torch::Tensor all = torch::randn({1000}, torch::kFloat64).square() * 1e-6 + 5.0;
  Moments m;
  for (int64_t i = 0; i < 1000; i += 137) m.add(all.slice(0, i, std::min<int64_t>(i + 137, 1000)));
  EXPECT_EQ(m.n, 1000);
  EXPECT_NEAR(m.mean, all.mean().item<double>(), 1e-12);
  EXPECT_NEAR(m.std(), all.std(false).item<double>(), 1e-9 * all.std(false).item<double>());
}
