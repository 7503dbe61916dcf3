// Normalisation ops: batch_norm (per channel over batch and spatial dims) and layer_norm (per row over the trailing
// dims). Statistics accumulate in double in a fixed order, so results are identical for any thread count.
#pragma once
#include <cstdint>

#include "tensor/tensor.h"

namespace cq {

// x [N, C, *] (any trailing spatial dims, normally NCHW; at least 2 dims); weight, bias [C] (either may be undefined
// = 1 / 0); running_mean, running_var [C] (both defined or both undefined; required in eval mode). All defined
// tensors share x's device and dtype (f32 or f64). Returns y with x's shape (contiguous).
// training: normalise with the batch mean and BIASED variance over N and spatial dims (needs more than one value per
//   channel); update running stats IN PLACE (no autograd) with running = (1-momentum)*running + momentum*stat, using
//   the UNBIASED variance n/(n-1) for running_var (PyTorch semantics); gradients flow through the batch statistics.
// eval: normalise with running stats (gradient wrt x, weight, bias only).
// eps is added to the variance inside the square root.
Tensor batch_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& running_mean,
                  const Tensor& running_var, bool training, double momentum, double eps);

// Normalises over the last `normalized_dims` axes (1 <= normalized_dims <= x.dim()) with the biased variance and eps
// inside the square root (as PyTorch); weight, bias of that trailing shape (either may be undefined = 1 / 0).
// Returns y with x's shape (contiguous).
Tensor layer_norm(const Tensor& x, int64_t normalized_dims, const Tensor& weight, const Tensor& bias, double eps);

}  // namespace cq
