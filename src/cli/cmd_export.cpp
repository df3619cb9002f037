// `edgetune export --model MODEL --patch P --format peft|gguf|merged -o OUT`: writes a patch in a
// format other tools load: a PEFT adapter folder, a GGUF LoRA file for llama.cpp / Ollama, or a
// merged Hugging Face model folder. The patch must have been trained on MODEL (checked by fingerprint; --force
// overrides).
#include <memory>

#include "commands.h"
#include "edgetune/core/error.h"
#include "edgetune/core/log.h"
#include "edgetune/core/writable.h"
#include "edgetune/export/gguf_lora_export.h"
#include "edgetune/export/merged_export.h"
#include "edgetune/export/patch.h"
#include "edgetune/export/peft_export.h"

namespace et::cli {

namespace {

struct ExportArgs {
  std::string model, patch, format, out;
  bool force = false;
};

void run_export(const ExportArgs& a) {
  if (a.format == "gguf") check_writable_file(a.out, "export -o");
  else check_writable_dir(a.out, "export -o");
  Patch patch = read_patch(a.patch);
  check_patch_base(patch, a.model, a.force);
  AdapterSet adapters = adapters_from_patch(patch, torch::kCPU);
  if (a.format == "peft") {
    export_peft(adapters, a.model, a.out);
  } else if (a.format == "merged") {
    export_merged(adapters, a.model, a.out);
  } else if (a.format == "gguf") {
    export_gguf_lora(adapters, a.model, a.out);
  } else {
    fail("export", "unknown --format '", a.format, "' (peft, gguf or merged)");
  }
  log_info("exported ", a.patch, " as ", a.format, " to ", a.out);
}

}  // namespace

void add_export_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("export", "Write a patch as a PEFT adapter, a GGUF LoRA (llama.cpp/Ollama) or a merged model");
  auto a = std::make_shared<ExportArgs>();
  cmd->add_option("--model", a->model, "the base model folder the patch was trained on")->required();
  cmd->add_option("--patch", a->patch, "patch.safetensors from `edgetune train`")->required();
  cmd->add_option("--format", a->format, "peft (folder), gguf (file) or merged (folder)")
      ->required()
      ->check(CLI::IsMember({"peft", "gguf", "merged"}));
  cmd->add_option("-o,--output", a->out, "output folder (peft, merged) or .gguf file")->required();
  cmd->add_flag("--force", a->force, "export even if MODEL is not the base the patch was trained on");
  cmd->callback([a] { run_export(*a); });
}

}  // namespace et::cli
