// The torch glue of the LoRA group's pack / unpack kernels (lora_pack.h, lora_pack_cuda.h).
#include "ops/common/torch_glue.h"
#include "ops/lora_linear/lora_pack.h"
#include "ops/lora_linear/lora_pack_cuda.h"

namespace et::ops::detail {

namespace {

et::cuda::LoraPackTable table_of(const LoraLayout& l, int64_t in, const std::vector<double>& scales) {
  et::cuda::LoraPackTable t;
  t.in = in;
  t.out = l.out;
  t.rank = l.rank;
  size_t k = 0;
  for (size_t j = 0; j < l.outs.size(); ++j) {
    if (l.ranks[j] == 0) continue;
    ET_CHECK(k < static_cast<size_t>(et::cuda::kLoraPackMaxMembers) && k < scales.size(), "lora_linear",
             "too many adapters in one group for the packing kernel");
    t.row[k] = l.row[j];
    t.rank_of[k] = l.ranks[j];
    t.col[k] = l.col[j];
    t.out_of[k] = l.outs[j];
    t.scale[k] = static_cast<float>(scales[k]);
    ++k;
  }
  t.members = static_cast<int>(k);
  return t;
}

}  // namespace

bool lora_pack_usable(const torch::Tensor& x, at::TensorList As, at::TensorList Bs) {
  auto kernel_dtype = [](torch::ScalarType t) {
    return t == torch::kFloat32 || t == torch::kBFloat16 || t == torch::kFloat16;
  };
  if (!x.is_cuda() || !kernel_dtype(x.scalar_type()) || As.empty() || As.size() != Bs.size() ||
      As.size() > static_cast<size_t>(et::cuda::kLoraPackMaxMembers))
    return false;
  const auto dt = As[0].scalar_type();
  if (!kernel_dtype(dt)) return false;
  for (size_t k = 0; k < As.size(); ++k)
    for (const torch::Tensor* t : {&As[k], &Bs[k]})
      if (!t->is_cuda() || t->device() != x.device() || t->scalar_type() != dt || !t->is_contiguous()) return false;
  return true;
}

void lora_pack_into(const LoraLayout& l, int64_t in, at::TensorList As, at::TensorList Bs,
                    const std::vector<double>& scales, torch::Tensor& A, torch::Tensor& BD) {
  c10::cuda::CUDAGuard guard(A.device());
  et::cuda::LoraPackTable t = table_of(l, in, scales);
  ET_CHECK(static_cast<size_t>(t.members) == As.size() && A.is_contiguous() && BD.is_contiguous() &&
               A.size(0) == l.rank && A.size(1) == in && BD.size(0) == l.rank && BD.size(1) == l.out,
           "lora_linear", "the packed factors do not fit the group");
  for (int k = 0; k < t.members; ++k) {
    t.a[k] = As[static_cast<size_t>(k)].data_ptr();
    t.b[k] = Bs[static_cast<size_t>(k)].data_ptr();
  }
  et::cuda::lora_pack(t, elem_type(As[0].scalar_type(), "lora_linear"), A.data_ptr(), BD.data_ptr(),
                      elem_type(A.scalar_type(), "lora_linear"), current_stream());
}

void lora_unpack(const LoraLayout& l, int64_t in, const torch::Tensor& dA, const torch::Tensor& dBD,
                 const std::vector<double>& scales, torch::ScalarType factors, std::vector<torch::Tensor>& dAs,
                 std::vector<torch::Tensor>& dBs) {
  c10::cuda::CUDAGuard guard(dA.device());
  et::cuda::LoraPackTable t = table_of(l, in, scales);
  const torch::Tensor a = dA.contiguous(), b = dBD.contiguous();
  const auto o = dA.options().dtype(factors);
  dAs.clear();
  dBs.clear();
  size_t k = 0;
  for (size_t j = 0; j < l.outs.size(); ++j) {
    if (l.ranks[j] == 0) continue;
    dAs.push_back(torch::empty({l.ranks[j], in}, o));
    dBs.push_back(torch::empty({l.outs[j], l.ranks[j]}, o));
    t.da[k] = dAs.back().data_ptr();
    t.db[k] = dBs.back().data_ptr();
    ++k;
  }
  et::cuda::lora_unpack(t, a.data_ptr(), b.data_ptr(), elem_type(a.scalar_type(), "lora_linear"),
                        elem_type(factors, "lora_linear"), current_stream());
}

}  // namespace et::ops::detail
