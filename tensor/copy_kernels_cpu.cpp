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
#pragma omp parallel for num_threads(dst.runtime().threads()) if (n > (1 << 16))
  for (int64_t i = 0; i < n; ++i) {
    int64_t di = dc ? dl.offset + i : dl.offset_of(i);
    d[di] = static_cast<D>(s[sl.offset_of(i)]);
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
