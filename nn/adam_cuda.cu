// CUDA Adam update: one thread per element (grid-stride), the same adammath::adam_update as the CPU.
#include <algorithm>

#include "nn/adam_kernels.h"
#include "tensor/cuda_check.h"
#include "tensor/dtype.h"

namespace cq::kernels {
namespace {

template <class T>
__global__ void adam_kernel(T* p, const T* g, T* m, T* v, T* vmax, adammath::StepScalars s, int64_t n) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
    adammath::adam_update(p + i, g[i], m + i, v + i, vmax ? vmax + i : nullptr, s);
}

}  // namespace

void adam_update_cuda(const Tensor& p, const Tensor& g, const Tensor& m, const Tensor& v, const Tensor& vmax,
                      const adammath::StepScalars& s) {
  const int64_t n = p.numel();
  if (n == 0) return;
  dispatch_float(p.dtype(), "adam", [&](auto tag) {
    using T = decltype(tag);
    const int grid = static_cast<int>(std::min<int64_t>(cuda::blocks_for(n), 65535));
    adam_kernel<T><<<grid, cuda::kBlock>>>(p.data<T>(), g.data<T>(), m.data<T>(), v.data<T>(),
                                            s.amsgrad ? vmax.data<T>() : nullptr, s, n);
    CQ_CUDA_LAUNCH_CHECK("adam");
  });
}

}  // namespace cq::kernels
