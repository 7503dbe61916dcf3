// DC loss (cross-entropy + MONAI Dice, losses.h) as one CPU op: one pass over the logits computes the softmax, the
// cross-entropy sum and the per-(sample, class) Dice sums, and the backward writes the logits' gradient in one pass
// from the saved probabilities, where the composed version (softmax, log_softmax, gather, one_hot, three products,
// four reductions, each with its own backward) walks the N*C*H*W logits about twenty times. The composed version
// stays the definition: tests compare the two in float64 (value and gradient) and run the gradient check on this.
#pragma once
#include "tensor/tensor.h"

namespace cq::losses {

// Whether dc_loss_fused handles these inputs (CPU, f32/f64); the caller falls back to the composed ops otherwise.
bool dc_loss_fused_supported(const Tensor& logits);

// cross_entropy(logits, target) + dice_loss(logits, target) for checked inputs (losses.cpp validates them).
// Sums accumulate in double over fixed pixel tiles combined in a fixed order: identical for any thread count.
Tensor dc_loss_fused(const Tensor& logits, const Tensor& target);

}  // namespace cq::losses
