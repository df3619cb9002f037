// dump_logits: the float32 logits edgetune computes for given token ids, with or without a patch,
// written to a safetensors file ("input_ids" I64 [rows, T], "logits" F32 [rows, T, vocab]) for
// check_peft.py to compare with transformers + PEFT.
//
//   dump_logits --model FOLDER [--patch patch.safetensors] --ids "1,5,9;1,7,3" --out logits.safetensors
//
// Rows are separated by ';' and must have the same length. The patch must have been trained on
// FOLDER (its fingerprints are checked).
#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include "edgetune/adapt/adapters.h"
#include "edgetune/core/error.h"
#include "edgetune/core/safetensors.h"
#include "edgetune/export/patch.h"
#include "edgetune/model/forward.h"
#include "edgetune/model/model.h"

namespace {

struct Args {
  std::string model, patch, ids, out;
};

Args parse_args(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string k = argv[i];
    if (i + 1 >= argc) et::fail("dump_logits", "option ", k, " needs a value");
    const std::string v = argv[++i];
    if (k == "--model") a.model = v;
    else if (k == "--patch") a.patch = v;
    else if (k == "--ids") a.ids = v;
    else if (k == "--out") a.out = v;
    else et::fail("dump_logits", "unknown option ", k, " (--model, --patch, --ids, --out)");
  }
  if (a.model.empty() || a.ids.empty() || a.out.empty())
    et::fail("dump_logits", "usage: dump_logits --model FOLDER [--patch P] --ids \"1,2;3,4\" --out FILE");
  return a;
}

// "1,5,9;1,7,3" -> rows of ids.
std::vector<std::vector<int64_t>> parse_ids(const std::string& s) {
  std::vector<std::vector<int64_t>> rows(1);
  std::string num;
  auto flush = [&] {
    if (num.empty()) et::fail("dump_logits", "--ids '", s, "' has an empty entry");
    size_t used = 0;
    const long long v = std::stoll(num, &used);
    if (used != num.size() || v < 0) et::fail("dump_logits", "--ids entry '", num, "' is not a token id");
    rows.back().push_back(v);
    num.clear();
  };
  for (char c : s) {
    if (c == ',') {
      flush();
    } else if (c == ';') {
      flush();
      rows.emplace_back();
    } else if (c != ' ') {
      num += c;
    }
  }
  flush();
  for (const auto& r : rows)
    if (r.size() != rows[0].size()) et::fail("dump_logits", "--ids rows differ in length");
  return rows;
}

void run(const Args& a) {
  const auto rows = parse_ids(a.ids);
  et::model::Model m = et::model::load_model(a.model);
  if (!a.patch.empty()) {
    et::Patch p = et::read_patch(a.patch);
    et::check_patch_base(p, a.model, /*force=*/false);
    et::attach_adapters(m, et::adapters_from_patch(p, m.device));
  }
  const int64_t R = static_cast<int64_t>(rows.size()), T = static_cast<int64_t>(rows[0].size());
  std::vector<int64_t> flat;
  for (const auto& r : rows) flat.insert(flat.end(), r.begin(), r.end());
  torch::Tensor ids = torch::tensor(flat, torch::kLong).view({R, T});
  torch::NoGradGuard g;
  torch::Tensor logits = et::model::forward(m, ids).to(torch::kCPU, torch::kFloat32).contiguous();
  std::vector<int64_t> shape(logits.sizes().begin(), logits.sizes().end());
  et::write_safetensors(a.out, {{"input_ids", et::DType::i64, {R, T}, flat.data(), flat.size() * 8},
                                {"logits", et::DType::f32, shape, logits.data_ptr<float>(),
                                 static_cast<size_t>(logits.numel()) * 4}});
}

}  // namespace

int main(int argc, char** argv) {
  try {
    run(parse_args(argc, argv));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "dump_logits: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
