// Per-element forward and derivative formulas of the elementwise family, as CQ_HD functors shared by the CPU kernels
// (elementwise_cpu.cpp) and the CUDA kernels (elementwise_cuda.cu), so the CPU tests exercise the GPU arithmetic.
// Each functor computes in the element type T; scalar parameters are held as double and cast to T.
#pragma once
#include <math.h>
#include <string.h>

#include <cstdint>

#include "tensor/error.h"
#include "tensor/hd.h"

namespace cq::ew {

// Explicitly global math calls: inside namespace cq an unqualified exp/log would find the Tensor ops and stop there.
CQ_HD float m_exp(float x) { return ::expf(x); }
CQ_HD double m_exp(double x) { return ::exp(x); }
CQ_HD float m_log(float x) { return ::logf(x); }
CQ_HD double m_log(double x) { return ::log(x); }
CQ_HD float m_sqrt(float x) { return ::sqrtf(x); }
CQ_HD double m_sqrt(double x) { return ::sqrt(x); }
CQ_HD float m_erf(float x) { return ::erff(x); }
CQ_HD double m_erf(double x) { return ::erf(x); }
CQ_HD float m_pow(float x, float p) { return ::powf(x, p); }
CQ_HD double m_pow(double x, double p) { return ::pow(x, p); }
CQ_HD float m_fabs(float x) { return ::fabsf(x); }
CQ_HD double m_fabs(double x) { return ::fabs(x); }

// exp for the sigmoid family (sigmoid, silu) in float: Cephes' expf (range reduction by ln 2, degree-6 polynomial,
// within 2 ulp) in plain arithmetic, so that CPU loops over it vectorise (a libm expf call does not). Inputs are
// clamped to [-87.3, 88.3] (sigmoid and silu saturate long before); NaN stays NaN. The double overload is libm's.
CQ_HD int32_t bits_of(float f) {
#if defined(__CUDA_ARCH__)
  return __float_as_int(f);
#else
  int32_t i;
  memcpy(&i, &f, sizeof i);
  return i;
#endif
}
CQ_HD float float_of(int32_t i) {
#if defined(__CUDA_ARCH__)
  return __int_as_float(i);
#else
  float f;
  memcpy(&f, &i, sizeof f);
  return f;
#endif
}
CQ_HD float exp_fast(float x) {
  x = x < -87.3f ? -87.3f : (x > 88.3f ? 88.3f : x);
  const float kRound = 12582912.0f;  // 1.5 * 2^23: adding it leaves round(v) in the low mantissa bits
  const float t = x * 1.44269504088896341f + kRound;
  const float n = t - kRound;
  float r = x - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  const float y = p * r * r + r + 1.0f;
  // The shift in unsigned: for a NaN x the exponent is garbage (the result is NaN anyway) and a signed shift would be
  // undefined behaviour (UBSan, under the asan preset).
  return y * float_of(int32_t(uint32_t(bits_of(t) - bits_of(kRound) + 127) << 23));  // y * 2^n
}
CQ_HD double exp_fast(double x) { return ::exp(x); }
// erf without libm calls, so loops over it vectorise (GELU): Taylor series below |x| = 0.5 (relative error < 1e-6),
// Abramowitz & Stegun 7.1.26 above (absolute error 1.5e-7; measured 3.2e-7 in float with exp_fast). Both are
// computed and one is selected, which keeps the loop branch-free.
CQ_HD float erf_fast(float x) {
  const float ax = x < 0.0f ? -x : x;
  const float x2 = x * x;
  float small = -1.0f / 1320.0f;
  small = small * x2 + 1.0f / 216.0f;
  small = small * x2 - 1.0f / 42.0f;
  small = small * x2 + 1.0f / 10.0f;
  small = small * x2 - 1.0f / 3.0f;
  small = small * x2 + 1.0f;
  small = small * x * 1.12837916709551257f;  // 2 / sqrt(pi)
  const float t = 1.0f / (1.0f + 0.3275911f * ax);
  float poly = 1.061405429f;
  poly = poly * t - 1.453152027f;
  poly = poly * t + 1.421413741f;
  poly = poly * t - 0.284496736f;
  poly = poly * t + 0.254829592f;
  float large = 1.0f - poly * t * exp_fast(-x2);
  large = x < 0.0f ? -large : large;
  return ax < 0.5f ? small : large;
}
CQ_HD double erf_fast(double x) { return ::erf(x); }

// Which tensor the backward of a unary op reads: nothing, the input x, or the output y (saving y where the
// derivative is cheapest in terms of it, e.g. exp and sigmoid, avoids recomputing a transcendental).
enum class Saved { none, input, output };

// g where keep, +0 elsewhere (the value of keep ? g : 0, NaN and infinities of g included). On the host as a bit
// mask: GCC leaves the select as a branch inside loops that also accumulate (BatchNorm+ReLU backward: 6 ns per
// element on random signs, 0.9 ns as a mask).
template <class T>
CQ_HD T keep_or_zero(bool keep, T g) {
#ifdef __CUDA_ARCH__
  return keep ? g : T(0);
#else
  if constexpr (sizeof(T) == 4) {
    uint32_t b;
    memcpy(&b, &g, sizeof b);
    b &= keep ? ~uint32_t(0) : uint32_t(0);
    memcpy(&g, &b, sizeof b);
  } else {
    uint64_t b;
    memcpy(&b, &g, sizeof b);
    b &= keep ? ~uint64_t(0) : uint64_t(0);
    memcpy(&g, &b, sizeof b);
  }
  return g;
#endif
}

// ---- unary ops: operator()(x) is the forward, grad(g, s) the input gradient given upstream g and the saved s ----
struct Relu {
  static constexpr Saved kSaved = Saved::output;
  // x < 0 ? 0 : x propagates NaN like PyTorch's relu.
  template <class T> CQ_HD T operator()(T x) const { return x < T(0) ? T(0) : x; }
  template <class T> CQ_HD T grad(T g, T y) const { return keep_or_zero(y > T(0), g); }
};
struct Sigmoid {
  static constexpr Saved kSaved = Saved::output;
  template <class T> CQ_HD T operator()(T x) const { return T(1) / (T(1) + exp_fast(-x)); }
  template <class T> CQ_HD T grad(T g, T y) const { return g * y * (T(1) - y); }
};
struct Silu {
  static constexpr Saved kSaved = Saved::input;
  template <class T> CQ_HD T operator()(T x) const { return x / (T(1) + exp_fast(-x)); }
  template <class T> CQ_HD T grad(T g, T x) const {
    T s = T(1) / (T(1) + exp_fast(-x));
    return g * (s * (T(1) + x * (T(1) - s)));
  }
};
struct Gelu {
  static constexpr Saved kSaved = Saved::input;
  static constexpr double kInvSqrt2 = 0.70710678118654752440;
  static constexpr double kInvSqrt2Pi = 0.39894228040143267794;
  template <class T> CQ_HD T operator()(T x) const { return T(0.5) * x * (T(1) + erf_fast(x * T(kInvSqrt2))); }
  template <class T> CQ_HD T grad(T g, T x) const {
    T cdf = T(0.5) * (T(1) + erf_fast(x * T(kInvSqrt2)));
    T pdf = T(kInvSqrt2Pi) * exp_fast(T(-0.5) * x * x);
    return g * (cdf + x * pdf);
  }
};
struct Exp {
  static constexpr Saved kSaved = Saved::output;
  template <class T> CQ_HD T operator()(T x) const { return m_exp(x); }
  template <class T> CQ_HD T grad(T g, T y) const { return g * y; }
};
struct Log {
  static constexpr Saved kSaved = Saved::input;
  template <class T> CQ_HD T operator()(T x) const { return m_log(x); }
  template <class T> CQ_HD T grad(T g, T x) const { return g / x; }
};
struct Sqrt {
  static constexpr Saved kSaved = Saved::output;
  template <class T> CQ_HD T operator()(T x) const { return m_sqrt(x); }
  template <class T> CQ_HD T grad(T g, T y) const { return g * T(0.5) / y; }
};
struct Rsqrt {
  static constexpr Saved kSaved = Saved::output;
  // 1/sqrt rather than a device rsqrt intrinsic so both backends round identically.
  template <class T> CQ_HD T operator()(T x) const { return T(1) / m_sqrt(x); }
  template <class T> CQ_HD T grad(T g, T y) const { return T(-0.5) * g * y * y * y; }
};
struct Neg {
  static constexpr Saved kSaved = Saved::none;
  template <class T> CQ_HD T operator()(T x) const { return -x; }
  template <class T> CQ_HD T grad(T g, T) const { return -g; }
};
struct Abs {
  static constexpr Saved kSaved = Saved::input;
  template <class T> CQ_HD T operator()(T x) const { return m_fabs(x); }
  template <class T> CQ_HD T grad(T g, T x) const { return x > T(0) ? g : (x < T(0) ? -g : T(0)); }
};
struct Clamp {
  static constexpr Saved kSaved = Saved::input;
  double lo, hi;
  // NaN passes through (neither comparison holds), as in PyTorch.
  template <class T> CQ_HD T operator()(T x) const { return x < T(lo) ? T(lo) : (x > T(hi) ? T(hi) : x); }
  template <class T> CQ_HD T grad(T g, T x) const { return (x >= T(lo) && x <= T(hi)) ? g : T(0); }
};
struct PowScalar {
  static constexpr Saved kSaved = Saved::input;
  double p;
  template <class T> CQ_HD T operator()(T x) const { return p == 2.0 ? x * x : m_pow(x, T(p)); }
  // p == 0: zero gradient even at x == 0 (PyTorch), rather than 0 * x^-1 = NaN.
  template <class T> CQ_HD T grad(T g, T x) const {
    if (p == 0.0) return T(0);
    if (p == 2.0) return g * T(2) * x;
    return g * T(p) * m_pow(x, T(p - 1.0));
  }
};
struct AddScalar {
  static constexpr Saved kSaved = Saved::none;
  double s;
  template <class T> CQ_HD T operator()(T x) const { return x + T(s); }
  template <class T> CQ_HD T grad(T g, T) const { return g; }
};
struct MulScalar {
  static constexpr Saved kSaved = Saved::none;
  double s;
  template <class T> CQ_HD T operator()(T x) const { return x * T(s); }
  template <class T> CQ_HD T grad(T g, T) const { return g * T(s); }
};

enum class UnaryOp { relu, sigmoid, silu, gelu, exp, log, sqrt, rsqrt, neg, abs, clamp, pow_scalar, add_scalar,
                     mul_scalar };
struct UnaryParams {
  double a = 0, b = 0;  // clamp: lo, hi; pow_scalar: p; add_scalar / mul_scalar: s
};

// Calls v(functor) with the functor of op (host side: picks the kernel instantiation once, outside the loop).
template <class V>
decltype(auto) visit_unary(UnaryOp op, UnaryParams p, V&& v) {
  switch (op) {
    case UnaryOp::relu: return v(Relu{});
    case UnaryOp::sigmoid: return v(Sigmoid{});
    case UnaryOp::silu: return v(Silu{});
    case UnaryOp::gelu: return v(Gelu{});
    case UnaryOp::exp: return v(Exp{});
    case UnaryOp::log: return v(Log{});
    case UnaryOp::sqrt: return v(Sqrt{});
    case UnaryOp::rsqrt: return v(Rsqrt{});
    case UnaryOp::neg: return v(Neg{});
    case UnaryOp::abs: return v(Abs{});
    case UnaryOp::clamp: return v(Clamp{p.a, p.b});
    case UnaryOp::pow_scalar: return v(PowScalar{p.a});
    case UnaryOp::add_scalar: return v(AddScalar{p.a});
    case UnaryOp::mul_scalar: return v(MulScalar{p.a});
  }
  fail("elementwise: unknown unary op ", static_cast<int>(op));
}

// ---- binary ops: operator()(a, b) forward; grad(g, a, b, ga, gb) both partial gradients ----
struct Add {
  template <class T> CQ_HD T operator()(T a, T b) const { return a + b; }
  template <class T> CQ_HD void grad(T g, T, T, T& ga, T& gb) const { ga = g; gb = g; }
};
struct Sub {
  template <class T> CQ_HD T operator()(T a, T b) const { return a - b; }
  template <class T> CQ_HD void grad(T g, T, T, T& ga, T& gb) const { ga = g; gb = -g; }
};
struct Mul {
  template <class T> CQ_HD T operator()(T a, T b) const { return a * b; }
  template <class T> CQ_HD void grad(T g, T a, T b, T& ga, T& gb) const { ga = g * b; gb = g * a; }
};
struct Div {
  template <class T> CQ_HD T operator()(T a, T b) const { return a / b; }
  template <class T> CQ_HD void grad(T g, T a, T b, T& ga, T& gb) const {
    ga = g / b;
    gb = -g * a / (b * b);
  }
};
struct Pow {
  template <class T> CQ_HD T operator()(T a, T b) const { return m_pow(a, b); }
  // Masks as PyTorch: d/da is 0 where b == 0; d/db is 0 where a == 0 and b >= 0 (instead of 0 * log 0 = NaN).
  template <class T> CQ_HD void grad(T g, T a, T b, T& ga, T& gb) const {
    ga = b == T(0) ? T(0) : g * b * m_pow(a, b - T(1));
    gb = (a == T(0) && b >= T(0)) ? T(0) : g * m_pow(a, b) * m_log(a);
  }
};
struct Maximum {
  // NaN in either input gives NaN (PyTorch).
  template <class T> CQ_HD T operator()(T a, T b) const { return (a != a || a > b) ? a : b; }
  // Ties split the gradient evenly.
  template <class T> CQ_HD void grad(T g, T a, T b, T& ga, T& gb) const {
    ga = a > b ? g : (a == b ? T(0.5) * g : T(0));
    gb = b > a ? g : (a == b ? T(0.5) * g : T(0));
  }
};
struct Minimum {
  template <class T> CQ_HD T operator()(T a, T b) const { return (a != a || a < b) ? a : b; }
  template <class T> CQ_HD void grad(T g, T a, T b, T& ga, T& gb) const {
    ga = a < b ? g : (a == b ? T(0.5) * g : T(0));
    gb = b < a ? g : (a == b ? T(0.5) * g : T(0));
  }
};

enum class BinaryOp { add, sub, mul, div, pow, maximum, minimum };

template <class V>
decltype(auto) visit_binary(BinaryOp op, V&& v) {
  switch (op) {
    case BinaryOp::add: return v(Add{});
    case BinaryOp::sub: return v(Sub{});
    case BinaryOp::mul: return v(Mul{});
    case BinaryOp::div: return v(Div{});
    case BinaryOp::pow: return v(Pow{});
    case BinaryOp::maximum: return v(Maximum{});
    case BinaryOp::minimum: return v(Minimum{});
  }
  fail("elementwise: unknown binary op ", static_cast<int>(op));
}

// ---- comparisons: any element type, result 1 or 0 as uint8_t ----
struct Eq { template <class T> CQ_HD uint8_t operator()(T a, T b) const { return a == b; } };
struct Ne { template <class T> CQ_HD uint8_t operator()(T a, T b) const { return a != b; } };
struct Lt { template <class T> CQ_HD uint8_t operator()(T a, T b) const { return a < b; } };
struct Le { template <class T> CQ_HD uint8_t operator()(T a, T b) const { return a <= b; } };
struct Gt { template <class T> CQ_HD uint8_t operator()(T a, T b) const { return a > b; } };
struct Ge { template <class T> CQ_HD uint8_t operator()(T a, T b) const { return a >= b; } };

enum class CompareOp { eq, ne, lt, le, gt, ge };

template <class V>
decltype(auto) visit_compare(CompareOp op, V&& v) {
  switch (op) {
    case CompareOp::eq: return v(Eq{});
    case CompareOp::ne: return v(Ne{});
    case CompareOp::lt: return v(Lt{});
    case CompareOp::le: return v(Le{});
    case CompareOp::gt: return v(Gt{});
    case CompareOp::ge: return v(Ge{});
  }
  fail("elementwise: unknown comparison ", static_cast<int>(op));
}

// where: nonzero condition picks a.
template <class T>
CQ_HD T select(uint8_t c, T a, T b) {
  return c ? a : b;
}

}  // namespace cq::ew
