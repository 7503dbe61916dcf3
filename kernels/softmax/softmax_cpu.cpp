// CPU softmax kernels. Shapes: x, y, g, gin contiguous [outer, L, inner]; each (outer, inner) position is one row of
// L elements at stride inner. Work is split into (outer, tile of kTile inner positions) tasks, so the contiguous
// last-axis case (inner = 1) runs one row per task and the NCHW class-axis case (inner = H*W) runs kTile
// neighbouring pixels side by side (unit-stride, vectorisable inner loops). Each row's statistics accumulate
// sequentially over l in double: fixed order, identical for any thread count.
#include <algorithm>
#include <cmath>
#include <type_traits>

#include "kernels/softmax/softmax.h"
#include "kernels/softmax/softmax_math.h"
#include "kernels/softmax/softmax_simd.h"
#include "tensor/runtime.h"

namespace cq::kernels {
namespace {

constexpr int64_t kTile = 64;

template <class T>
void forward(const T* x, T* y, int64_t outer, int64_t L, int64_t inner, bool log, int threads) {
  using namespace softmax_math;
  if constexpr (std::is_same_v<T, float>) {
    if (inner == 1 && !log) {  // contiguous rows (attention): the vectorised kernel, rows split over threads
      int64_t chunk = 64;
      int64_t nchunks = (outer + chunk - 1) / chunk;
#pragma omp parallel for num_threads(threads) schedule(static) if (outer * L > (1 << 14))
      for (int64_t c = 0; c < nchunks; ++c) {
        int64_t r0 = c * chunk, rows = std::min(chunk, outer - r0);
        simd::softmax_rows_f32(x + r0 * L, y + r0 * L, rows, L);
      }
      return;
    }
  }
  int64_t ntiles = (inner + kTile - 1) / kTile, tasks = outer * ntiles;
#pragma omp parallel for num_threads(threads) schedule(static) if (outer * L * inner > (1 << 14))
  for (int64_t t = 0; t < tasks; ++t) {
    int64_t o = t / ntiles, i0 = (t % ntiles) * kTile, w = std::min(kTile, inner - i0);
    const T* xb = x + o * L * inner + i0;
    T* yb = y + o * L * inner + i0;
    T m[kTile];
    double s[kTile];
    for (int64_t c = 0; c < w; ++c) {
      m[c] = lowest<T>();
      s[c] = 0.0;
    }
    for (int64_t l = 0; l < L; ++l)
      for (int64_t c = 0; c < w; ++c) m[c] = max_step(m[c], xb[l * inner + c]);
    if (!log) {
      for (int64_t l = 0; l < L; ++l)
        for (int64_t c = 0; c < w; ++c) {
          T e = shifted_exp(xb[l * inner + c], m[c]);
          yb[l * inner + c] = e;
          s[c] += static_cast<double>(e);
        }
      for (int64_t c = 0; c < w; ++c) s[c] = 1.0 / s[c];
      for (int64_t l = 0; l < L; ++l)
        for (int64_t c = 0; c < w; ++c) yb[l * inner + c] = softmax_out(yb[l * inner + c], s[c]);
    } else {
      for (int64_t l = 0; l < L; ++l)
        for (int64_t c = 0; c < w; ++c) s[c] += static_cast<double>(shifted_exp(xb[l * inner + c], m[c]));
      for (int64_t c = 0; c < w; ++c) s[c] = std::log(s[c]);
      for (int64_t l = 0; l < L; ++l)
        for (int64_t c = 0; c < w; ++c) yb[l * inner + c] = log_softmax_out(xb[l * inner + c], m[c], s[c]);
    }
  }
}

template <class T>
void backward(T* gin, const T* y, const T* g, int64_t outer, int64_t L, int64_t inner, bool log, int threads) {
  using namespace softmax_math;
  int64_t ntiles = (inner + kTile - 1) / kTile, tasks = outer * ntiles;
#pragma omp parallel for num_threads(threads) schedule(static) if (outer * L * inner > (1 << 14))
  for (int64_t t = 0; t < tasks; ++t) {
    int64_t o = t / ntiles, i0 = (t % ntiles) * kTile, w = std::min(kTile, inner - i0);
    int64_t base = o * L * inner + i0;
    const T* yb = y + base;
    const T* gb = g + base;
    T* ob = gin + base;
    double d[kTile];
    for (int64_t c = 0; c < w; ++c) d[c] = 0.0;
    if (!log) {
      for (int64_t l = 0; l < L; ++l)
        for (int64_t c = 0; c < w; ++c) d[c] += softmax_dot_step(gb[l * inner + c], yb[l * inner + c]);
      for (int64_t l = 0; l < L; ++l)
        for (int64_t c = 0; c < w; ++c) ob[l * inner + c] = softmax_grad(gb[l * inner + c], yb[l * inner + c], d[c]);
    } else {
      for (int64_t l = 0; l < L; ++l)
        for (int64_t c = 0; c < w; ++c) d[c] += static_cast<double>(gb[l * inner + c]);
      for (int64_t l = 0; l < L; ++l)
        for (int64_t c = 0; c < w; ++c)
          ob[l * inner + c] = log_softmax_grad(gb[l * inner + c], yb[l * inner + c], d[c]);
    }
  }
}

}  // namespace

void softmax_cpu(const Tensor& y, const Tensor& x, int64_t outer, int64_t L, int64_t inner, bool log) {
  dispatch_float(x.dtype(), log ? "log_softmax" : "softmax", [&](auto tag_) {
    using T = decltype(tag_);
    forward<T>(x.data<T>(), y.data<T>(), outer, L, inner, log, x.runtime().threads());
  });
}

void softmax_backward_cpu(const Tensor& gin, const Tensor& y, const Tensor& g, int64_t outer, int64_t L,
                          int64_t inner, bool log) {
  dispatch_float(y.dtype(), log ? "log_softmax backward" : "softmax backward", [&](auto tag_) {
    using T = decltype(tag_);
    backward<T>(gin.data<T>(), y.data<T>(), g.data<T>(), outer, L, inner, log, y.runtime().threads());
  });
}

}  // namespace cq::kernels
