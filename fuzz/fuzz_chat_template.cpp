// Chat template rendering: the first byte picks the template, last-turn-only and the generation
// prompt; the rest is a trajectory line, parsed, then rendered as training and generation render it.
#include <string>

#include "edgetune/data/trajectory.h"
#include "edgetune/tokenize/chat_template.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  et::fuzz::work_dir();
  if (size < 1) return 0;
  static const et::ChatTemplate templates[] = {et::ChatTemplate::plain, et::ChatTemplate::llama3,
                                               et::ChatTemplate::chatml, et::ChatTemplate::qwen3,
                                               et::ChatTemplate::gemma3};
  const et::ChatTemplate tmpl = templates[data[0] % 5];
  const bool last_turn_only = (data[0] >> 3) & 1, generation = (data[0] >> 4) & 1;
  const std::string line(reinterpret_cast<const char*>(data + 1), size - 1);
  et::fuzz::accept_clean_errors([&] {
    const et::Conversation c = et::parse_trajectory(line, "auto", "fuzz.jsonl:1");
    const et::RenderedChat r = et::render_chat(c, tmpl, last_turn_only, generation);
    (void)r.text();
  });
  return 0;
}
