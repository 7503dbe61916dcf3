// Float32 fast paths of the hottest elementwise loops, compiled per ISA (kernels/cpu_clones.h): relu / sigmoid /
// silu forward and backward, and add / mul on contiguous rows where either side may be one broadcast value (stride
// 0: the SE gate x * s[n, c] and bias-like adds). Same per-element formulas as elementwise_math.h.
#pragma once
#include <cstdint>

#include "kernels/elementwise/elementwise_math.h"

namespace cq::kernels::simd {

bool has_unary_f32(ew::UnaryOp op);  // relu, sigmoid, silu, gelu
// y[i] = op(x[i]) for i < n.
void unary_f32(ew::UnaryOp op, const float* x, float* y, int64_t n);
// dx[i] = op.grad(g[i], s[i]) (s: the saved input or output, as ew::Saved says).
void unary_grad_f32(ew::UnaryOp op, const float* g, const float* s, float* dx, int64_t n);

bool has_binary_f32(ew::BinaryOp op);  // add, mul, sub, div
// o[i] = op(a[i * sa], b[i * sb]) for i < n, with sa, sb in {0, 1}.
void binary_f32(ew::BinaryOp op, const float* a, int64_t sa, const float* b, int64_t sb, float* o, int64_t n);

}  // namespace cq::kernels::simd
