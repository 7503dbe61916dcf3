// Per-element softmax formulas shared by softmax_cpu.cpp and softmax_cuda.cu. Row statistics (max, sums) are
// computed by the kernels; these are the steps applied to each element.
#pragma once
#include <cstdint>
#include <limits>
#include <math.h>

#include "tensor/hd.h"

namespace cq::softmax_math {

template <class T>
CQ_HD T lowest() {
  return -std::numeric_limits<T>::infinity();
}
// NaN-propagating maximum (a NaN anywhere in the row makes the whole row NaN, as in PyTorch).
template <class T>
CQ_HD T max_step(T m, T v) {
  return (v != v || v > m) ? v : m;
}
CQ_HD float exp_of(float v) { return expf(v); }
CQ_HD double exp_of(double v) { return exp(v); }

// exp(x - max): the unnormalised softmax value, also what the row sum accumulates (in double).
template <class T>
CQ_HD T shifted_exp(T x, T m) {
  return exp_of(x - m);
}
// softmax = e / sum(e); inv_sum = 1 / sum in double.
template <class T>
CQ_HD T softmax_out(T e, double inv_sum) {
  return static_cast<T>(static_cast<double>(e) * inv_sum);
}
// log_softmax = x - max - log(sum(exp(x - max))).
template <class T>
CQ_HD T log_softmax_out(T x, T m, double log_sum) {
  return static_cast<T>(static_cast<double>(x - m) - log_sum);
}
// Backward of softmax: dx = y * (g - sum(g * y)); the row sum dot accumulates g * y in double.
template <class T>
CQ_HD double softmax_dot_step(T g, T y) {
  return static_cast<double>(g) * static_cast<double>(y);
}
template <class T>
CQ_HD T softmax_grad(T g, T y, double dot) {
  return static_cast<T>(static_cast<double>(y) * (static_cast<double>(g) - dot));
}
// Backward of log_softmax: dx = g - exp(y) * sum(g).
template <class T>
CQ_HD T log_softmax_grad(T g, T y, double gsum) {
  return static_cast<T>(static_cast<double>(g) - static_cast<double>(exp_of(y)) * gsum);
}

}  // namespace cq::softmax_math
