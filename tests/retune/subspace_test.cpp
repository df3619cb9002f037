// The per-matrix numbers of the report against direct computations: the drift inside the patch's
// subspace ||U^T D V|| (U, V from QR in the library) equals ||P_B D P_A||, with P_B and P_A the
// orthogonal projectors onto B's column space and A's row space built from SVDs; the relative
// drift and the drift-to-patch ratio from the files and the patch's raw tensors.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <cmath>

#include "edgetune/retune/drift.h"
#include "retune_test_util.h"

using namespace et;
using namespace et::test;

namespace {

// The orthogonal projector onto the span of the columns of M (rank from the singular values).
torch::Tensor column_projector(const torch::Tensor& M) {
  auto [U, S, Vh] = at::linalg_svd(M.to(torch::kFloat64), /*full_matrices=*/false);
  const double tol = S.max().item<double>() * 1e-10 * static_cast<double>(std::max(M.size(0), M.size(1)));
  const int64_t r = (S > tol).sum().item<int64_t>();
  const torch::Tensor Us = U.slice(1, 0, r);
  return Us.mm(Us.t());
}

double svd_subspace_norm(const torch::Tensor& D, const torch::Tensor& A, const torch::Tensor& B) {
  return column_projector(B).mm(D).mm(column_projector(A.t())).norm().item<double>();
}

}  // namespace

TEST(SubspaceDrift, AgreesWithSvdProjectorsOnSmallMatrices) {
  torch::manual_seed(1);
  for (auto [out, in, r] : std::vector<std::tuple<int64_t, int64_t, int64_t>>{{7, 5, 2}, {4, 9, 3}, {12, 12, 1}, {6, 6, 6}}) {
    SCOPED_TRACE(testing::Message() << out << "x" << in << " rank " << r);
    const torch::Tensor D = torch::randn({out, in}, torch::kFloat64);
    const torch::Tensor A = torch::randn({r, in}, torch::kFloat64), B = torch::randn({out, r}, torch::kFloat64);
    const double want = svd_subspace_norm(D, A, B);
    EXPECT_NEAR(subspace_drift_norm(D, A, B), want, 1e-10 * want);
    // float32 factors (as the patch stores them) give the same subspace.
    EXPECT_NEAR(subspace_drift_norm(D, A.to(torch::kFloat32), B.to(torch::kFloat32)), want, 1e-5 * want);
    // A drift of the patch's own form B X A lies wholly inside; one orthogonal to B's columns, not at all.
    const torch::Tensor inside = B.mm(torch::randn({r, r}, torch::kFloat64)).mm(A);
    EXPECT_NEAR(subspace_drift_norm(inside, A, B), inside.norm().item<double>(), 1e-10 * inside.norm().item<double>());
    if (r < out) {
      const torch::Tensor outside = (torch::eye(out, torch::kFloat64) - column_projector(B)).mm(D);
      EXPECT_LT(subspace_drift_norm(outside, A, B), 1e-10 * outside.norm().item<double>());
    }
  }
  // Shapes that do not fit D ~ B A are an error.
  EXPECT_NE(error_of([] { subspace_drift_norm(torch::zeros({3, 4}), torch::zeros({2, 5}), torch::zeros({3, 2})); }), "");
}

TEST(SubspaceDrift, ReportRowsMatchDirectComputations) {
  const std::string a = noisy_copy(golden("llama"), "retune-rows-a", 0.0, [](const std::string&) { return false; });
  model::Model m = model::load_model(a);
  const std::string patch = path_join(temp_dir("retune-rows"), "patch.safetensors");
  const Patch p = write_random_patch(a, mixed_plan(m), patch, 4);
  const std::string b = noisy_copy(a, "retune-rows-b", 3e-3, is_projection, 9);
  const DriftReport r = drift_report(patch, a, b, {});
  SafetensorsSet fa(a), fb(b);
  size_t row = 0;
  for (const auto& e : p.plan.entries) {
    if (e.kind == AdapterKind::none) continue;
    ASSERT_LT(row, r.matrices.size());
    const MatrixDrift& md = r.matrices[row++];
    SCOPED_TRACE(e.module);
    EXPECT_EQ(md.module, e.module);
    EXPECT_EQ(md.kind, e.kind);
    const std::string n = e.module + ".weight";
    std::vector<float> va = fa.read_f32(n), vb = fb.read_f32(n);
    const torch::Tensor Wa = torch::from_blob(va.data(), {e.out_features, e.in_features}, torch::kFloat32).to(torch::kFloat64);
    const torch::Tensor D =
        torch::from_blob(vb.data(), {e.out_features, e.in_features}, torch::kFloat32).to(torch::kFloat64) - Wa;
    const torch::Tensor dW = reference_delta(p, e);
    // The factors the update lives in: for a shared adapter diag(b) B_t and diag(a) A_t.
    auto t = [&](const std::string& name) {
      for (const auto& kv : p.tensors)
        if (kv.first == name) return kv.second.to(torch::kFloat64);
      throw std::runtime_error(name);
    };
    torch::Tensor A, B;
    if (e.kind == AdapterKind::dedicated) {
      A = t(e.module + ".lora_A");
      B = t(e.module + ".lora_B");
    } else {
      A = torch::diag(t(e.module + ".shared_a")).mm(t("shared." + e.type + ".lora_A"));
      B = torch::diag(t(e.module + ".shared_b")).mm(t("shared." + e.type + ".lora_B"));
    }
    const double nd = D.norm().item<double>(), nw = Wa.norm().item<double>(), np = dW.norm().item<double>();
    EXPECT_NEAR(md.relative_drift, nd / nw, 1e-9 * nd / nw);
    EXPECT_NEAR(md.drift_to_patch, nd / np, 1e-9 * nd / np);
    const double sub = svd_subspace_norm(D, A, B);
    EXPECT_NEAR(md.subspace_drift, sub / np, 1e-9 * sub / np);
    EXPECT_LT(md.subspace_drift, md.drift_to_patch);  // a projection never grows the norm
    EXPECT_NEAR(md.mu_D, D.square().mean().item<double>(), 1e-9 * md.mu_D);
    EXPECT_NEAR(md.mu_P, dW.square().mean().item<double>(), 1e-9 * md.mu_P);
  }
  EXPECT_EQ(row, r.matrices.size());
}
