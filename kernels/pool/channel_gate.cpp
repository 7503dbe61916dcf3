// See channel_gate.h. CPU kernels inline: one (n, c) plane per task, so the bits do not depend on the thread count.
#include "kernels/pool/channel_gate.h"

#include <vector>

#include "kernels/elementwise/elementwise.h"
#include "kernels/elementwise/elementwise_math.h"
#include "tensor/autograd.h"
#include "tensor/backend.h"
#include "tensor/runtime.h"

namespace cq {
namespace {

template <class T>
void forward(const T* x, const T* s, T* y, T* gate, int64_t planes, int64_t hw, int threads) {
#pragma omp parallel for num_threads(threads) schedule(static) if (planes * hw > (1 << 15))
  for (int64_t k = 0; k < planes; ++k) {
    const T gk = ew::Sigmoid{}(s[k]);
    gate[k] = gk;
    const T* xp = x + k * hw;
    T* yp = y + k * hw;
    for (int64_t i = 0; i < hw; ++i) yp[i] = xp[i] * gk;
  }
}

template <class T>
void backward(const T* g, const T* x, const T* gate, T* dx, T* ds, int64_t planes, int64_t hw, int threads) {
#pragma omp parallel for num_threads(threads) schedule(static) if (planes * hw > (1 << 15))
  for (int64_t k = 0; k < planes; ++k) {
    const T gk = gate[k];
    const T* gp = g + k * hw;
    const T* xp = x + k * hw;
    double acc = 0.0;
    if (dx) {
      T* dp = dx + k * hw;
      for (int64_t i = 0; i < hw; ++i) {
        dp[i] = gp[i] * gk;
        acc += static_cast<double>(gp[i] * xp[i]);
      }
    } else {
      for (int64_t i = 0; i < hw; ++i) acc += static_cast<double>(gp[i] * xp[i]);
    }
    ds[k] = ew::Sigmoid{}.grad(static_cast<T>(acc), gk);
  }
}

}  // namespace

Tensor channel_gate(const Tensor& x, const Tensor& s) {
  CQ_CHECK(x.defined() && s.defined(), "channel_gate: undefined input");
  CQ_CHECK(x.dim() == 4 && is_floating(x.dtype()), "channel_gate: x must be f32/f64 [N,C,H,W], got ", x.describe());
  CQ_CHECK(s.shape() == Shape({x.size(0), x.size(1), 1, 1}) && s.dtype() == x.dtype(), "channel_gate: s must be ",
           dtype_name(x.dtype()), " [", x.size(0), ",", x.size(1), ",1,1] for x ", x.describe(), ", got ",
           s.describe());
  check_same_device("channel_gate", {x, s});
  if (!x.device().is_cpu()) return mul(x, sigmoid(s));
  const int64_t planes = x.size(0) * x.size(1), hw = x.size(2) * x.size(3);
  Tensor xc = x.contiguous(), sc = s.contiguous();
  Tensor y = xc.new_empty(xc.shape()), gate = sc.new_empty(sc.shape());
  const int threads = x.runtime().threads();
  dispatch_float(x.dtype(), "channel_gate", [&](auto tag) {
    using T = decltype(tag);
    forward<T>(xc.data<T>(), sc.data<T>(), y.data<T>(), gate.data<T>(), planes, hw, threads);
  });
  const bool want_dx = x.requires_grad();
  record("channel_gate", y, {x, s}, [xc, gate, planes, hw, threads, want_dx](const Tensor& g_in) {
    Tensor g = g_in.contiguous();
    Tensor dx = want_dx ? g.new_empty(g.shape()) : Tensor(), ds = gate.new_empty(gate.shape());
    dispatch_float(g.dtype(), "channel_gate", [&](auto tag) {
      using T = decltype(tag);
      backward<T>(g.data<T>(), xc.data<T>(), gate.data<T>(), want_dx ? dx.data<T>() : nullptr, ds.data<T>(), planes,
                  hw, threads);
    });
    return std::vector<Tensor>{dx, ds};
  });
  return y;
}

}  // namespace cq
