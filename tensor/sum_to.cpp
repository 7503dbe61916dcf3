#include "tensor/sum_to.h"

#include "tensor/autograd.h"
#include "tensor/backend.h"

namespace cq {

Tensor sum_to(const Tensor& x, const Shape& shape) {
  if (x.shape() == shape) return x;
  int64_t r = x.dim(), lead = r - static_cast<int64_t>(shape.size());
  CQ_CHECK(lead >= 0, "sum_to: cannot reduce ", x.describe(), " to ", shape_str(shape));
  StridedLayout kept, red;
  kept.offset = x.offset();
  for (int64_t i = 0; i < r; ++i) {
    int64_t target = i < lead ? 1 : shape[i - lead];
    int64_t s = x.shape()[i];
    CQ_CHECK(target == s || target == 1, "sum_to: cannot reduce ", x.describe(), " to ", shape_str(shape));
    if (target == s) {
      kept.shape[kept.ndim] = s;
      kept.strides[kept.ndim++] = x.strides()[i];
    } else {
      red.shape[red.ndim] = s;
      red.strides[red.ndim++] = x.strides()[i];
    }
  }
  Tensor out = x.new_empty(shape);
  if (x.device().is_cuda()) {
    CQ_CUDA_CALL("sum_to", kernels::sum_to_cuda(out, x, kept, red));
  } else {
    kernels::sum_to_cpu(out, x, kept, red);
  }
  Shape in_shape = x.shape();
  record("sum_to", out, {x}, [in_shape](const Tensor& g) { return std::vector<Tensor>{g.expand(in_shape)}; });
  return out;
}

namespace kernels {
void sum_to_cpu(const Tensor& out, const Tensor& in, const StridedLayout& kept, const StridedLayout& red) {
  int64_t n_out = out.numel(), n_red = 1;
  for (int d = 0; d < red.ndim; ++d) n_red *= red.shape[d];
  dispatch_float(in.dtype(), "sum_to", [&](auto tag_) {
    using scalar_t = decltype(tag_);
    const scalar_t* src = static_cast<const scalar_t*>(in.storage()->data());
    scalar_t* dst = out.data<scalar_t>();
    // The reduced elements are visited in increasing linear order (fixed: deterministic), one index decomposition
    // per innermost reduced row instead of per element.
    int64_t inner = red.ndim ? red.shape[red.ndim - 1] : 1;
    int64_t istride = red.ndim ? red.strides[red.ndim - 1] : 1;
    int64_t outer = inner ? n_red / inner : 0;
#pragma omp parallel for num_threads(in.runtime().threads()) if (n_out * n_red > (1 << 15))
    for (int64_t j = 0; j < n_out; ++j) {
      const scalar_t* base = src + kept.offset_of(j);
      scalar_t acc = 0;
      for (int64_t o = 0; o < outer; ++o) {
        const scalar_t* row = base + red.offset_of(o * inner);
        if (istride == 1) {
          for (int64_t i = 0; i < inner; ++i) acc += row[i];
        } else {
          for (int64_t i = 0; i < inner; ++i) acc += row[i * istride];
        }
      }
      dst[j] = acc;
    }
  });
}
}  // namespace kernels

}  // namespace cq
