// Per-element reduction steps shared by the CPU (reduce_cpu.cpp) and CUDA (reduce_cuda.cu) kernels. A reducer R has
// acc_t, out_t, init(), add(acc, v, k, j) (element v at reduced index k for output j), combine(a, b) (a holds
// earlier elements than b when order matters) and finish(acc, j).
#pragma once
#include <cstdint>
#include <limits>

#include "tensor/hd.h"

namespace cq::reduce_math {

template <class T>
CQ_HD bool is_nan(T v) {
  return v != v;  // false for integers
}
template <class T>
CQ_HD T lowest() {
  return std::numeric_limits<T>::has_infinity ? -std::numeric_limits<T>::infinity() : std::numeric_limits<T>::lowest();
}
// NaN-propagating maximum.
template <class T>
CQ_HD T nan_max(T a, T v) {
  return (is_nan(v) || v > a) ? v : a;
}

// f32 and f64 accumulate in double; integers in int64.
template <class T> struct acc_of { using type = int64_t; };
template <> struct acc_of<float> { using type = double; };
template <> struct acc_of<double> { using type = double; };

template <class T, class Out>
struct SumR {
  using acc_t = typename acc_of<T>::type;
  using out_t = Out;
  CQ_HD acc_t init() const { return acc_t(0); }
  CQ_HD void add(acc_t& a, T v, int64_t, int64_t) const { a += static_cast<acc_t>(v); }
  CQ_HD acc_t combine(acc_t a, acc_t b) const { return a + b; }
  CQ_HD Out finish(acc_t a, int64_t) const { return static_cast<Out>(a); }
};

template <class T, class Out>
struct MeanR {
  using acc_t = double;
  using out_t = Out;
  double n;
  CQ_HD acc_t init() const { return 0.0; }
  CQ_HD void add(acc_t& a, T v, int64_t, int64_t) const { a += static_cast<double>(v); }
  CQ_HD acc_t combine(acc_t a, acc_t b) const { return a + b; }
  CQ_HD Out finish(acc_t a, int64_t) const { return static_cast<Out>(a / n); }
};

// Sum of squared deviations from a per-output mean (f64), divided by div = n - ddof: the second pass of var.
template <class T>
struct SqDevR {
  using acc_t = double;
  using out_t = T;
  const double* mean;
  double div;
  CQ_HD acc_t init() const { return 0.0; }
  CQ_HD void add(acc_t& a, T v, int64_t, int64_t j) const {
    double d = static_cast<double>(v) - mean[j];
    a += d * d;
  }
  CQ_HD acc_t combine(acc_t a, acc_t b) const { return a + b; }
  CQ_HD T finish(acc_t a, int64_t) const { return static_cast<T>(a / div); }
};

template <class T>
struct MaxR {
  using acc_t = T;
  using out_t = T;
  CQ_HD acc_t init() const { return lowest<T>(); }
  CQ_HD void add(acc_t& a, T v, int64_t, int64_t) const { a = nan_max(a, v); }
  CQ_HD acc_t combine(acc_t a, acc_t b) const { return nan_max(a, b); }
  CQ_HD T finish(acc_t a, int64_t) const { return a; }
};

// Number of elements equal to the per-output maximum y[j] (max's backward splits the gradient among them).
template <class T>
struct CountEqR {
  using acc_t = int64_t;
  using out_t = T;
  const T* y;
  CQ_HD acc_t init() const { return 0; }
  CQ_HD void add(acc_t& a, T v, int64_t, int64_t j) const { a += (v == y[j]) ? 1 : 0; }
  CQ_HD acc_t combine(acc_t a, acc_t b) const { return a + b; }
  CQ_HD T finish(acc_t a, int64_t) const { return static_cast<T>(a); }
};

template <class T>
struct ArgAcc {
  T v;
  int64_t i;  // -1: nothing seen yet
};

// First occurrence of the maximum; a NaN beats every number (PyTorch). combine breaks ties by the smaller index, so
// any fixed split of the reduced range gives the same answer as the sequential scan.
template <class T>
struct ArgmaxR {
  using acc_t = ArgAcc<T>;
  using out_t = int64_t;
  static CQ_HD bool better(T v, T than) { return (is_nan(v) && !is_nan(than)) || v > than; }
  CQ_HD acc_t init() const { return acc_t{lowest<T>(), -1}; }
  CQ_HD void add(acc_t& a, T v, int64_t k, int64_t) const {
    if (a.i < 0 || better(v, a.v)) {
      a.v = v;
      a.i = k;
    }
  }
  CQ_HD acc_t combine(acc_t a, acc_t b) const {
    if (b.i < 0) return a;
    if (a.i < 0) return b;
    if (better(b.v, a.v)) return b;
    if (better(a.v, b.v)) return a;
    return b.i < a.i ? b : a;
  }
  CQ_HD int64_t finish(acc_t a, int64_t) const { return a.i; }
};

// Backward of the reductions, per input element; g, a, b are the per-output values broadcast to this element.
enum class BwdMode : int {
  scale = 0,    // mean: g * s
  max_tie = 1,  // max: a = max value, b = number of ties: g / b where x == a, else 0
  var = 2,      // var: a = mean, s = 2 / (n - ddof): g * s * (x - a)
};
template <class T>
CQ_HD T reduce_backward(BwdMode m, T x, T g, T a, T b, T s) {
  switch (m) {
    case BwdMode::scale: return g * s;
    case BwdMode::max_tie: return x == a ? g / b : T(0);
    case BwdMode::var: return g * s * (x - a);
  }
  return T(0);
}

}  // namespace cq::reduce_math
