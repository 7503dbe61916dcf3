#include <algorithm>
#include <cstdint>

#include "tensor/backend.h"
#include "tensor/copy_kernels.h"
#include "tensor/runtime.h"

namespace cq::kernels {
namespace {

template <class D, class S>
void copy_typed(const Tensor& dst, const Tensor& src, const StridedLayout& sl) {
  StridedLayout dl = layout_of(dst);
  D* d = static_cast<D*>(dst.storage()->data());
  const S* s = static_cast<const S*>(src.storage()->data());
  int64_t n = dst.numel();
  bool dc = dst.is_contiguous();
  if (dc && src.is_contiguous() && src.shape() == dst.shape()) {
    D* dp = d + dl.offset;
    const S* sp = s + sl.offset;
#pragma omp parallel for num_threads(dst.runtime().threads()) if (n > (1 << 16))
    for (int64_t i = 0; i < n; ++i) dp[i] = static_cast<D>(sp[i]);
    return;
  }
  // Row-wise: one index decomposition per innermost row rather than per element.
  int64_t inner = dl.ndim ? dl.shape[dl.ndim - 1] : 1;
  if (inner == 0) return;
  int64_t rows = n / inner;
  int64_t ds = dl.ndim ? dl.strides[dl.ndim - 1] : 1, ss = sl.ndim ? sl.strides[sl.ndim - 1] : 1;
#pragma omp parallel for num_threads(dst.runtime().threads()) if (n > (1 << 16))
  for (int64_t r = 0; r < rows; ++r) {
    D* dp = d + dl.offset_of(r * inner);
    const S* sp = s + sl.offset_of(r * inner);
    if (ds == 1 && ss == 1) {
      for (int64_t i = 0; i < inner; ++i) dp[i] = static_cast<D>(sp[i]);
    } else {
      for (int64_t i = 0; i < inner; ++i) dp[i * ds] = static_cast<D>(sp[i * ss]);
    }
  }
}

}  // namespace

void copy_cpu(const Tensor& dst, const Tensor& src) {
  StridedLayout sl = broadcast_layout(src, dst.shape());
  dispatch_all(dst.dtype(), "copy", [&](auto tag_) {
    using scalar_t = decltype(tag_);
    using D = scalar_t;
    dispatch_all(src.dtype(), "copy", [&](auto tag_) {
    using scalar_t = decltype(tag_); copy_typed<D, scalar_t>(dst, src, sl); });
  });
}

void fill_cpu(const Tensor& dst, double value) {
  StridedLayout dl = layout_of(dst);
  int64_t n = dst.numel();
  dispatch_all(dst.dtype(), "fill", [&](auto tag_) {
    using scalar_t = decltype(tag_);
    scalar_t* d = static_cast<scalar_t*>(dst.storage()->data());
    scalar_t v = static_cast<scalar_t>(value);
    if (dst.is_contiguous()) {  // the common case (zeros, gradients): one streaming fill, no index arithmetic
      std::fill(d + dst.offset(), d + dst.offset() + n, v);
      return;
    }
    for (int64_t i = 0; i < n; ++i) d[dl.offset_of(i)] = v;
  });
}

void add_into_cpu(const Tensor& dst, const Tensor& src) {
  int64_t n = dst.numel();
  dispatch_float(dst.dtype(), "add_into", [&](auto tag_) {
    using scalar_t = decltype(tag_);
    scalar_t* d = dst.data<scalar_t>();
    const scalar_t* s = src.data<scalar_t>();
#pragma omp parallel for num_threads(dst.runtime().threads()) if (n > (1 << 16))
    for (int64_t i = 0; i < n; ++i) d[i] += s[i];
  });
}

}  // namespace cq::kernels
