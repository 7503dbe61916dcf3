// Elementwise ops: unary activations and math, scalar arithmetic, binary arithmetic and comparisons with numpy
// broadcasting, where. Results are new contiguous tensors on the input's device; inputs may be any strided view.
//
// Shape rules: unary ops keep x's shape. Binary ops and where broadcast numpy-style (trailing axes aligned; each
// pair of sizes equal or one of them 1); the result has the broadcast shape, and the backward sums each input's
// gradient back to that input's shape (cq::sum_to).
// Dtypes: float ops (every unary op, add sub mul div pow maximum minimum) take f32 or f64; comparisons take any
// dtype and return u8 (1 or 0); where takes a u8 condition and a, b of any one dtype. Binary ops need both inputs
// of one dtype on one device (no promotion) and throw cq::Error naming the op and both inputs otherwise.
#pragma once
#include "tensor/tensor.h"

namespace cq {

// ---- unary (f32/f64) ----
Tensor relu(const Tensor& x);  // grad 0 at x == 0 (as PyTorch)
Tensor sigmoid(const Tensor& x);
Tensor silu(const Tensor& x);  // x*sigmoid(x), "swish"
Tensor gelu(const Tensor& x);  // exact: 0.5*x*(1+erf(x/sqrt(2)))
Tensor exp(const Tensor& x);
Tensor log(const Tensor& x);
Tensor sqrt(const Tensor& x);
Tensor rsqrt(const Tensor& x);
Tensor neg(const Tensor& x);
Tensor abs(const Tensor& x);  // grad sign(x), 0 at 0
// Use -INFINITY / INFINITY for one side; grad passes where lo <= x <= hi (PyTorch). Requires lo <= hi.
Tensor clamp(const Tensor& x, double lo, double hi);
Tensor pow_scalar(const Tensor& x, double p);  // x^p; grad 0 everywhere when p == 0
Tensor add_scalar(const Tensor& x, double s);
Tensor mul_scalar(const Tensor& x, double s);

// ---- binary with numpy broadcasting; same dtype and device required ----
Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
Tensor pow(const Tensor& a, const Tensor& b);      // grad wrt b uses log(a) (0 where a == 0 and b >= 0)
Tensor maximum(const Tensor& a, const Tensor& b);  // ties: gradient split 0.5/0.5 (PyTorch); NaN propagates
Tensor minimum(const Tensor& a, const Tensor& b);

// ---- comparisons: u8 result (1/0), all dtypes incl. integer; no gradient ----
Tensor eq(const Tensor& a, const Tensor& b);
Tensor ne(const Tensor& a, const Tensor& b);
Tensor lt(const Tensor& a, const Tensor& b);
Tensor le(const Tensor& a, const Tensor& b);
Tensor gt(const Tensor& a, const Tensor& b);
Tensor ge(const Tensor& a, const Tensor& b);

// cond (u8, nonzero = true), a and b broadcast together; result cond ? a : b with a's dtype. Gradients flow to a
// where cond holds and to b elsewhere.
Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b);

// ---- operators ----
Tensor operator+(const Tensor& a, const Tensor& b);
Tensor operator-(const Tensor& a, const Tensor& b);
Tensor operator*(const Tensor& a, const Tensor& b);
Tensor operator/(const Tensor& a, const Tensor& b);
Tensor operator-(const Tensor& a);
Tensor operator+(const Tensor& a, double s);
Tensor operator-(const Tensor& a, double s);
Tensor operator*(const Tensor& a, double s);
Tensor operator/(const Tensor& a, double s);  // true division by s (not multiplication by 1/s)
Tensor operator+(double s, const Tensor& a);
Tensor operator-(double s, const Tensor& a);
Tensor operator*(double s, const Tensor& a);
Tensor operator/(double s, const Tensor& a);

}  // namespace cq
