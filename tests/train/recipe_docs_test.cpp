#include <gtest/gtest.h>

#include "edgetune/core/file_io.h"
#include "edgetune/train/recipe.h"
#include "test_util.h"

namespace et {
namespace {

// docs/recipes.md documents every key: it must hold exactly what `edgetune train --explain` prints.
TEST(RecipeDocs, DocsMatchExplain) {
  const std::string doc = read_text_file(path_join(test::source_dir(), "docs/recipes.md"));
  const std::string text = explain_recipe();
  EXPECT_NE(doc.find("```text\n" + text + "```"), std::string::npos)
      << "docs/recipes.md is out of date; regenerate its code block with `build/edgetune train --explain`";
}

}  // namespace
}  // namespace et
