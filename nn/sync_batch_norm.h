// Synchronised BatchNorm for data-parallel training (docs/DISTRIBUTED.md, `cqseg train --bn sync`): training-mode
// batch_norm_act whose batch statistics are those of the whole global batch spread over the ranks.
//
// Forward: per channel, the ranks' sums of x and element counts are summed through `group_sum` (the mean), then
// their sums of squared deviations from that mean (the biased variance; two passes as the single-process kernel,
// no E[x^2] - E[x]^2 cancellation). Running statistics get the global mean and unbiased variance.
// Backward: the per-channel sums of dz and dz * xhat (dz = gradient before the affine, through the activation) are
// summed through `group_sum` too, because every rank's output depends on every rank's input:
//   dx = w * rstd * (dz - (sum_dz + xhat * sum_dzxhat) / M),  M = global element count per channel.
// dweight, dbias are this rank's local sums (the data-parallel gradient sum adds them up). The gradients must come
// from the global loss: each rank back-propagates its share-weighted loss (pipeline/trainer.cpp).
// With group_sum the identity (one process) this is training-mode batch_norm_act up to float rounding.
// Every rank must call it (and its backward) in the same order with its own x (N >= 1); f32 or f64; CUDA tensors
// are computed through host copies (correct, not fast).
#pragma once
#include <functional>

#include "kernels/norm/norm_act_math.h"
#include "tensor/tensor.h"

namespace cq::nn {

Tensor sync_batch_norm_act(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& running_mean,
                           const Tensor& running_var, double momentum, double eps, NormAct act,
                           const std::function<void(double*, int64_t)>& group_sum);

}  // namespace cq::nn
