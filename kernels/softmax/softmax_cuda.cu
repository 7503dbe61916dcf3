// CUDA softmax kernels, deterministic. inner > 1 (e.g. the class axis of NCHW logits) or short rows: one thread per
// row, scanning l in order (neighbouring threads read neighbouring pixels, so loads coalesce). inner == 1 with
// L >= kBlockRowMin: one block per row; thread t scans l = t, t + kThreads, ... in order and the block combines the
// partial max / sums in a fixed shared-memory tree.
#include <algorithm>

#include "kernels/softmax/softmax.h"
#include "kernels/softmax/softmax_math.h"
#include "tensor/cuda_check.h"
#include "tensor/dtype.h"

namespace cq::kernels {
namespace {

using namespace softmax_math;
constexpr int kThreads = 256;
constexpr int64_t kBlockRowMin = 128;

template <class T>
__global__ void forward_thread_kernel(const T* x, T* y, int64_t outer, int64_t L, int64_t inner, bool log) {
  int64_t rows = outer * inner;
  for (int64_t r = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; r < rows; r += (int64_t)gridDim.x * blockDim.x) {
    int64_t o = r / inner, i = r % inner;
    const T* xb = x + o * L * inner + i;
    T* yb = y + o * L * inner + i;
    T m = lowest<T>();
    for (int64_t l = 0; l < L; ++l) m = max_step(m, xb[l * inner]);
    double s = 0.0;
    for (int64_t l = 0; l < L; ++l) s += static_cast<double>(shifted_exp(xb[l * inner], m));
    if (!log) {
      double inv = 1.0 / s;
      for (int64_t l = 0; l < L; ++l) yb[l * inner] = softmax_out(shifted_exp(xb[l * inner], m), inv);
    } else {
      double ls = ::log(s);
      for (int64_t l = 0; l < L; ++l) yb[l * inner] = log_softmax_out(xb[l * inner], m, ls);
    }
  }
}

// Block-wide combine of one value per thread in a fixed tree; every thread gets the result.
template <class V, class F>
__device__ V block_combine(V v, V* sh, F f) {
  sh[threadIdx.x] = v;
  __syncthreads();
  for (int w = kThreads / 2; w > 0; w >>= 1) {
    if (threadIdx.x < w) sh[threadIdx.x] = f(sh[threadIdx.x], sh[threadIdx.x + w]);
    __syncthreads();
  }
  V r = sh[0];
  __syncthreads();
  return r;
}

struct MaxOp {
  template <class T>
  __device__ T operator()(T a, T b) const { return max_step(a, b); }
};
struct AddOp {
  __device__ double operator()(double a, double b) const { return a + b; }
};

template <class T>
__global__ void forward_block_kernel(const T* x, T* y, int64_t rows, int64_t L, bool log) {
  __shared__ T shm[kThreads];
  __shared__ double shs[kThreads];
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const T* xb = x + r * L;
    T* yb = y + r * L;
    T m = lowest<T>();
    for (int64_t l = threadIdx.x; l < L; l += kThreads) m = max_step(m, xb[l]);
    m = block_combine(m, shm, MaxOp{});
    double s = 0.0;
    for (int64_t l = threadIdx.x; l < L; l += kThreads) s += static_cast<double>(shifted_exp(xb[l], m));
    s = block_combine(s, shs, AddOp{});
    if (!log) {
      double inv = 1.0 / s;
      for (int64_t l = threadIdx.x; l < L; l += kThreads) yb[l] = softmax_out(shifted_exp(xb[l], m), inv);
    } else {
      double ls = ::log(s);
      for (int64_t l = threadIdx.x; l < L; l += kThreads) yb[l] = log_softmax_out(xb[l], m, ls);
    }
  }
}

template <class T>
__global__ void backward_thread_kernel(T* gin, const T* y, const T* g, int64_t outer, int64_t L, int64_t inner,
                                       bool log) {
  int64_t rows = outer * inner;
  for (int64_t r = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; r < rows; r += (int64_t)gridDim.x * blockDim.x) {
    int64_t base = (r / inner) * L * inner + r % inner;
    double d = 0.0;
    for (int64_t l = 0; l < L; ++l) {
      int64_t e = base + l * inner;
      d += log ? static_cast<double>(g[e]) : softmax_dot_step(g[e], y[e]);
    }
    for (int64_t l = 0; l < L; ++l) {
      int64_t e = base + l * inner;
      gin[e] = log ? log_softmax_grad(g[e], y[e], d) : softmax_grad(g[e], y[e], d);
    }
  }
}

template <class T>
__global__ void backward_block_kernel(T* gin, const T* y, const T* g, int64_t rows, int64_t L, bool log) {
  __shared__ double shs[kThreads];
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    int64_t base = r * L;
    double d = 0.0;
    for (int64_t l = threadIdx.x; l < L; l += kThreads)
      d += log ? static_cast<double>(g[base + l]) : softmax_dot_step(g[base + l], y[base + l]);
    d = block_combine(d, shs, AddOp{});
    for (int64_t l = threadIdx.x; l < L; l += kThreads)
      gin[base + l] = log ? log_softmax_grad(g[base + l], y[base + l], d) : softmax_grad(g[base + l], y[base + l], d);
  }
}

int grid_for(int64_t n, int per) { return static_cast<int>(std::min<int64_t>((n + per - 1) / per, 65535)); }

}  // namespace

void softmax_cuda(const Tensor& y, const Tensor& x, int64_t outer, int64_t L, int64_t inner, bool log) {
  dispatch_float(x.dtype(), log ? "log_softmax" : "softmax", [&](auto tag_) {
    using T = decltype(tag_);
    if (inner == 1 && L >= kBlockRowMin) {
      forward_block_kernel<T><<<grid_for(outer, 1), kThreads>>>(x.data<T>(), y.data<T>(), outer, L, log);
    } else {
      forward_thread_kernel<T><<<grid_for(outer * inner, cuda::kBlock), cuda::kBlock>>>(x.data<T>(), y.data<T>(),
                                                                                        outer, L, inner, log);
    }
  });
  CQ_CUDA_LAUNCH_CHECK(log ? "log_softmax" : "softmax");
}

void softmax_backward_cuda(const Tensor& gin, const Tensor& y, const Tensor& g, int64_t outer, int64_t L,
                           int64_t inner, bool log) {
  dispatch_float(y.dtype(), log ? "log_softmax" : "softmax", [&](auto tag_) {
    using T = decltype(tag_);
    if (inner == 1 && L >= kBlockRowMin) {
      backward_block_kernel<T><<<grid_for(outer, 1), kThreads>>>(gin.data<T>(), y.data<T>(), g.data<T>(), outer, L,
                                                                 log);
    } else {
      backward_thread_kernel<T><<<grid_for(outer * inner, cuda::kBlock), cuda::kBlock>>>(
          gin.data<T>(), y.data<T>(), g.data<T>(), outer, L, inner, log);
    }
  });
  CQ_CUDA_LAUNCH_CHECK(log ? "log_softmax backward" : "softmax backward");
}

}  // namespace cq::kernels
