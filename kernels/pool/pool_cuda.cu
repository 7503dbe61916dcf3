// CUDA kernels for global_avg_pool2d and upsample_nearest2d: one thread per output element, each summing its inputs
// in a fixed order (deterministic). Formulas from pool_math.h, as on the CPU.
#include <algorithm>

#include "kernels/pool/pool_kernels.h"
#include "kernels/pool/pool_math.h"
#include "tensor/cuda_check.h"
#include "tensor/dtype.h"

namespace cq::kernels {
namespace {

int grid_for(int64_t n) { return static_cast<int>(std::min<int64_t>(cuda::blocks_for(n), 65535)); }

template <class T>
__global__ void gap_forward_kernel(T* y, const T* x, int64_t planes, int64_t hw) {
  for (int64_t p = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; p < planes; p += (int64_t)gridDim.x * blockDim.x) {
    double s = 0;
    for (int64_t k = 0; k < hw; ++k) s += static_cast<double>(x[p * hw + k]);
    y[p] = static_cast<T>(poolmath::avg_of(s, hw));
  }
}

template <class T>
__global__ void gap_backward_kernel(T* dx, const T* g, int64_t planes, int64_t hw) {
  const int64_t total = planes * hw;
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < total; i += (int64_t)gridDim.x * blockDim.x)
    dx[i] = static_cast<T>(poolmath::avg_grad(static_cast<double>(g[i / hw]), hw));
}

template <class T>
__global__ void upsample_forward_kernel(T* y, const T* x, int64_t planes, int64_t H, int64_t W, int64_t sh,
                                        int64_t sw) {
  const int64_t OH = H * sh, OW = W * sw, total = planes * OH * OW;
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < total; i += (int64_t)gridDim.x * blockDim.x) {
    const int64_t oj = i % OW, oi = (i / OW) % OH, p = i / (OW * OH);
    y[i] = x[(p * H + poolmath::nearest_src(oi, sh)) * W + poolmath::nearest_src(oj, sw)];
  }
}

template <class T>
__global__ void upsample_backward_kernel(T* dx, const T* g, int64_t planes, int64_t H, int64_t W, int64_t sh,
                                         int64_t sw) {
  const int64_t total = planes * H * W, plane_out = H * sh * W * sw;
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < total; i += (int64_t)gridDim.x * blockDim.x) {
    const int64_t j = i % W, r = (i / W) % H, p = i / (W * H);
    const T* gp = g + p * plane_out;
    double acc = 0;
    for (int64_t a = 0; a < sh; ++a)
      for (int64_t b = 0; b < sw; ++b)
        acc += static_cast<double>(gp[poolmath::upsampled_offset(r, j, a, b, W, sh, sw)]);
    dx[i] = static_cast<T>(acc);
  }
}

}  // namespace

void gap_forward_cuda(const Tensor& y, const Tensor& x, int64_t planes, int64_t hw) {
  if (planes == 0) return;
  dispatch_float(x.dtype(), "global_avg_pool2d", [&](auto tag_) {
    using scalar_t = decltype(tag_);
    gap_forward_kernel<scalar_t>
        <<<grid_for(planes), cuda::kBlock>>>(y.data<scalar_t>(), x.data<scalar_t>(), planes, hw);
  });
  CQ_CUDA_LAUNCH_CHECK("global_avg_pool2d");
}

void gap_backward_cuda(const Tensor& dx, const Tensor& g, int64_t planes, int64_t hw) {
  if (planes * hw == 0) return;
  dispatch_float(dx.dtype(), "global_avg_pool2d", [&](auto tag_) {
    using scalar_t = decltype(tag_);
    gap_backward_kernel<scalar_t>
        <<<grid_for(planes * hw), cuda::kBlock>>>(dx.data<scalar_t>(), g.data<scalar_t>(), planes, hw);
  });
  CQ_CUDA_LAUNCH_CHECK("global_avg_pool2d");
}

void upsample_forward_cuda(const Tensor& y, const Tensor& x, int64_t planes, int64_t H, int64_t W, int64_t sh,
                           int64_t sw) {
  const int64_t total = planes * H * sh * W * sw;
  if (total == 0) return;
  dispatch_float(x.dtype(), "upsample_nearest2d", [&](auto tag_) {
    using scalar_t = decltype(tag_);
    upsample_forward_kernel<scalar_t>
        <<<grid_for(total), cuda::kBlock>>>(y.data<scalar_t>(), x.data<scalar_t>(), planes, H, W, sh, sw);
  });
  CQ_CUDA_LAUNCH_CHECK("upsample_nearest2d");
}

void upsample_backward_cuda(const Tensor& dx, const Tensor& g, int64_t planes, int64_t H, int64_t W, int64_t sh,
                            int64_t sw) {
  const int64_t total = planes * H * W;
  if (total == 0) return;
  dispatch_float(dx.dtype(), "upsample_nearest2d", [&](auto tag_) {
    using scalar_t = decltype(tag_);
    upsample_backward_kernel<scalar_t>
        <<<grid_for(total), cuda::kBlock>>>(dx.data<scalar_t>(), g.data<scalar_t>(), planes, H, W, sh, sw);
  });
  CQ_CUDA_LAUNCH_CHECK("upsample_nearest2d");
}

}  // namespace cq::kernels
