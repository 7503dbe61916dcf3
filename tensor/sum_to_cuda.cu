#include "tensor/cuda_check.h"
#include "tensor/sum_to.h"

namespace cq::kernels {
namespace {
template <class T>
__global__ void sum_to_kernel(T* dst, const T* src, StridedLayout kept, StridedLayout red, int64_t n_out,
                              int64_t n_red) {
  for (int64_t j = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; j < n_out; j += (int64_t)gridDim.x * blockDim.x) {
    const T* base = src + kept.offset_of(j);
    T acc = 0;
    for (int64_t k = 0; k < n_red; ++k) acc += base[red.offset_of(k)];  // fixed order: deterministic
    dst[j] = acc;
  }
}
}  // namespace

void sum_to_cuda(const Tensor& out, const Tensor& in, const StridedLayout& kept, const StridedLayout& red) {
  int64_t n_out = out.numel(), n_red = 1;
  for (int d = 0; d < red.ndim; ++d) n_red *= red.shape[d];
  if (n_out == 0) return;
  int grid = static_cast<int>(std::min<int64_t>(cuda::blocks_for(n_out), 65535));
  dispatch_float(in.dtype(), "sum_to", [&](auto tag_) {
    using scalar_t = decltype(tag_);
    sum_to_kernel<scalar_t><<<grid, cuda::kBlock>>>(out.data<scalar_t>(),
                                                    static_cast<const scalar_t*>(in.storage()->data()), kept, red,
                                                    n_out, n_red);
  });
  CQ_CUDA_LAUNCH_CHECK("sum_to");
}
}  // namespace cq::kernels
