// CUDA kernels of the elementwise family: one thread per output element (grid-stride), the same functors as the
// CPU kernels (elementwise_math.h). Inputs that the broadcast plan marks contiguous are indexed directly, the
// rest through their merged strided layout.
#include <algorithm>

#include "kernels/elementwise/elementwise_kernels.h"
#include "tensor/cuda_check.h"

namespace cq::kernels {
namespace {

int grid_for(int64_t n) { return static_cast<int>(std::min<int64_t>(cuda::blocks_for(n), 65535)); }

CQ_HD int64_t index_of(const StridedLayout& l, bool contiguous, int64_t i) {
  return contiguous ? l.offset + i : l.offset_of(i);
}

template <class T, class F>
__global__ void unary_kernel(T* y, const T* x, int64_t n, F f) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
    y[i] = f(x[i]);
}

template <class T, class F>
__global__ void unary_grad_kernel(T* gx, const T* g, const T* s, int64_t n, F f) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
    gx[i] = f.grad(g[i], s[i]);
}

template <class T, class O, class F>
__global__ void binary_kernel(O* o, const T* a, const T* b, BroadcastPlan<2> p, F f) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < p.n; i += (int64_t)gridDim.x * blockDim.x)
    o[i] = f(a[index_of(p.layouts[0], p.contiguous[0], i)], b[index_of(p.layouts[1], p.contiguous[1], i)]);
}

template <class T, class F>
__global__ void binary_grad_kernel(T* ga, T* gb, const T* g, const T* a, const T* b, BroadcastPlan<2> p, F f) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < p.n; i += (int64_t)gridDim.x * blockDim.x) {
    T x, y;
    f.grad(g[i], a[index_of(p.layouts[0], p.contiguous[0], i)], b[index_of(p.layouts[1], p.contiguous[1], i)], x, y);
    if (ga) ga[i] = x;
    if (gb) gb[i] = y;
  }
}

template <class T>
__global__ void where_kernel(T* o, const uint8_t* c, const T* a, const T* b, BroadcastPlan<3> p) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < p.n; i += (int64_t)gridDim.x * blockDim.x)
    o[i] = ew::select(c[index_of(p.layouts[0], p.contiguous[0], i)], a[index_of(p.layouts[1], p.contiguous[1], i)],
                      b[index_of(p.layouts[2], p.contiguous[2], i)]);
}

template <class T>
const T* base_of(const Tensor& t) {
  return static_cast<const T*>(t.storage()->data());
}

}  // namespace

void unary_cuda(ew::UnaryOp op, ew::UnaryParams prm, const Tensor& out, const Tensor& x) {
  int64_t n = out.numel();
  if (n == 0) return;
  dispatch_float(x.dtype(), "elementwise", [&](auto tag_) {
    using scalar_t = decltype(tag_);
    ew::visit_unary(op, prm, [&](auto f) {
      unary_kernel<<<grid_for(n), cuda::kBlock>>>(out.data<scalar_t>(), x.data<scalar_t>(), n, f);
    });
  });
  CQ_CUDA_LAUNCH_CHECK("elementwise");
}

void unary_grad_cuda(ew::UnaryOp op, ew::UnaryParams prm, const Tensor& gx, const Tensor& g, const Tensor& s) {
  int64_t n = gx.numel();
  if (n == 0) return;
  dispatch_float(gx.dtype(), "elementwise backward", [&](auto tag_) {
    using scalar_t = decltype(tag_);
    ew::visit_unary(op, prm, [&](auto f) {
      unary_grad_kernel<<<grid_for(n), cuda::kBlock>>>(gx.data<scalar_t>(), g.data<scalar_t>(), s.data<scalar_t>(),
                                                       n, f);
    });
  });
  CQ_CUDA_LAUNCH_CHECK("elementwise backward");
}

void binary_cuda(ew::BinaryOp op, const Tensor& out, const Tensor& a, const Tensor& b) {
  const Tensor* ins[2] = {&a, &b};
  BroadcastPlan<2> p = make_plan(ins, out.shape());
  if (p.n == 0) return;
  dispatch_float(out.dtype(), "elementwise", [&](auto tag_) {
    using scalar_t = decltype(tag_);
    ew::visit_binary(op, [&](auto f) {
      binary_kernel<<<grid_for(p.n), cuda::kBlock>>>(out.data<scalar_t>(), base_of<scalar_t>(a),
                                                     base_of<scalar_t>(b), p, f);
    });
  });
  CQ_CUDA_LAUNCH_CHECK("elementwise");
}

void binary_grad_cuda(ew::BinaryOp op, const Tensor& ga, const Tensor& gb, const Tensor& g, const Tensor& a,
                      const Tensor& b) {
  const Tensor* ins[2] = {&a, &b};
  BroadcastPlan<2> p = make_plan(ins, g.shape());
  if (p.n == 0) return;
  dispatch_float(g.dtype(), "elementwise backward", [&](auto tag_) {
    using scalar_t = decltype(tag_);
    scalar_t* gap = ga.defined() ? ga.data<scalar_t>() : nullptr;
    scalar_t* gbp = gb.defined() ? gb.data<scalar_t>() : nullptr;
    ew::visit_binary(op, [&](auto f) {
      binary_grad_kernel<<<grid_for(p.n), cuda::kBlock>>>(gap, gbp, g.data<scalar_t>(), base_of<scalar_t>(a),
                                                          base_of<scalar_t>(b), p, f);
    });
  });
  CQ_CUDA_LAUNCH_CHECK("elementwise backward");
}

void compare_cuda(ew::CompareOp op, const Tensor& out, const Tensor& a, const Tensor& b) {
  const Tensor* ins[2] = {&a, &b};
  BroadcastPlan<2> p = make_plan(ins, out.shape());
  if (p.n == 0) return;
  dispatch_all(a.dtype(), "compare", [&](auto tag_) {
    using scalar_t = decltype(tag_);
    ew::visit_compare(op, [&](auto f) {
      binary_kernel<<<grid_for(p.n), cuda::kBlock>>>(out.data<uint8_t>(), base_of<scalar_t>(a),
                                                     base_of<scalar_t>(b), p, f);
    });
  });
  CQ_CUDA_LAUNCH_CHECK("compare");
}

void where_cuda(const Tensor& out, const Tensor& cond, const Tensor& a, const Tensor& b) {
  const Tensor* ins[3] = {&cond, &a, &b};
  BroadcastPlan<3> p = make_plan(ins, out.shape());
  if (p.n == 0) return;
  dispatch_all(out.dtype(), "where", [&](auto tag_) {
    using scalar_t = decltype(tag_);
    where_kernel<<<grid_for(p.n), cuda::kBlock>>>(out.data<scalar_t>(), base_of<uint8_t>(cond),
                                                  base_of<scalar_t>(a), base_of<scalar_t>(b), p);
  });
  CQ_CUDA_LAUNCH_CHECK("where");
}

}  // namespace cq::kernels
