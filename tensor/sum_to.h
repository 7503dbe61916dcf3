// sum_to: reduce a broadcast gradient back to an input's shape (the backward of every broadcasting op and of expand).
// Lives in tensor/ because the view ops need it; kernels/reduce has the general reductions.
#pragma once
#include "tensor/strided.h"
#include "tensor/tensor.h"

namespace cq {

// x: [..., S'] broadcastable to x's shape from `shape`; returns a tensor of `shape` whose each element is the sum of
// the x elements that broadcast from it. Fixed summation order (deterministic for any thread count).
Tensor sum_to(const Tensor& x, const Shape& shape);

namespace kernels {
// out[j] = sum_k in[kept.offset_of(j) + red.offset_of(k)] for j < n_out, k < n_red (red.offset must be 0).
void sum_to_cpu(const Tensor& out, const Tensor& in, const StridedLayout& kept, const StridedLayout& red);
#ifdef CQ_CUDA
void sum_to_cuda(const Tensor& out, const Tensor& in, const StridedLayout& kept, const StridedLayout& red);
#endif
}  // namespace kernels

}  // namespace cq
