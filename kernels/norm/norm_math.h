// Per-element normalisation formulas shared by the CPU and CUDA kernels (all arithmetic in double; callers cast the
// result to the tensor's dtype), so the CPU tests cover the GPU arithmetic.
#pragma once
#include <math.h>
#include <stdint.h>

#include "tensor/hd.h"

namespace cq::normmath {

// eps inside the square root (PyTorch's batch_norm and layer_norm).
CQ_HD double rstd_of(double biased_var, double eps) { return 1.0 / ::sqrt(biased_var + eps); }

// Running statistics blend; running_var receives the unbiased variance.
CQ_HD double running_update(double running, double stat, double momentum) {
  return (1.0 - momentum) * running + momentum * stat;
}
CQ_HD double unbiased_var(double biased_var, int64_t n) {
  return biased_var * static_cast<double>(n) / static_cast<double>(n - 1);
}

// One term of the variance's second pass.
CQ_HD double sq_dev(double x, double mean) { return (x - mean) * (x - mean); }

CQ_HD double normalize(double x, double mean, double rstd) { return (x - mean) * rstd; }
CQ_HD double affine(double xhat, double w, double b) { return xhat * w + b; }

// Gradient through normalisation with batch statistics over n values:
//   dx = scale/n * (n*g - sum(g) - xhat*sum(g*xhat)),  scale = w*rstd (batch_norm) or rstd with g = g*w (layer_norm).
CQ_HD double grad_batch_stats(double g, double xhat, double scale, double sum_g, double sum_gxhat, double n) {
  return scale / n * (n * g - sum_g - xhat * sum_gxhat);
}
// Gradient with fixed (running) statistics: dx = g*w*rstd.
CQ_HD double grad_fixed_stats(double g, double scale) { return g * scale; }

}  // namespace cq::normmath
