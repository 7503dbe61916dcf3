// Kernel entry points of the elementwise family (CPU in elementwise_cpu.cpp, CUDA in elementwise_cuda.cu) and the
// broadcast plan both backends iterate with. Outputs are always contiguous; unary kernels take contiguous inputs,
// broadcasting kernels take any strided inputs.
#pragma once
#include "kernels/elementwise/elementwise_math.h"
#include "tensor/backend.h"

namespace cq::kernels {

// N input layouts broadcast to a contiguous output of shape `shape`, with size-1 axes dropped and adjacent axes
// merged wherever every input allows it (so [N,C,H,W] + [1,C,1,1] runs as [N,C,H*W] with a stride-0 inner axis).
// layouts[k].offset_of(i) is input k's element offset for output linear index i.
template <int N>
struct BroadcastPlan {
  int64_t n = 0;
  StridedLayout layouts[N];
  bool contiguous[N] = {};  // input k's offset for output index i is layouts[k].offset + i
  bool scalar[N] = {};      // input k is one element read everywhere (all strides 0)
};

template <int N>
BroadcastPlan<N> make_plan(const Tensor* const (&ins)[N], const Shape& shape) {
  BroadcastPlan<N> p;
  p.n = shape_numel(shape);
  StridedLayout full[N];
  for (int k = 0; k < N; ++k) full[k] = broadcast_layout(*ins[k], shape);
  int nd = 0;
  int64_t sh[kMaxDims];
  int64_t st[N][kMaxDims];
  for (int d = 0; d < static_cast<int>(shape.size()); ++d) {
    if (shape[d] == 1) continue;
    bool merge = nd > 0;
    for (int k = 0; k < N && merge; ++k) merge = st[k][nd - 1] == full[k].strides[d] * shape[d];
    if (merge) {
      sh[nd - 1] *= shape[d];
      for (int k = 0; k < N; ++k) st[k][nd - 1] = full[k].strides[d];
    } else {
      sh[nd] = shape[d];
      for (int k = 0; k < N; ++k) st[k][nd] = full[k].strides[d];
      ++nd;
    }
  }
  for (int k = 0; k < N; ++k) {
    StridedLayout& l = p.layouts[k];
    l.ndim = nd;
    l.offset = full[k].offset;
    for (int d = 0; d < nd; ++d) {
      l.shape[d] = sh[d];
      l.strides[d] = st[k][d];
    }
    p.contiguous[k] = nd == 0 || (nd == 1 && st[k][0] == 1);
    p.scalar[k] = true;
    for (int d = 0; d < nd; ++d) p.scalar[k] = p.scalar[k] && st[k][d] == 0;
  }
  return p;
}

// out = op(x), x contiguous with out's shape.
void unary_cpu(ew::UnaryOp op, ew::UnaryParams p, const Tensor& out, const Tensor& x);
// gx = d op / dx * g given the saved tensor s (x or op(x), see ew::Saved); all contiguous, one shape.
void unary_grad_cpu(ew::UnaryOp op, ew::UnaryParams p, const Tensor& gx, const Tensor& g, const Tensor& s);
// out = op(a, b) with a and b broadcast to out's shape.
void binary_cpu(ew::BinaryOp op, const Tensor& out, const Tensor& a, const Tensor& b);
// ga / gb (each may be undefined = not wanted) = partial gradients at out's shape (before sum_to); g contiguous.
void binary_grad_cpu(ew::BinaryOp op, const Tensor& ga, const Tensor& gb, const Tensor& g, const Tensor& a,
                     const Tensor& b);
// out (u8) = a (op) b, any dtype.
void compare_cpu(ew::CompareOp op, const Tensor& out, const Tensor& a, const Tensor& b);
// out = cond ? a : b, cond u8, all broadcast to out's shape.
void where_cpu(const Tensor& out, const Tensor& cond, const Tensor& a, const Tensor& b);

#ifdef CQ_CUDA
void unary_cuda(ew::UnaryOp op, ew::UnaryParams p, const Tensor& out, const Tensor& x);
void unary_grad_cuda(ew::UnaryOp op, ew::UnaryParams p, const Tensor& gx, const Tensor& g, const Tensor& s);
void binary_cuda(ew::BinaryOp op, const Tensor& out, const Tensor& a, const Tensor& b);
void binary_grad_cuda(ew::BinaryOp op, const Tensor& ga, const Tensor& gb, const Tensor& g, const Tensor& a,
                      const Tensor& b);
void compare_cuda(ew::CompareOp op, const Tensor& out, const Tensor& a, const Tensor& b);
void where_cuda(const Tensor& out, const Tensor& cond, const Tensor& a, const Tensor& b);
#endif

}  // namespace cq::kernels
