// One JSONL trajectory line in each accepted form: chat (messages, tool calls with object or JSON
// string arguments, content lists) and ReAct (Thought / Action / Action Input / Observation).
#include <string>

#include "edgetune/data/trajectory.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  et::fuzz::work_dir();
  const std::string line(reinterpret_cast<const char*>(data), size);
  for (const char* format : {"auto", "chat", "react"})
    et::fuzz::accept_clean_errors([&] { (void)et::parse_trajectory(line, format, "fuzz.jsonl:1"); });
  return 0;
}
