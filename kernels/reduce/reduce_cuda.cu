// CUDA reduction kernels. Deterministic: a fixed assignment of elements to threads and a fixed combining tree.
// Short reductions (n_red < kBlockReduceMin): one thread per output scanning row-major. Long ones: one block of
// kThreads per output; thread t scans k = t, t + kThreads, ... in order, then the block combines the partials in
// a shared-memory tree (reducers' combine breaks argmax ties by index, so the first occurrence still wins).
#include <algorithm>

#include "kernels/reduce/reduce_kernels.h"
#include "tensor/backend.h"
#include "tensor/cuda_check.h"

namespace cq::kernels {
namespace {

constexpr int kThreads = 256;
constexpr int64_t kBlockReduceMin = 512;

template <class T, class R>
__global__ void reduce_thread_kernel(R r, const T* src, typename R::out_t* dst, StridedLayout kept,
                                     StridedLayout red, int64_t n_out, int64_t n_red) {
  for (int64_t j = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; j < n_out; j += (int64_t)gridDim.x * blockDim.x) {
    const T* base = src + kept.offset_of(j);
    typename R::acc_t a = r.init();
    for (int64_t k = 0; k < n_red; ++k) r.add(a, base[red.offset_of(k)], k, j);
    dst[j] = r.finish(a, j);
  }
}

template <class T, class R>
__global__ void reduce_block_kernel(R r, const T* src, typename R::out_t* dst, StridedLayout kept, StridedLayout red,
                                    int64_t n_out, int64_t n_red) {
  using acc_t = typename R::acc_t;
  __shared__ acc_t sh[kThreads];
  bool unit = red.ndim == 1 && red.strides[0] == 1;
  for (int64_t j = blockIdx.x; j < n_out; j += gridDim.x) {
    const T* base = src + kept.offset_of(j);
    acc_t a = r.init();
    if (unit) {
      for (int64_t k = threadIdx.x; k < n_red; k += kThreads) r.add(a, base[k], k, j);
    } else {
      for (int64_t k = threadIdx.x; k < n_red; k += kThreads) r.add(a, base[red.offset_of(k)], k, j);
    }
    sh[threadIdx.x] = a;
    __syncthreads();
    for (int w = kThreads / 2; w > 0; w >>= 1) {
      if (threadIdx.x < w) sh[threadIdx.x] = r.combine(sh[threadIdx.x], sh[threadIdx.x + w]);
      __syncthreads();
    }
    if (threadIdx.x == 0) dst[j] = r.finish(sh[0], j);
    __syncthreads();
  }
}

template <class T>
__global__ void reduce_backward_kernel(reduce_math::BwdMode mode, T* out, const T* xp, StridedLayout xl, const T* gp,
                                       StridedLayout gl, const T* ap, StridedLayout al, const T* bp, StridedLayout bl,
                                       T s, int64_t n) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
    out[i] = reduce_math::reduce_backward<T>(mode, xp[xl.offset_of(i)], gp[gl.offset_of(i)], ap[al.offset_of(i)],
                                             bp[bl.offset_of(i)], s);
}

int grid_for(int64_t n, int per) { return static_cast<int>(std::min<int64_t>((n + per - 1) / per, 65535)); }

}  // namespace

void reduce_cuda(RedOp op, const Tensor& out, const Tensor& x, const ReducePlan& p, const Tensor& aux, double div) {
  if (p.n_out == 0) return;
  dispatch_reducer(op, out, x, aux, div, [&](auto tag_, const auto& r) {
    using T = decltype(tag_);
    using R = std::decay_t<decltype(r)>;
    const T* src = static_cast<const T*>(x.storage()->data());
    auto* dst = out.data<typename R::out_t>();
    if (p.n_red >= kBlockReduceMin) {
      reduce_block_kernel<T, R><<<grid_for(p.n_out, 1), kThreads>>>(r, src, dst, p.kept, p.red, p.n_out, p.n_red);
    } else {
      reduce_thread_kernel<T, R><<<grid_for(p.n_out, cuda::kBlock), cuda::kBlock>>>(r, src, dst, p.kept, p.red,
                                                                                   p.n_out, p.n_red);
    }
  });
  CQ_CUDA_LAUNCH_CHECK("reduce");
}

void reduce_backward_cuda(reduce_math::BwdMode mode, const Tensor& gin, const Tensor& x, const Tensor& g,
                          const Tensor& a, const Tensor& b, double s) {
  const Shape& shape = gin.shape();
  int64_t n = gin.numel();
  if (n == 0) return;
  StridedLayout gl = broadcast_layout(g, shape);
  StridedLayout xl = x.defined() ? layout_of(x) : gl;
  StridedLayout al = a.defined() ? broadcast_layout(a, shape) : gl;
  StridedLayout bl = b.defined() ? broadcast_layout(b, shape) : gl;
  dispatch_float(gin.dtype(), "reduce backward", [&](auto tag_) {
    using T = decltype(tag_);
    auto base = [](const Tensor& t) { return static_cast<const T*>(t.storage()->data()); };
    const T* gp = base(g);
    reduce_backward_kernel<T><<<grid_for(n, cuda::kBlock), cuda::kBlock>>>(
        mode, gin.data<T>(), x.defined() ? base(x) : gp, xl, gp, gl, a.defined() ? base(a) : gp, al,
        b.defined() ? base(b) : gp, bl, static_cast<T>(s), n);
  });
  CQ_CUDA_LAUNCH_CHECK("reduce backward");
}

}  // namespace cq::kernels
