// Per-element pooling formulas shared by the CPU and CUDA kernels.
#pragma once
#include <stdint.h>

#include "tensor/hd.h"

namespace cq::poolmath {

// Mean of hw summed values; the backward spreads g evenly over the hw inputs.
CQ_HD double avg_of(double sum, int64_t hw) { return sum / static_cast<double>(hw); }
CQ_HD double avg_grad(double g, int64_t hw) { return g / static_cast<double>(hw); }

// Nearest source row/column of output coordinate o for an integer upsampling factor.
CQ_HD int64_t nearest_src(int64_t o, int64_t scale) { return o / scale; }

// Offset, in a contiguous [H*sh, W*sw] plane, of element (a, b) of the block that input element (i, j) feeds.
CQ_HD int64_t upsampled_offset(int64_t i, int64_t j, int64_t a, int64_t b, int64_t W, int64_t sh, int64_t sw) {
  return (i * sh + a) * (W * sw) + j * sw + b;
}

}  // namespace cq::poolmath
