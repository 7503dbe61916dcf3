// The per-element Adam update shared by the CPU and CUDA kernels (CQ_HD), so a machine without a GPU still tests the
// GPU's arithmetic. The update follows torch.optim.Adam (PyTorch 1.13, single-tensor path) operation by operation:
//   g'   = g + weight_decay * p                      (grad.add(param, alpha=weight_decay), only when wd != 0)
//   m    = beta1 * m + (1 - beta1) * g'              (exp_avg.mul_(beta1).add_(grad, alpha=1-beta1))
//   v    = beta2 * v + (1 - beta2) * g' * g'         (exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1-beta2))
//   vmax = max(vmax, v)                              (amsgrad only; then used in place of v below)
//   den  = sqrt(v) / sqrt(1 - beta2^t) + eps
//   p    = p - (lr / (1 - beta1^t)) * (m / den)      (param.addcdiv_(exp_avg, denom, value=-step_size))
// Each element is computed in double and rounded once to the element type when stored (m, v, vmax, p), so the f32
// result is the correctly rounded value of PyTorch's formula rather than a chain of f32 roundings. The stored state
// is exactly what the next step reads, which is what makes a save/load resume bit-identical.
#pragma once
#include <cmath>

#include "tensor/hd.h"

namespace cq::adammath {

// Per parameter and step, computed on the host in double from the hyper-parameters and the parameter's step count t
// (after increment), as PyTorch does in Python floats.
struct StepScalars {
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 0.0;
  double step_size = 0.0;  // lr / (1 - beta1^t)
  double bc2_sqrt = 1.0;   // sqrt(1 - beta2^t)
  int amsgrad = 0;
};

inline StepScalars step_scalars(double lr, double beta1, double beta2, double eps, double weight_decay,
                                bool amsgrad, long long t) {
  StepScalars s;
  s.beta1 = beta1;
  s.beta2 = beta2;
  s.eps = eps;
  s.weight_decay = weight_decay;
  s.step_size = lr / (1.0 - std::pow(beta1, static_cast<double>(t)));
  s.bc2_sqrt = std::sqrt(1.0 - std::pow(beta2, static_cast<double>(t)));
  s.amsgrad = amsgrad ? 1 : 0;
  return s;
}

// Multiply and add with one rounding each: nvcc would otherwise contract a*b+c into an FMA on the device while g++
// does not on the host, and CPU and GPU would differ in the last bit.
CQ_HD double mul_rn(double a, double b) {
#ifdef __CUDA_ARCH__
  return __dmul_rn(a, b);
#else
  return a * b;
#endif
}
CQ_HD double add_rn(double a, double b) {
#ifdef __CUDA_ARCH__
  return __dadd_rn(a, b);
#else
  return a + b;
#endif
}

// One element: updates p, m, v (and vmax when amsgrad; vmax may be null otherwise) in place from the gradient g.
// kWd / kAms: whether weight decay / amsgrad apply, fixed at compile time so a CPU loop over elements has no branch
// and vectorises; adam_update below picks the variant from s.
template <bool kWd, bool kAms, class T>
CQ_HD void adam_update_fixed(T* p, T g, T* m, T* v, T* vmax, const StepScalars& s) {
  const double pd = static_cast<double>(*p);
  double gd = static_cast<double>(g);
  if constexpr (kWd) gd = add_rn(gd, mul_rn(s.weight_decay, pd));
  const T mt = static_cast<T>(add_rn(mul_rn(s.beta1, static_cast<double>(*m)), mul_rn(1.0 - s.beta1, gd)));
  const T vt = static_cast<T>(
      add_rn(mul_rn(s.beta2, static_cast<double>(*v)), mul_rn(mul_rn(1.0 - s.beta2, gd), gd)));
  *m = mt;
  *v = vt;
  double vh = static_cast<double>(vt);
  if constexpr (kAms) {
    const T mx = *vmax > vt ? *vmax : vt;
    *vmax = mx;
    vh = static_cast<double>(mx);
  }
  const double den = add_rn(::sqrt(vh) / s.bc2_sqrt, s.eps);
  *p = static_cast<T>(add_rn(pd, -mul_rn(s.step_size, static_cast<double>(mt) / den)));
}

template <class T>
CQ_HD void adam_update(T* p, T g, T* m, T* v, T* vmax, const StepScalars& s) {
  const bool wd = s.weight_decay != 0.0;
  if (s.amsgrad) {
    if (wd) adam_update_fixed<true, true>(p, g, m, v, vmax, s);
    else adam_update_fixed<false, true>(p, g, m, v, vmax, s);
  } else {
    if (wd) adam_update_fixed<true, false>(p, g, m, v, vmax, s);
    else adam_update_fixed<false, false>(p, g, m, v, vmax, s);
  }
}

}  // namespace cq::adammath
