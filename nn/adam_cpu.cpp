// CPU Adam update: one independent element per iteration, so the result does not depend on the thread count.
#include "nn/adam_kernels.h"
#include "tensor/runtime.h"

namespace cq::kernels {

void adam_update_cpu(const Tensor& p, const Tensor& g, const Tensor& m, const Tensor& v, const Tensor& vmax,
                     const adammath::StepScalars& s) {
  const int64_t n = p.numel();
  constexpr int64_t kParallelMin = 1 << 15;
  dispatch_float(p.dtype(), "adam", [&](auto tag) {
    using T = decltype(tag);
    T* pp = p.data<T>();
    const T* gp = g.data<T>();
    T* mp = m.data<T>();
    T* vp = v.data<T>();
    T* xp = s.amsgrad ? vmax.data<T>() : nullptr;
#pragma omp parallel for num_threads(p.runtime().threads()) if (n > kParallelMin)
    for (int64_t i = 0; i < n; ++i) adammath::adam_update(pp + i, gp[i], mp + i, vp + i, xp ? xp + i : nullptr, s);
  });
}

}  // namespace cq::kernels
