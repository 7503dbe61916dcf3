// Segmentation losses (SPEC.md "Losses"), built from the engine's differentiable ops so every loss has a gradient
// with respect to its logits (both branches for CQG and MSE).
//
// Shapes: logits [N, C, H, W] f32/f64 (NCHW, C = number of classes K including background); target [N, H, W] i64
// class indices in [0, C) on the logits' device. Any target value outside [0, C) throws cq::Error naming the value,
// its position and the class count (never a silent mis-label). Every loss returns a 0-dim tensor of logits' dtype.
#pragma once
#include "tensor/tensor.h"

namespace cq::losses {

// torch.nn.functional.cross_entropy(logits, target): mean over the N*H*W pixels of -log_softmax(logits, 1)[target];
// unweighted, no ignore index, no label smoothing.
Tensor cross_entropy(const Tensor& logits, const Tensor& target);

// MONAI DiceLoss(softmax=True, to_onehot_y=True, squared_pred=True, smooth_nr=0, smooth_dr=1e-6,
// include_background=True, reduction="mean"), as in the CQG authors' code: p = softmax(logits, 1), g = one_hot(target);
// per sample n and class c, sums over the H*W pixels:
//   per[n, c] = 1 - (2*sum(p*g) + 0) / (sum(g^2) + sum(p^2) + 1e-6)
// loss = mean of per over all N*C entries. A class absent from sample n (sum g = 0) gives per[n, c] = 1 exactly,
// whatever the prediction, with zero derivative through that term (smooth_nr = 0).
struct DiceTerms {
  Tensor loss;  // 0-dim
  Tensor per;   // [N, C], part of the graph (loss = mean(per)); detach it to log it
};
DiceTerms dice_loss_terms(const Tensor& logits, const Tensor& target);
Tensor dice_loss(const Tensor& logits, const Tensor& target);

// DC(y, logits) = cross_entropy + dice_loss (the supervised term of every model in the paper). On the CPU one fused
// op (dc_loss_fused.h); dc_loss_composed is the same loss built from the two definitions above (the reference the
// fused op is tested against, and what other devices run).
Tensor dc_loss(const Tensor& logits, const Tensor& target);
Tensor dc_loss_composed(const Tensor& logits, const Tensor& target);

// F.mse_loss(a, b): mean over all elements of (a - b)^2; same shape, dtype and device; gradient flows to both.
Tensor mse(const Tensor& a, const Tensor& b);

// CQG = l1*DC(y, S(x1)) + l2*DC(y, S(x2)) + l3*MSE(S(x1), S(x2)), MSE on logits, gradient through both branches.
struct CqgWeights {
  double l1 = 0.3;
  double l2 = 0.7;
  double l3 = 1.0;
};
struct CqgTerms {
  Tensor total;  // l1*dc1 + l2*dc2 + l3*mse (the value to back-propagate)
  Tensor dc1;    // DC(target, logits1), unweighted
  Tensor dc2;    // DC(target, logits2), unweighted
  Tensor mse;    // MSE(logits1, logits2), unweighted
};
CqgTerms cqg_loss(const Tensor& target, const Tensor& logits1, const Tensor& logits2, CqgWeights w = {});

}  // namespace cq::losses
