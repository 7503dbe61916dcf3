// Internal to kernels/reduce: the reduction plan and the CPU/CUDA kernel entry points behind reduce.h.
#pragma once
#include <vector>

#include "kernels/reduce/reduce_math.h"
#include "tensor/strided.h"
#include "tensor/tensor.h"

namespace cq::kernels {

// x's elements split into kept axes (output index j, row-major over the kept axes; offset = x's offset) and reduced
// axes (index k, row-major over the reduced axes; offset 0). Element (j, k) is at kept.offset_of(j) +
// red.offset_of(k). Size-1 axes are dropped and adjacent axes merged where the strides allow, so a contiguous NCHW
// tensor reduced over H,W has red = [H*W] with stride 1 and one reduced over N,H,W has kept = [C], red = [N, H*W].
struct ReducePlan {
  StridedLayout kept, red;
  int64_t n_out = 1, n_red = 1;
};
ReducePlan make_reduce_plan(const Tensor& x, const std::vector<bool>& reduce_axis);

enum class RedOp { sum, mean, max, sqdev, count_eq, argmax };
// out: contiguous, n_out elements (sum of integers: i64; argmax: i64; mean: x's dtype or f64; others: x's dtype).
// aux: sqdev: f64 per-output means; count_eq: per-output maxima of x's dtype; else undefined.
// div: mean: n; sqdev: n - ddof.
void reduce_cpu(RedOp op, const Tensor& out, const Tensor& x, const ReducePlan& p, const Tensor& aux, double div);
// gin (contiguous, x's shape) = reduce_math::reduce_backward(mode, x, g, a, b, s) with g, a, b broadcast to x's shape
// (x, a, b may be undefined when the mode does not read them).
void reduce_backward_cpu(reduce_math::BwdMode mode, const Tensor& gin, const Tensor& x, const Tensor& g,
                         const Tensor& a, const Tensor& b, double s);
#ifdef CQ_CUDA
void reduce_cuda(RedOp op, const Tensor& out, const Tensor& x, const ReducePlan& p, const Tensor& aux, double div);
void reduce_backward_cuda(reduce_math::BwdMode mode, const Tensor& gin, const Tensor& x, const Tensor& g,
                          const Tensor& a, const Tensor& b, double s);
#endif

}  // namespace cq::kernels

#include <type_traits>

#include "tensor/dtype.h"

namespace cq::kernels {

// Calls f(T{}, reducer) for op on x's dtype T, with the reducer built from out's dtype, aux and div. Shared by the
// CPU and CUDA entry points so both instantiate the same reducers.
template <class F>
void dispatch_reducer(RedOp op, const Tensor& out, const Tensor& x, const Tensor& aux, double div, F&& f) {
  using namespace reduce_math;
  dispatch_all(x.dtype(), "reduce", [&](auto tag_) {
    using T = decltype(tag_);
    constexpr bool fl = std::is_floating_point<T>::value;
    switch (op) {
      case RedOp::sum:
        if constexpr (fl) f(T{}, SumR<T, T>{});
        else f(T{}, SumR<T, int64_t>{});
        return;
      case RedOp::mean:
        if constexpr (fl) {
          if (out.dtype() == DType::f64) f(T{}, MeanR<T, double>{div});
          else f(T{}, MeanR<T, T>{div});
          return;
        }
        break;
      case RedOp::sqdev:
        if constexpr (fl) {
          f(T{}, SqDevR<T>{aux.data<double>(), div});
          return;
        }
        break;
      case RedOp::max: f(T{}, MaxR<T>{}); return;
      case RedOp::count_eq: f(T{}, CountEqR<T>{aux.data<T>()}); return;
      case RedOp::argmax: f(T{}, ArgmaxR<T>{}); return;
    }
    fail("reduce: dtype ", dtype_name(x.dtype()), " not supported by this reduction (f32, f64 only)");
  });
}

}  // namespace cq::kernels
