// ReTune's data-free decision: does a patch trained on one base release still fit the next?
//
// Over the patched matrices m (those with an adapter in the patch's plan), pooled:
//   patch energy  x = (dW_ij)^2,  dW_m = s B_m A_m           mu_P = mean x, sigma_P = std x
//   drift energy  y = (D_ij)^2,   D_m = W_new,m - W_old,m    mu_D = mean y, sigma_D = std y
//   retune  iff  mu_D + k sigma_D  >  kappa (mu_P + k sigma_P)          (kappa 0.5, k 0.25)
// (std: the population standard deviation, over every value of every patched matrix). The left
// side is the statistic, the right the threshold; equality reuses, so identical bases always reuse.
// Per matrix, for the report (Frobenius norms):
//   relative drift      ||D|| / ||W_old||
//   drift-to-patch      ||D|| / ||dW||
//   subspace drift      ||U^T D V|| / ||dW||, U = Q of QR(B_m) (out x r), V = Q of QR(A_m^T) (in x r):
//                       the part of the drift inside the column and row spaces the patch writes to.
// Everything is computed in float64, one matrix at a time: the two weights, their difference and
// one dW exist at once, never two whole models.
#pragma once
#include <torch/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "edgetune/adapt/plan.h"
#include "edgetune/export/patch.h"

namespace et {

enum class RetuneDecision { reuse, retune };
const char* retune_decision_name(RetuneDecision d);

struct RetuneOptions {
  double kappa = 0.5;  // the threshold is kappa times the patch's energy statistic
  double k = 0.25;     // weight of the standard deviation in both statistics
  bool force = false;  // accept a base-old whose fingerprint differs from the patch's (warns)
};

struct MatrixDrift {
  std::string module;  // "model.layers.3.self_attn.q_proj"
  int layer = 0;
  std::string type;
  AdapterKind kind = AdapterKind::none;
  int rank = 0;
  std::vector<int64_t> shape;  // [out, in]
  double weight_norm = 0;      // ||W_old||
  double drift_norm = 0;       // ||D||
  double patch_norm = 0;       // ||dW||
  double subspace_norm = 0;    // ||U^T D V||
  double relative_drift = 0;   // ||D|| / ||W_old|| (0 when both are 0)
  double drift_to_patch = 0;   // ||D|| / ||dW|| (inf when dW = 0 and D != 0)
  double subspace_drift = 0;   // ||U^T D V|| / ||dW||
  double mu_D = 0, mu_P = 0;   // this matrix's mean (D_ij)^2 and (dW_ij)^2
};

// Mean and M2 (sum of squared deviations) of a set of values, merged across matrices with Chan's
// update, so the pooled mean and standard deviation never see a catastrophic cancellation.
struct Moments {
  int64_t n = 0;
  double mean = 0, m2 = 0;
  void add(const torch::Tensor& values);  // any shape, float64
  void merge(const Moments& other);
  double std() const;  // population standard deviation (0 for no values)
};

struct DriftReport {
  std::string patch, base_old, base_new;
  std::string old_kind, new_kind;  // BaseWeights::describe()
  RetuneOptions options;
  std::vector<MatrixDrift> matrices;
  int64_t values = 0;  // patched values pooled
  double mu_P = 0, sigma_P = 0, mu_D = 0, sigma_D = 0;
  double statistic = 0, threshold = 0;
  RetuneDecision decision = RetuneDecision::reuse;
  // The kappa at which the decision flips: retune for kappa < kappa_flip, reuse from it on
  // (inf when the patch has no energy and the bases differ; 0 when they are identical).
  double kappa_flip = 0;
  bool old_fingerprint_matches = true;  // the patch's fingerprints match base-old
};

// The rule above on pooled statistics.
RetuneDecision decide(double mu_D, double sigma_D, double mu_P, double sigma_P, const RetuneOptions& options);

// ||U^T D V||_F with U, V the orthonormal factors of the reduced QR of B (out x r) and A^T (in x r),
// computed in float64.
double subspace_drift_norm(const torch::Tensor& D, const torch::Tensor& A, const torch::Tensor& B);

// Compares the patch at `patch_path` (read with read_patch) with the two bases. base_old must be the
// base the patch was trained on (its fingerprints; options.force only warns), both bases must
// have the same architecture (check_same_architecture) and the patch's plan must fit them.
DriftReport drift_report(const std::string& patch_path, const std::string& base_old, const std::string& base_new,
                         const RetuneOptions& options);
DriftReport drift_report(const Patch& patch, const std::string& patch_label, const std::string& base_old,
                         const std::string& base_new, const RetuneOptions& options);

}  // namespace et
