// See softmax_simd.h.
#include "kernels/softmax/softmax_simd.h"

#include "kernels/cpu_clones.h"
#include "kernels/elementwise/elementwise_math.h"
#include "kernels/softmax/softmax_math.h"

namespace cq::kernels::simd {
namespace {

constexpr int kLanes = 8;

CQ_ALWAYS_INLINE void softmax_row(const float* __restrict x, float* __restrict y, int64_t L) {
  using softmax_math::max_step;
  float mlane[kLanes];
  for (int k = 0; k < kLanes; ++k) mlane[k] = softmax_math::lowest<float>();
  int64_t l = 0;
  for (; l + kLanes <= L; l += kLanes)
    for (int k = 0; k < kLanes; ++k) mlane[k] = max_step(mlane[k], x[l + k]);
  float m = mlane[0];
  for (int k = 1; k < kLanes; ++k) m = max_step(m, mlane[k]);
  for (int64_t t = l; t < L; ++t) m = max_step(m, x[t]);

  double slane[kLanes] = {};
  l = 0;
  for (; l + kLanes <= L; l += kLanes)
    for (int k = 0; k < kLanes; ++k) {
      float e = ew::exp_fast(x[l + k] - m);
      y[l + k] = e;
      slane[k] += static_cast<double>(e);
    }
  double tail = 0.0;
  for (int64_t t = l; t < L; ++t) {
    float e = ew::exp_fast(x[t] - m);
    y[t] = e;
    tail += static_cast<double>(e);
  }
  double s = ((slane[0] + slane[1]) + (slane[2] + slane[3])) + ((slane[4] + slane[5]) + (slane[6] + slane[7])) + tail;
  double inv = 1.0 / s;
  for (int64_t t = 0; t < L; ++t) y[t] = softmax_math::softmax_out(y[t], inv);
}

}  // namespace

CQ_CPU_CLONES void softmax_rows_f32(const float* x, float* y, int64_t rows, int64_t L) {
  for (int64_t r = 0; r < rows; ++r) softmax_row(x + r * L, y + r * L, L);
}

}  // namespace cq::kernels::simd
