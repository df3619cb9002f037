// Reusing a patch on a new base release: the same adapter tensors and plan, with the new base's
// fingerprints, config and path, so it loads there without --force (and refuses the old base).
#pragma once
#include <string>

#include "edgetune/export/patch.h"

namespace et {

// The patch re-fingerprinted for `base_new` (HF folder or .etq). Its recipe, when it has one,
// names base_new as model.path; the adapter tensors and plan are unchanged.
Patch refingerprint_patch(const Patch& patch, const std::string& base_new);

}  // namespace et
