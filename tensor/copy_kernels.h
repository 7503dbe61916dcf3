// Element copy / fill / accumulate kernels behind Tensor::contiguous, to, copy_, fill_ and gradient accumulation.
#pragma once
#include "tensor/tensor.h"

namespace cq::kernels {

// dst[i] = cast(src[i]) for same-shaped dst and src (src may be a broadcast view with stride-0 axes).
void copy_cpu(const Tensor& dst, const Tensor& src);
void fill_cpu(const Tensor& dst, double value);
// dst += src, both contiguous, same shape and dtype.
void add_into_cpu(const Tensor& dst, const Tensor& src);

#ifdef CQ_CUDA
void copy_cuda(const Tensor& dst, const Tensor& src);
void fill_cuda(const Tensor& dst, double value);
void add_into_cuda(const Tensor& dst, const Tensor& src);
#endif

}  // namespace cq::kernels
