// Every value of a real tokenizer.json and tokenizer_config.json replaced, one at a time, by a value
// of each other JSON type: the tokenizer either still loads (a lenient field) or fails with an
// et::Error naming the file and the key. Never a bare nlohmann exception ("type must be string,
// but is number") that names neither.
#include <gtest/gtest.h>

#include <functional>
#include <nlohmann/json.hpp>

#include "edgetune/core/error.h"
#include "edgetune/core/file_io.h"
#include "edgetune/tokenize/tokenizer.h"
#include "test_util.h"

namespace et {
namespace {

using nlohmann::ordered_json;

struct Leaf {
  ordered_json::json_pointer ptr;
  std::string key;  // the object key that holds it (for array items: the array's key, singular)
};

// Every leaf (and every empty container) under `j`; inside the large model.vocab / model.merges only
// the first few entries.
void leaves(const ordered_json& j, const ordered_json::json_pointer& at, const std::string& key,
            std::vector<Leaf>& out) {
  if (j.is_object() && !j.empty()) {
    int n = 0;
    for (auto it = j.begin(); it != j.end(); ++it) {
      if ((key == "vocab" || key == "added_tokens_decoder") && n++ >= 3) break;
      leaves(it.value(), at / it.key(), it.key(), out);
    }
  } else if (j.is_array() && !j.empty()) {
    std::string singular = key;
    if (!singular.empty() && singular.back() == 's') singular.pop_back();
    for (size_t i = 0; i < j.size() && i < 3; ++i) leaves(j[i], at / i, singular, out);
  } else {
    out.push_back({at, key});
  }
}

// A value of each other kind (string, number, boolean, container).
std::vector<ordered_json> other_types(const ordered_json& v) {
  std::vector<ordered_json> out;
  if (!v.is_string()) out.push_back("x");
  if (!v.is_number()) out.push_back(-1.5);
  if (!v.is_boolean()) out.push_back(true);
  out.push_back(v.is_object() ? ordered_json::array({1}) : ordered_json::object());
  return out;
}

// Mutates `file` inside a copy of `folder`, loads the tokenizer of the copy after each mutation.
void check_mutations(const std::string& folder, const std::string& file) {
  const std::string dir = test::temp_dir("tok-json-mut");
  for (const char* f : {"tokenizer.json", "tokenizer_config.json"})
    if (file_exists(path_join(folder, f))) write_file_atomic(path_join(dir, f), read_text_file(path_join(folder, f)));
  const std::string path = path_join(dir, file);
  const ordered_json orig = ordered_json::parse(read_text_file(path_join(folder, file)));
  std::vector<Leaf> all;
  leaves(orig, ordered_json::json_pointer(), "", all);
  ASSERT_GT(all.size(), 5u);
  int errors = 0, loads = 0;
  for (const auto& leaf : all) {
    for (const auto& v : other_types(orig.at(leaf.ptr))) {
      ordered_json j = orig;
      j[leaf.ptr] = v;
      write_file_atomic(path, j.dump());
      const std::string what = leaf.ptr.to_string() + " = " + v.dump();
      try {
        load_tokenizer(dir);
        ++loads;
      } catch (const Error& e) {
        ++errors;
        const std::string msg = e.what();
        EXPECT_NE(msg.find(path), std::string::npos) << what << ": names the file: " << msg;
        EXPECT_NE(msg.find(leaf.key), std::string::npos) << what << ": names the key '" << leaf.key << "': " << msg;
      } catch (const std::exception& e) {
        ADD_FAILURE() << what << ": not an et::Error: " << e.what();
      }
    }
  }
  EXPECT_GT(errors, 0);
  EXPECT_GT(loads, 0);
}

TEST(TokenizerJsonMutations, EveryErrorNamesTheFileAndTheKey) {
  ET_REQUIRE_SHARED(model, "models/stories260K");
  check_mutations(model, "tokenizer.json");
}

TEST(TokenizerJsonMutations, TokenizerConfigErrorsNameTheFileAndTheKey) {
  ET_REQUIRE_SHARED(model, "models/stories260K");
  check_mutations(model, "tokenizer_config.json");
}

}  // namespace
}  // namespace et
