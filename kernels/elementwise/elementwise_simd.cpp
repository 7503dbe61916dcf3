// See elementwise_simd.h. Each entry point switches on the op once and runs a plain loop over the ew functor, which
// each ISA clone inlines and vectorises (sigmoid and silu through ew::exp_fast, which unlike libm's expf does).
#include "kernels/elementwise/elementwise_simd.h"

#include "kernels/cpu_clones.h"

namespace cq::kernels::simd {
namespace {

template <class F>
CQ_ALWAYS_INLINE void map(F f, const float* __restrict x, float* __restrict y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = f(x[i]);
}

template <class F>
CQ_ALWAYS_INLINE void map_grad(F f, const float* __restrict g, const float* __restrict s, float* __restrict dx,
                               int64_t n) {
  for (int64_t i = 0; i < n; ++i) dx[i] = f.grad(g[i], s[i]);
}

// The stride cases as separate loops so each has unit-stride or invariant operands.
template <class F>
CQ_ALWAYS_INLINE void zip(F f, const float* __restrict a, int64_t sa, const float* __restrict b, int64_t sb,
                          float* __restrict o, int64_t n) {
  if (sa == 1 && sb == 1) {
    for (int64_t i = 0; i < n; ++i) o[i] = f(a[i], b[i]);
  } else if (sa == 1) {
    const float bv = b[0];
    for (int64_t i = 0; i < n; ++i) o[i] = f(a[i], bv);
  } else if (sb == 1) {
    const float av = a[0];
    for (int64_t i = 0; i < n; ++i) o[i] = f(av, b[i]);
  } else {
    const float v = f(a[0], b[0]);
    for (int64_t i = 0; i < n; ++i) o[i] = v;
  }
}

}  // namespace

bool has_unary_f32(ew::UnaryOp op) {
  return op == ew::UnaryOp::relu || op == ew::UnaryOp::sigmoid || op == ew::UnaryOp::silu || op == ew::UnaryOp::gelu;
}

CQ_CPU_CLONES void unary_f32(ew::UnaryOp op, const float* x, float* y, int64_t n) {
  switch (op) {
    case ew::UnaryOp::relu: return map(ew::Relu{}, x, y, n);
    case ew::UnaryOp::sigmoid: return map(ew::Sigmoid{}, x, y, n);
    case ew::UnaryOp::silu: return map(ew::Silu{}, x, y, n);
    case ew::UnaryOp::gelu: return map(ew::Gelu{}, x, y, n);
    default: break;
  }
  fail("elementwise: no f32 fast path for unary op ", static_cast<int>(op));
}

CQ_CPU_CLONES void unary_grad_f32(ew::UnaryOp op, const float* g, const float* s, float* dx, int64_t n) {
  switch (op) {
    case ew::UnaryOp::relu: return map_grad(ew::Relu{}, g, s, dx, n);
    case ew::UnaryOp::sigmoid: return map_grad(ew::Sigmoid{}, g, s, dx, n);
    case ew::UnaryOp::silu: return map_grad(ew::Silu{}, g, s, dx, n);
    case ew::UnaryOp::gelu: return map_grad(ew::Gelu{}, g, s, dx, n);
    default: break;
  }
  fail("elementwise: no f32 fast path for unary op ", static_cast<int>(op));
}

bool has_binary_f32(ew::BinaryOp op) {
  return op == ew::BinaryOp::add || op == ew::BinaryOp::mul || op == ew::BinaryOp::sub || op == ew::BinaryOp::div;
}

CQ_CPU_CLONES void binary_f32(ew::BinaryOp op, const float* a, int64_t sa, const float* b, int64_t sb, float* o,
                              int64_t n) {
  switch (op) {
    case ew::BinaryOp::add: return zip(ew::Add{}, a, sa, b, sb, o, n);
    case ew::BinaryOp::mul: return zip(ew::Mul{}, a, sa, b, sb, o, n);
    case ew::BinaryOp::sub: return zip(ew::Sub{}, a, sa, b, sb, o, n);
    case ew::BinaryOp::div: return zip(ew::Div{}, a, sa, b, sb, o, n);
    default: break;
  }
  fail("elementwise: no f32 fast path for binary op ", static_cast<int>(op));
}

}  // namespace cq::kernels::simd
