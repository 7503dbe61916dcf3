#include "nn/sync_batch_norm.h"

#include <cmath>
#include <vector>

#include "kernels/norm/norm_kernels.h"
#include "kernels/norm/norm_math.h"
#include "tensor/autograd.h"
#include "tensor/error.h"

namespace cq::nn {
namespace {

template <class F>
void on_float(DType dt, F&& f) {
  if (dt == DType::f32) f(float{});
  else if (dt == DType::f64) f(double{});
  else fail("sync_batch_norm_act: expected f32 or f64, got ", dtype_name(dt));
}

}  // namespace

Tensor sync_batch_norm_act(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& running_mean,
                           const Tensor& running_var, double momentum, double eps, NormAct act,
                           const std::function<void(double*, int64_t)>& group_sum) {
  CQ_CHECK(x.defined() && x.dim() >= 2, "sync_batch_norm_act: expected an [N,C,...] tensor, got ",
           x.defined() ? x.describe() : std::string("nothing"));
  if (!x.device().is_cpu()) {
    // GPU tensors go through host memory (differentiable copies): correct, not fast. The NCCL design in
    // docs/DISTRIBUTED.md would sum device buffers instead.
    const Device cpu = Device::cpu();
    Tensor rm = running_mean.defined() ? running_mean.detach().to(cpu) : Tensor();
    Tensor rv = running_var.defined() ? running_var.detach().to(cpu) : Tensor();
    Tensor y = sync_batch_norm_act(x.to(cpu), weight.defined() ? weight.to(cpu) : Tensor(),
                                   bias.defined() ? bias.to(cpu) : Tensor(), rm, rv, momentum, eps, act, group_sum)
                   .to(x.device());
    if (rm.defined()) running_mean.detach().copy_(rm);
    if (rv.defined()) running_var.detach().copy_(rv);
    return y;
  }
  const int64_t N = x.size(0), C = x.size(1), S = N * C == 0 ? 0 : x.numel() / (N * C);
  const kernels::BnDims d{N, C, S};
  Tensor xc = x.contiguous();
  Tensor wc = weight.defined() ? weight.contiguous() : Tensor(), bc = bias.defined() ? bias.contiguous() : Tensor();
  Tensor mean = xc.new_empty({C}, DType::f64), rstd = xc.new_empty({C}, DType::f64);
  double* pm = mean.data<double>();
  double* pr = rstd.data<double>();
  std::vector<double> buf(size_t(C) + 1, 0.0);
  double M = 0;
  on_float(xc.dtype(), [&](auto tag) {
    using T = decltype(tag);
    const T* px = xc.data<T>();
    const int nt = xc.runtime().threads();
    // Channels are independent: any thread count gives the same bits.
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t c = 0; c < C; ++c) {
      double s = 0;
      for (int64_t i = 0; i < N; ++i)
        for (int64_t k = 0; k < S; ++k) s += double(px[(i * C + c) * S + k]);
      buf[size_t(c)] = s;
    }
    buf[size_t(C)] = double(N * S);
    group_sum(buf.data(), C + 1);
    M = buf[size_t(C)];
    CQ_CHECK(M > 1, "sync_batch_norm_act: expected more than 1 value per channel over all ranks, got ", M);
    for (int64_t c = 0; c < C; ++c) pm[c] = buf[size_t(c)] / M;
#pragma omp parallel for num_threads(nt) schedule(static)
    for (int64_t c = 0; c < C; ++c) {
      double q = 0;
      for (int64_t i = 0; i < N; ++i)
        for (int64_t k = 0; k < S; ++k) {
          const double v = double(px[(i * C + c) * S + k]) - pm[c];
          q += v * v;
        }
      buf[size_t(c)] = q;
    }
    group_sum(buf.data(), C);
    for (int64_t c = 0; c < C; ++c) {
      const double var = buf[size_t(c)] / M;
      pr[c] = normmath::rstd_of(var, eps);
      if (running_mean.defined()) {
        T* rm = running_mean.data<T>();
        T* rv = running_var.data<T>();
        rm[c] = T(normmath::running_update(double(rm[c]), pm[c], momentum));
        rv[c] = T(normmath::running_update(double(rv[c]), normmath::unbiased_var(var, int64_t(M)), momentum));
      }
    }
  });
  Tensor y = xc.new_empty(xc.shape());
  kernels::bna_apply_cpu(y, xc, mean, rstd, wc, bc, d, act);

  const bool has_w = wc.defined(), has_b = bc.defined();
  record("sync_batch_norm_act", y, {xc, wc, bc},
         [xd = xc.detach(), wd = has_w ? wc.detach() : Tensor(), bd = has_b ? bc.detach() : Tensor(), mean, rstd, d,
          act, has_w, has_b, M, group_sum](const Tensor& g) {
           Tensor gc = g.contiguous();
           Tensor dx = xd.new_empty(xd.shape()), dw = xd.new_empty({d.C}), db = xd.new_empty({d.C});
           // The eval-mode formula gives dx = w * rstd * dz and the local sums dw = sum(dz * xhat), db = sum(dz).
           kernels::bna_backward_cpu(dx, dw, db, gc, xd, mean, rstd, wd, bd, d, false, act);
           std::vector<double> sums(size_t(2 * d.C));
           on_float(xd.dtype(), [&](auto tag) {
             using T = decltype(tag);
             const T* pw = dw.data<T>();
             const T* pb = db.data<T>();
             for (int64_t c = 0; c < d.C; ++c) sums[size_t(c)] = double(pw[c]), sums[size_t(d.C + c)] = double(pb[c]);
             group_sum(sums.data(), 2 * d.C);
             const T* px = xd.data<T>();
             T* pdx = dx.data<T>();
             const T* w = has_w ? wd.data<T>() : nullptr;
             const double* m = mean.data<double>();
             const double* r = rstd.data<double>();
#pragma omp parallel for num_threads(xd.runtime().threads()) schedule(static)
             for (int64_t c = 0; c < d.C; ++c) {
               const double s = (w ? double(w[c]) : 1.0) * r[c];
               const double kx = -s * sums[size_t(c)] * r[c] / M, k0 = -s * sums[size_t(d.C + c)] / M;
               for (int64_t i = 0; i < d.N; ++i) {
                 T* o = pdx + (i * d.C + c) * d.S;
                 const T* xi = px + (i * d.C + c) * d.S;
                 for (int64_t k = 0; k < d.S; ++k) o[k] = T(double(o[k]) + kx * (double(xi[k]) - m[c]) + k0);
               }
             }
           });
           return std::vector<Tensor>{dx, has_w ? dw : Tensor(), has_b ? db : Tensor()};
         });
  return y;
}

}  // namespace cq::nn
