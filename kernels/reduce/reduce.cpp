// Reductions: axis resolution, device dispatch and backward rules.
#include "kernels/reduce/reduce.h"

#include <algorithm>

#include "kernels/reduce/reduce_kernels.h"
#include "tensor/autograd.h"
#include "tensor/backend.h"

namespace cq {

namespace {

struct Axes {
  std::vector<bool> mask;  // per axis of x: reduced?
  Shape out_shape;         // as returned (keepdim or not)
  Shape keep_shape;        // with reduced axes kept as 1 (the shape backward broadcasts from)
  int64_t n = 1;           // elements per output
};

Axes resolve_axes(const Tensor& x, const std::vector<int64_t>& axes, bool keepdim, const char* op) {
  Axes a;
  int64_t r = x.dim();
  a.mask.assign(static_cast<size_t>(r), axes.empty());
  for (int64_t ax : axes) {
    if (r == 0) {  // a 0-dim tensor reduces over "axis 0" like PyTorch
      CQ_CHECK(ax == 0 || ax == -1, op, ": axis ", ax, " out of range for ", x.describe());
      continue;
    }
    int64_t d = normalize_axis(ax, r, op);
    CQ_CHECK(!a.mask[d], op, ": axis ", ax, " given twice in the axes of ", x.describe());
    a.mask[d] = true;
  }
  for (int64_t d = 0; d < r; ++d) {
    if (a.mask[d]) {
      a.n *= x.shape()[d];
      a.keep_shape.push_back(1);
      if (keepdim) a.out_shape.push_back(1);
    } else {
      a.keep_shape.push_back(x.shape()[d]);
      a.out_shape.push_back(x.shape()[d]);
    }
  }
  return a;
}

// t (the reduced shape, keepdim or not) viewed with the reduced axes present as size 1. Built with make_view rather
// than reshape so that a 0-dim t works (the core's view rule does not expand a 0-dim tensor to [1, ...]).
Tensor keep_view(const Tensor& t, const std::vector<bool>& mask) {
  if (t.dim() == static_cast<int64_t>(mask.size())) return t;
  Shape shape, strides;
  int64_t src = 0;
  for (bool reduced : mask) {
    if (reduced) {
      shape.push_back(1);
      strides.push_back(0);
    } else {
      shape.push_back(t.shape()[src]);
      strides.push_back(t.strides()[src++]);
    }
  }
  return make_view(t, shape, strides, t.offset());
}

void check_float(const Tensor& x, const char* op) {
  CQ_CHECK(is_floating(x.dtype()), op, ": dtype ", dtype_name(x.dtype()), " not supported (f32, f64 only) for ",
           x.describe());
}

Tensor run_reduce(kernels::RedOp op, const char* name, const Tensor& x, const Axes& a, DType out_dt,
                  const Tensor& aux = Tensor(), double div = 1.0) {
  kernels::ReducePlan p = kernels::make_reduce_plan(x, a.mask);
  Tensor out = x.new_empty(a.out_shape, out_dt);
  if (x.device().is_cuda()) {
    CQ_CUDA_CALL(name, kernels::reduce_cuda(op, out, x, p, aux, div));
  } else {
    kernels::reduce_cpu(op, out, x, p, aux, div);
  }
  return out;
}

Tensor run_backward(reduce_math::BwdMode mode, const Shape& shape, const Tensor& x, const Tensor& g, const Tensor& a,
                    const Tensor& b, double s) {
  Tensor gin = g.new_empty(shape);
  if (g.device().is_cuda()) {
    CQ_CUDA_CALL("reduce backward", kernels::reduce_backward_cuda(mode, gin, x, g, a, b, s));
  } else {
    kernels::reduce_backward_cpu(mode, gin, x, g, a, b, s);
  }
  return gin;
}

}  // namespace

Tensor sum(const Tensor& x, const std::vector<int64_t>& axes, bool keepdim) {
  Axes a = resolve_axes(x, axes, keepdim, "sum");
  DType out_dt = is_floating(x.dtype()) ? x.dtype() : DType::i64;
  Tensor out = run_reduce(kernels::RedOp::sum, "sum", x, a, out_dt);
  Shape in_shape = x.shape();
  std::vector<bool> mask = a.mask;
  record("sum", out, {x}, [mask, in_shape](const Tensor& g) {
    return std::vector<Tensor>{keep_view(g, mask).expand(in_shape)};
  });
  return out;
}

Tensor mean(const Tensor& x, const std::vector<int64_t>& axes, bool keepdim) {
  check_float(x, "mean");
  Axes a = resolve_axes(x, axes, keepdim, "mean");
  Tensor out = run_reduce(kernels::RedOp::mean, "mean", x, a, x.dtype(), Tensor(), static_cast<double>(a.n));
  Shape in_shape = x.shape();
  std::vector<bool> mask = a.mask;
  double s = 1.0 / static_cast<double>(a.n);
  record("mean", out, {x}, [mask, in_shape, s](const Tensor& g) {
    return std::vector<Tensor>{
        run_backward(reduce_math::BwdMode::scale, in_shape, Tensor(), keep_view(g, mask), Tensor(), Tensor(), s)};
  });
  return out;
}

Tensor max(const Tensor& x, const std::vector<int64_t>& axes, bool keepdim) {
  Axes a = resolve_axes(x, axes, keepdim, "max");
  CQ_CHECK(a.n > 0, "max: cannot reduce over an empty set of elements in ", x.describe());
  Tensor out = run_reduce(kernels::RedOp::max, "max", x, a, x.dtype());
  Tensor xs = x.detach(), y = out.detach();
  Axes ak = a;
  ak.out_shape = a.keep_shape;
  record("max", out, {x}, [xs, y, ak](const Tensor& g) {
    Tensor yk = keep_view(y, ak.mask);  // y is contiguous, so yk is too (the count kernel reads it as [n_out])
    Tensor count = run_reduce(kernels::RedOp::count_eq, "max", xs, ak, xs.dtype(), yk);
    return std::vector<Tensor>{
        run_backward(reduce_math::BwdMode::max_tie, xs.shape(), xs, keep_view(g, ak.mask), yk, count, 1.0)};
  });
  return out;
}

Tensor var(const Tensor& x, const std::vector<int64_t>& axes, bool unbiased, bool keepdim) {
  check_float(x, "var");
  Axes a = resolve_axes(x, axes, keepdim, "var");
  double div = static_cast<double>(a.n) - (unbiased ? 1.0 : 0.0);
  Tensor m = run_reduce(kernels::RedOp::mean, "var", x, a, DType::f64, Tensor(), static_cast<double>(a.n));
  Tensor out = run_reduce(kernels::RedOp::sqdev, "var", x, a, x.dtype(), m, div);
  Tensor xs = x.detach();
  std::vector<bool> mask = a.mask;
  std::vector<int64_t> axes_copy = axes;
  double s = 2.0 / div;
  record("var", out, {x}, [xs, mask, axes_copy, s](const Tensor& g) {
    Tensor mk = mean(xs, axes_copy, true);
    return std::vector<Tensor>{
        run_backward(reduce_math::BwdMode::var, xs.shape(), xs, keep_view(g, mask), mk, Tensor(), s)};
  });
  return out;
}

Tensor argmax(const Tensor& x, int64_t axis, bool keepdim) {
  Axes a = resolve_axes(x, {axis}, keepdim, "argmax");
  CQ_CHECK(a.n > 0, "argmax: cannot reduce over an empty axis ", axis, " of ", x.describe());
  return run_reduce(kernels::RedOp::argmax, "argmax", x, a, DType::i64);
}

}  // namespace cq
