// The squeeze-and-excitation gate as one op: y = x * sigmoid(s), the per-channel gate broadcast over the pixels.
#pragma once
#include "tensor/tensor.h"

namespace cq {

// x [N,C,H,W], s [N,C,1,1] (f32/f64, same dtype and device) -> y [N,C,H,W] = x * sigmoid(s). The same values as
// mul(x, sigmoid(s)) (the same per-element formulas); on the CPU one op whose backward makes one pass over the
// gradient for dx = g * sigmoid(s) and ds = sigmoid'(s) * sum over H, W of g * x (summed in double, in order), where
// the composed ops materialise g * x as a full tensor and reduce it separately. Other devices run the composition.
Tensor channel_gate(const Tensor& x, const Tensor& s);

}  // namespace cq
