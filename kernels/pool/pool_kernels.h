// Kernel entry points behind kernels/pool/pool.h (CPU in pool_cpu.cpp, CUDA in pool_cuda.cu; same contracts).
// Every tensor is contiguous; planes = N*C.
#pragma once
#include <cstdint>

#include "tensor/tensor.h"

namespace cq::kernels {

// y [planes] = mean of each x plane [planes, hw].
void gap_forward_cpu(const Tensor& y, const Tensor& x, int64_t planes, int64_t hw);
// dx [planes, hw] = g [planes] / hw.
void gap_backward_cpu(const Tensor& dx, const Tensor& g, int64_t planes, int64_t hw);
// y [planes, H*sh, W*sw] from x [planes, H, W].
void upsample_forward_cpu(const Tensor& y, const Tensor& x, int64_t planes, int64_t H, int64_t W, int64_t sh,
                          int64_t sw);
// dx [planes, H, W] = block sums of g [planes, H*sh, W*sw].
void upsample_backward_cpu(const Tensor& dx, const Tensor& g, int64_t planes, int64_t H, int64_t W, int64_t sh,
                           int64_t sw);

#ifdef CQ_CUDA
void gap_forward_cuda(const Tensor& y, const Tensor& x, int64_t planes, int64_t hw);
void gap_backward_cuda(const Tensor& dx, const Tensor& g, int64_t planes, int64_t hw);
void upsample_forward_cuda(const Tensor& y, const Tensor& x, int64_t planes, int64_t H, int64_t W, int64_t sh,
                           int64_t sw);
void upsample_backward_cuda(const Tensor& dx, const Tensor& g, int64_t planes, int64_t H, int64_t W, int64_t sh,
                            int64_t sw);
#endif

}  // namespace cq::kernels
