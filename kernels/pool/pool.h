// Spatial pooling / resampling ops on NCHW tensors (f32, f64).
#pragma once
#include <cstdint>

#include "tensor/tensor.h"

namespace cq {

// x [N,C,H,W] -> [N,C,1,1]: mean over H and W (summed in double, in order). Backward: g/(H*W) broadcast.
Tensor global_avg_pool2d(const Tensor& x);
// x [N,C,H,W] -> [N,C,H*scale_h,W*scale_w], out[n,c,i,j] = x[n,c,i/scale_h,j/scale_w]; integer factors >= 1.
// Backward: each input element receives the sum of its scale_h x scale_w block of the gradient (fixed order).
Tensor upsample_nearest2d(const Tensor& x, int64_t scale_h, int64_t scale_w);

}  // namespace cq
