// CPU kernels of batch_norm_act. Work is split by channel (statistics, backward) or by (image, channel) plane
// (apply); inside one, sums run over 16 fixed lanes of doubles (element k of a plane row goes to lane k % 16) that are
// added in order at the end, so results are bit-identical for any thread count while the loops still vectorise.
// The per-plane loops are compiled per ISA (kernels/cpu_clones.h).
//   forward   z = x * scale + shift with scale = w * rstd, shift = b - mean * scale (per channel, in double, then
//             cast); y = act(z)
//   backward  pass 1: dz = act'(z) * g (written into dx), sums of dz and dz * x;
//             pass 2: dx = a * dz + b * (x - mean) + c, the batch-statistics formula with its per-channel terms
//             folded (a = w * rstd; with fixed statistics b = c = 0). dweight = sum(dz * xhat), dbias = sum(dz).
#include <vector>

#include "kernels/cpu_clones.h"
#include "kernels/norm/norm_kernels.h"
#include "kernels/norm/norm_math.h"
#include "tensor/runtime.h"

namespace cq::kernels {
namespace {

constexpr int64_t kLanes = 16;
constexpr int64_t kParallelMin = 1 << 15;

template <class T>
CQ_ALWAYS_INLINE void sum_impl(const T* __restrict x, int64_t S, double* __restrict lanes) {
  int64_t i = 0;
  for (; i + kLanes <= S; i += kLanes)
    for (int64_t l = 0; l < kLanes; ++l) lanes[l] += static_cast<double>(x[i + l]);
  for (int64_t l = 0; l < S - i; ++l) lanes[l] += static_cast<double>(x[i + l]);
}

template <class T>
CQ_ALWAYS_INLINE void sqdev_impl(const T* __restrict x, int64_t S, double m, double* __restrict lanes) {
  int64_t i = 0;
  for (; i + kLanes <= S; i += kLanes)
    for (int64_t l = 0; l < kLanes; ++l) lanes[l] += normmath::sq_dev(static_cast<double>(x[i + l]), m);
  for (int64_t l = 0; l < S - i; ++l) lanes[l] += normmath::sq_dev(static_cast<double>(x[i + l]), m);
}

// The activation is a template parameter (F) chosen by a switch in the cloned entry points below, not through
// normact::visit_act: a generic lambda would be compiled once, outside the clones, and not vectorised.
template <class T, class F>
CQ_ALWAYS_INLINE void apply_impl(F f, const T* __restrict x, int64_t S, T scale, T shift, T* __restrict y) {
  for (int64_t i = 0; i < S; ++i) y[i] = f(x[i] * scale + shift);
}

template <class T, class F>
CQ_ALWAYS_INLINE void bwd_reduce_impl(F f, const T* __restrict x, const T* __restrict g, int64_t S, T scale, T shift,
                                      T* __restrict dz, double* __restrict lanes) {
  double* __restrict ldz = lanes;
  double* __restrict ldzx = lanes + kLanes;
  {
    int64_t i = 0;
    for (; i + kLanes <= S; i += kLanes)
      for (int64_t l = 0; l < kLanes; ++l) {
        const T d = f.grad(g[i + l], x[i + l] * scale + shift);
        dz[i + l] = d;
        ldz[l] += static_cast<double>(d);
        ldzx[l] += static_cast<double>(d) * static_cast<double>(x[i + l]);
      }
    for (int64_t l = 0; l < S - i; ++l) {
      const T d = f.grad(g[i + l], x[i + l] * scale + shift);
      dz[i + l] = d;
      ldz[l] += static_cast<double>(d);
      ldzx[l] += static_cast<double>(d) * static_cast<double>(x[i + l]);
    }
  }
}

// Expands `call(functor)` for act inside the calling (cloned) function.
#define CQ_WITH_ACT(act, call)                          \
  switch (act) {                                        \
    case NormAct::relu: call(normact::Relu{}); break;   \
    case NormAct::silu: call(normact::Silu{}); break;   \
    default: call(normact::Identity{}); break;          \
  }

template <class T>
CQ_ALWAYS_INLINE void dx_impl(T* __restrict d, const T* __restrict x, int64_t S, T a, T b, T m, T c) {
  for (int64_t i = 0; i < S; ++i) d[i] = a * d[i] + b * (x[i] - m) + c;
}

CQ_CPU_CLONES void plane_sum(const float* x, int64_t S, double* lanes) { sum_impl(x, S, lanes); }
CQ_CPU_CLONES void plane_sum(const double* x, int64_t S, double* lanes) { sum_impl(x, S, lanes); }
CQ_CPU_CLONES void plane_sqdev(const float* x, int64_t S, double m, double* lanes) { sqdev_impl(x, S, m, lanes); }
CQ_CPU_CLONES void plane_sqdev(const double* x, int64_t S, double m, double* lanes) { sqdev_impl(x, S, m, lanes); }
#define CQ_APPLY(f) apply_impl(f, x, S, scale, shift, y)
CQ_CPU_CLONES void plane_apply(NormAct act, const float* x, int64_t S, float scale, float shift, float* y) {
  CQ_WITH_ACT(act, CQ_APPLY)
}
CQ_CPU_CLONES void plane_apply(NormAct act, const double* x, int64_t S, double scale, double shift, double* y) {
  CQ_WITH_ACT(act, CQ_APPLY)
}
#undef CQ_APPLY
#define CQ_BWD(f) bwd_reduce_impl(f, x, g, S, scale, shift, dz, lanes)
CQ_CPU_CLONES void plane_bwd_reduce(NormAct act, const float* x, const float* g, int64_t S, float scale, float shift,
                                    float* dz, double* lanes) {
  CQ_WITH_ACT(act, CQ_BWD)
}
CQ_CPU_CLONES void plane_bwd_reduce(NormAct act, const double* x, const double* g, int64_t S, double scale,
                                    double shift, double* dz, double* lanes) {
  CQ_WITH_ACT(act, CQ_BWD)
}
#undef CQ_BWD
#undef CQ_WITH_ACT
CQ_CPU_CLONES void plane_dx(float* d, const float* x, int64_t S, float a, float b, float m, float c) {
  dx_impl(d, x, S, a, b, m, c);
}
CQ_CPU_CLONES void plane_dx(double* d, const double* x, int64_t S, double a, double b, double m, double c) {
  dx_impl(d, x, S, a, b, m, c);
}

double lane_total(const double* lanes) {
  double s = 0;
  for (int64_t l = 0; l < kLanes; ++l) s += lanes[l];
  return s;
}

template <class T>
T* opt_ptr(const Tensor& t) {
  return t.defined() ? t.data<T>() : nullptr;
}

// Per-channel affine of the normalisation: z = x * scale + shift.
struct Affine {
  double scale, shift;
};
Affine affine_of(double w, double b, double mean, double rstd) { return Affine{w * rstd, b - mean * w * rstd}; }

}  // namespace

void bna_stats_cpu(const Tensor& x, const Tensor& mean, const Tensor& rstd, const Tensor& running_mean,
                   const Tensor& running_var, BnDims d, double momentum, double eps) {
  const int64_t n = d.N * d.S;
  dispatch_float(x.dtype(), "batch_norm_act", [&](auto tag_) {
    using T = decltype(tag_);
    const T* px = x.data<T>();
    double* pm = mean.data<double>();
    double* pr = rstd.data<double>();
    T* prm = opt_ptr<T>(running_mean);
    T* prv = opt_ptr<T>(running_var);
#pragma omp parallel for num_threads(x.runtime().threads()) if (n * d.C > kParallelMin)
    for (int64_t c = 0; c < d.C; ++c) {
      // Two passes (mean, then squared deviations) avoid the cancellation of E[x^2] - E[x]^2.
      double lanes[kLanes] = {};
      for (int64_t i = 0; i < d.N; ++i) plane_sum(px + (i * d.C + c) * d.S, d.S, lanes);
      const double m = lane_total(lanes) / static_cast<double>(n);
      double qlanes[kLanes] = {};
      for (int64_t i = 0; i < d.N; ++i) plane_sqdev(px + (i * d.C + c) * d.S, d.S, m, qlanes);
      const double var = lane_total(qlanes) / static_cast<double>(n);
      pm[c] = m;
      pr[c] = normmath::rstd_of(var, eps);
      if (prm) {
        prm[c] = static_cast<T>(normmath::running_update(static_cast<double>(prm[c]), m, momentum));
        prv[c] = static_cast<T>(
            normmath::running_update(static_cast<double>(prv[c]), normmath::unbiased_var(var, n), momentum));
      }
    }
  });
}

void bna_apply_cpu(const Tensor& y, const Tensor& x, const Tensor& mean, const Tensor& rstd, const Tensor& weight,
                   const Tensor& bias, BnDims d, NormAct act) {
  dispatch_float(x.dtype(), "batch_norm_act", [&](auto tag_) {
    using T = decltype(tag_);
    const T* px = x.data<T>();
    T* py = y.data<T>();
    const double* pm = mean.data<double>();
    const double* pr = rstd.data<double>();
    const T* pw = opt_ptr<T>(weight);
    const T* pb = opt_ptr<T>(bias);
#pragma omp parallel for num_threads(x.runtime().threads()) if (x.numel() > kParallelMin)
    for (int64_t row = 0; row < d.N * d.C; ++row) {
      const int64_t c = row % d.C;
      const Affine a = affine_of(pw ? static_cast<double>(pw[c]) : 1.0, pb ? static_cast<double>(pb[c]) : 0.0, pm[c],
                                 pr[c]);
      plane_apply(act, px + row * d.S, d.S, static_cast<T>(a.scale), static_cast<T>(a.shift), py + row * d.S);
    }
  });
}

void bna_backward_cpu(const Tensor& dx, const Tensor& dweight, const Tensor& dbias, const Tensor& g, const Tensor& x,
                      const Tensor& mean, const Tensor& rstd, const Tensor& weight, const Tensor& bias, BnDims d,
                      bool batch_stats, NormAct act) {
  const double n = static_cast<double>(d.N * d.S);
  dispatch_float(x.dtype(), "batch_norm_act", [&](auto tag_) {
    using T = decltype(tag_);
    const T* px = x.data<T>();
    const T* pg = g.data<T>();
    T* pdx = dx.data<T>();
    T* pdw = dweight.data<T>();
    T* pdb = dbias.data<T>();
    const double* pm = mean.data<double>();
    const double* pr = rstd.data<double>();
    const T* pw = opt_ptr<T>(weight);
    const T* pb = opt_ptr<T>(bias);
#pragma omp parallel for num_threads(x.runtime().threads()) if (x.numel() > kParallelMin)
    for (int64_t c = 0; c < d.C; ++c) {
      const double w = pw ? static_cast<double>(pw[c]) : 1.0, m = pm[c], r = pr[c];
      const Affine af = affine_of(w, pb ? static_cast<double>(pb[c]) : 0.0, m, r);
      double lanes[2 * kLanes] = {};
      for (int64_t i = 0; i < d.N; ++i) {
        const int64_t base = (i * d.C + c) * d.S;
        plane_bwd_reduce(act, px + base, pg + base, d.S, static_cast<T>(af.scale), static_cast<T>(af.shift),
                         pdx + base, lanes);
      }
      const double sum_dz = lane_total(lanes);
      // sum(dz * xhat) = rstd * (sum(dz * x) - mean * sum(dz)); the products dz * x are exact in double.
      const double sum_dzxhat = r * (lane_total(lanes + kLanes) - m * sum_dz);
      pdw[c] = static_cast<T>(sum_dzxhat);
      pdb[c] = static_cast<T>(sum_dz);
      // dx = s/n * (n*dz - sum_dz - xhat*sum_dzxhat), s = w*rstd, xhat = (x - mean)*rstd.
      const double s = w * r;
      const double b = batch_stats ? -s * sum_dzxhat * r / n : 0.0;
      const double k = batch_stats ? -s * sum_dz / n : 0.0;
      for (int64_t i = 0; i < d.N; ++i) {
        const int64_t base = (i * d.C + c) * d.S;
        plane_dx(pdx + base, px + base, d.S, static_cast<T>(s), static_cast<T>(b), static_cast<T>(m),
                 static_cast<T>(k));
      }
    }
  });
}

}  // namespace cq::kernels
