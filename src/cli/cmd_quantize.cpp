// `edgetune quantize MODEL -o OUT.etq`: the NF4 backbone file (see quant/etq_file.h).
#include <cstdio>
#include <memory>

#include "commands.h"
#include "edgetune/core/log.h"
#include "edgetune/core/progress.h"
#include "edgetune/core/writable.h"
#include "edgetune/model/model_files.h"

namespace et::cli {

void add_quantize_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("quantize", "Quantize a Hugging Face model's projections to NF4 into one .etq file");
  auto model = std::make_shared<std::string>();
  auto out = std::make_shared<std::string>();
  cmd->add_option("model", *model, "Hugging Face model folder")->required();
  cmd->add_option("-o,--output", *out, "output .etq file")->required();
  cmd->callback([model, out] {
    check_writable_file(*out, "quantize -o");
    std::unique_ptr<Progress> bar;
    auto rep = model::quantize_to_etq(*model, *out, [&](int64_t done, int64_t total) {
      if (!bar) bar = std::make_unique<Progress>("quantize", total);
      bar->update(done);
    });
    if (bar) bar->finish();
    log_info("quantized ", rep.quantized_matrices, " matrices (", rep.quantized_values, " values) to NF4: ",
             rep.source_mb, " MB -> ", rep.output_mb, " MB, relative RMSE ", rep.rmse);
    std::printf("%s\n", out->c_str());
  });
}

}  // namespace et::cli
