// y = x W^T + b with a frozen NF4 weight W that is dequantized just in time: in forward, and again
// in backward for dX = dY W. Only x's gradient flows (W and b are frozen); nothing dequantized is
// kept between the two passes, so the graph holds 4 bits per weight instead of 16 or 32.
#pragma once
#include <torch/types.h>

#include "edgetune/quant/nf4.h"

namespace et::quant {

// `w` must outlive the autograd graph (it is referenced, not copied). bias may be undefined.
torch::Tensor nf4_linear(const torch::Tensor& x, const Nf4Weight& w, const torch::Tensor& bias);

}  // namespace et::quant
