// softmax / log_softmax: shape handling, device dispatch and the fused backward rules.
#include "kernels/softmax/softmax.h"

#include <algorithm>

#include "tensor/autograd.h"
#include "tensor/backend.h"

namespace cq {

namespace {

struct Rows {
  int64_t outer = 1, L = 1, inner = 1;
};

Rows rows_of(const Shape& shape, int64_t axis) {
  Rows r;
  int64_t rank = static_cast<int64_t>(shape.size());
  for (int64_t d = 0; d < rank; ++d) {
    if (d < axis) r.outer *= shape[d];
    else if (d == axis) r.L = shape[d];
    else r.inner *= shape[d];
  }
  return r;
}

Tensor softmax_backward(const Tensor& y, const Tensor& g_in, const Rows& r, bool log) {
  Tensor g = g_in.contiguous();
  Tensor gin = y.new_empty(y.shape());
  if (gin.numel() == 0) return gin;
  if (y.device().is_cuda()) {
    CQ_CUDA_CALL(log ? "log_softmax" : "softmax",
                 kernels::softmax_backward_cuda(gin, y, g, r.outer, r.L, r.inner, log));
  } else {
    kernels::softmax_backward_cpu(gin, y, g, r.outer, r.L, r.inner, log);
  }
  return gin;
}

Tensor softmax_impl(const Tensor& x_in, int64_t axis, bool log) {
  const char* op = log ? "log_softmax" : "softmax";
  CQ_CHECK(is_floating(x_in.dtype()), op, ": dtype ", dtype_name(x_in.dtype()), " not supported (f32, f64 only) for ",
           x_in.describe());
  // A 0-dim tensor is one row of one element (PyTorch accepts axis 0 / -1 for it).
  int64_t a = normalize_axis(axis, std::max<int64_t>(x_in.dim(), 1), op);
  Rows r = x_in.dim() == 0 ? Rows{} : rows_of(x_in.shape(), a);
  Tensor x = x_in.contiguous();
  Tensor y = x.new_empty(x.shape());
  if (y.numel() > 0) {
    if (x.device().is_cuda()) {
      CQ_CUDA_CALL(op, kernels::softmax_cuda(y, x, r.outer, r.L, r.inner, log));
    } else {
      kernels::softmax_cpu(y, x, r.outer, r.L, r.inner, log);
    }
  }
  Tensor ys = y.detach();
  record(op, y, {x_in}, [ys, r, log](const Tensor& g) { return std::vector<Tensor>{softmax_backward(ys, g, r, log)}; });
  return y;
}

}  // namespace

Tensor softmax(const Tensor& x, int64_t axis) { return softmax_impl(x, axis, false); }
Tensor log_softmax(const Tensor& x, int64_t axis) { return softmax_impl(x, axis, true); }

}  // namespace cq
