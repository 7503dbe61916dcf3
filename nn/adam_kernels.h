// Kernel entry points of the Adam update (CPU in adam_cpu.cpp, CUDA in adam_cuda.cu; same contract): every tensor is
// contiguous with the parameter's shape, dtype (f32/f64) and device; vmax is undefined unless s.amsgrad.
#pragma once
#include "nn/adam_math.h"
#include "tensor/tensor.h"

namespace cq::kernels {

void adam_update_cpu(const Tensor& p, const Tensor& g, const Tensor& m, const Tensor& v, const Tensor& vmax,
                     const adammath::StepScalars& s);
#ifdef CQ_CUDA
void adam_update_cuda(const Tensor& p, const Tensor& g, const Tensor& m, const Tensor& v, const Tensor& vmax,
                      const adammath::StepScalars& s);
#endif

}  // namespace cq::kernels
