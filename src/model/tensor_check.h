// Validation of one expected tensor against the files (shared by load_model and inspect).
#pragma once
#include "edgetune/core/safetensors.h"
#include "edgetune/model/model.h"

namespace et::model {

// Present, float dtype, expected shape and, with check_values, no inf/NaN. Throws naming the
// folder (missing) or the file (everything else) and the tensor.
const TensorInfo& check_tensor(const SafetensorsSet& files, const ExpectedTensor& spec, bool check_values);

}  // namespace et::model
