#include <cstdint>

#include "tensor/backend.h"
#include "tensor/copy_kernels.h"
#include "tensor/cuda_check.h"

namespace cq::kernels {
namespace {

template <class D, class S>
__global__ void copy_kernel(D* d, StridedLayout dl, const S* s, StridedLayout sl, int64_t n) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
    d[dl.offset_of(i)] = static_cast<D>(s[sl.offset_of(i)]);
}

template <class T>
__global__ void fill_kernel(T* d, StridedLayout dl, T v, int64_t n) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
    d[dl.offset_of(i)] = v;
}

template <class T>
__global__ void add_into_kernel(T* d, const T* s, int64_t n) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
    d[i] += s[i];
}

int grid(int64_t n) { return static_cast<int>(std::min<int64_t>((n + cuda::kBlock - 1) / cuda::kBlock, 65535)); }

}  // namespace

void copy_cuda(const Tensor& dst, const Tensor& src) {
  int64_t n = dst.numel();
  if (n == 0) return;
  StridedLayout dl = layout_of(dst), sl = broadcast_layout(src, dst.shape());
  dispatch_all(dst.dtype(), "copy", [&](auto tag_) {
    using scalar_t = decltype(tag_);
    using D = scalar_t;
    dispatch_all(src.dtype(), "copy", [&](auto tag_) {
    using scalar_t = decltype(tag_);
      copy_kernel<D, scalar_t><<<grid(n), cuda::kBlock>>>(static_cast<D*>(dst.storage()->data()), dl,
                                                         static_cast<const scalar_t*>(src.storage()->data()), sl, n);
    });
  });
  CQ_CUDA_LAUNCH_CHECK("copy");
}

void fill_cuda(const Tensor& dst, double value) {
  int64_t n = dst.numel();
  if (n == 0) return;
  StridedLayout dl = layout_of(dst);
  dispatch_all(dst.dtype(), "fill", [&](auto tag_) {
    using scalar_t = decltype(tag_);
    fill_kernel<scalar_t><<<grid(n), cuda::kBlock>>>(static_cast<scalar_t*>(dst.storage()->data()), dl,
                                                     static_cast<scalar_t>(value), n);
  });
  CQ_CUDA_LAUNCH_CHECK("fill");
}

void add_into_cuda(const Tensor& dst, const Tensor& src) {
  int64_t n = dst.numel();
  if (n == 0) return;
  dispatch_float(dst.dtype(), "add_into", [&](auto tag_) {
    using scalar_t = decltype(tag_);
    add_into_kernel<scalar_t><<<grid(n), cuda::kBlock>>>(dst.data<scalar_t>(), src.data<scalar_t>(), n);
  });
  CQ_CUDA_LAUNCH_CHECK("add_into");
}

}  // namespace cq::kernels
