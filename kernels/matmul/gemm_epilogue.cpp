// See gemm_epilogue.h. The activations are the elementwise functors (the same formulas as the unfused ops).
#include "kernels/matmul/gemm_epilogue.h"

#include "kernels/cpu_clones.h"
#include "kernels/elementwise/elementwise_math.h"

namespace cq::kernels::gemm_detail {
namespace {

template <class F>
CQ_ALWAYS_INLINE void apply(F f, float* c, int64_t ldc, int m, int n, const float* scale, const float* shift,
                            const float* col_shift, const float* residual, int64_t ldr) {
  for (int i = 0; i < m; ++i) {
    float* ci = c + i * ldc;
    const float a = scale ? scale[i] : 1.0f, b = shift ? shift[i] : 0.0f;
    if (col_shift) {
      for (int j = 0; j < n; ++j) ci[j] = f(a * ci[j] + b + col_shift[j]);
    } else {
      for (int j = 0; j < n; ++j) ci[j] = f(a * ci[j] + b);
    }
    if (residual) {  // after the activation, as the separate add(y, skip) it replaces
      const float* ri = residual + i * ldr;
      for (int j = 0; j < n; ++j) ci[j] = ci[j] + ri[j];
    }
  }
}

struct Identity {
  float operator()(float x) const { return x; }
};

}  // namespace

CQ_CPU_CLONES void row_epilogue_f32(float* c, int64_t ldc, int m, int n, const float* scale, const float* shift,
                                    const float* col_shift, int act, const float* residual, int64_t ldr) {
  switch (act) {
    case 1: return apply(ew::Relu{}, c, ldc, m, n, scale, shift, col_shift, residual, ldr);
    case 2: return apply(ew::Silu{}, c, ldc, m, n, scale, shift, col_shift, residual, ldr);
    case 3: return apply(ew::Gelu{}, c, ldc, m, n, scale, shift, col_shift, residual, ldr);
    default: return apply(Identity{}, c, ldc, m, n, scale, shift, col_shift, residual, ldr);
  }
}

}  // namespace cq::kernels::gemm_detail
