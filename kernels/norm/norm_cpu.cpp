// Reference CPU kernels for batch_norm and layer_norm. Each statistic is accumulated in double by one thread in a
// fixed order (threads split channels / rows / column blocks only), so results do not depend on the thread count.
#include <algorithm>
#include <vector>

#include "kernels/norm/norm_kernels.h"
#include "kernels/norm/norm_math.h"
#include "tensor/runtime.h"

namespace cq::kernels {
namespace {
template <class T>
T* opt_ptr(const Tensor& t) {
  return t.defined() ? t.data<T>() : nullptr;
}
// Below this many elements the OpenMP fork costs more than it saves.
constexpr int64_t kParallelMin = 1 << 15;
}  // namespace

// x [N,C,S] -> mean, rstd [C]; running_mean, running_var [C] updated in place.
void bn_stats_cpu(const Tensor& x, const Tensor& mean, const Tensor& rstd, const Tensor& running_mean,
                  const Tensor& running_var, BnDims d, double momentum, double eps) {
  const int64_t n = d.N * d.S;
  dispatch_float(x.dtype(), "batch_norm", [&](auto tag_) {
    using scalar_t = decltype(tag_);
    const scalar_t* px = x.data<scalar_t>();
    double* pm = mean.data<double>();
    double* pr = rstd.data<double>();
    scalar_t* prm = opt_ptr<scalar_t>(running_mean);
    scalar_t* prv = opt_ptr<scalar_t>(running_var);
#pragma omp parallel for num_threads(x.runtime().threads()) if (n * d.C > kParallelMin)
    for (int64_t c = 0; c < d.C; ++c) {
      // Two passes (mean, then squared deviations) avoid the cancellation of E[x^2] - E[x]^2.
      double s = 0;
      for (int64_t i = 0; i < d.N; ++i) {
        const scalar_t* row = px + (i * d.C + c) * d.S;
        for (int64_t k = 0; k < d.S; ++k) s += static_cast<double>(row[k]);
      }
      const double m = s / static_cast<double>(n);
      double q = 0;
      for (int64_t i = 0; i < d.N; ++i) {
        const scalar_t* row = px + (i * d.C + c) * d.S;
        for (int64_t k = 0; k < d.S; ++k) q += normmath::sq_dev(static_cast<double>(row[k]), m);
      }
      const double var = q / static_cast<double>(n);
      pm[c] = m;
      pr[c] = normmath::rstd_of(var, eps);
      if (prm) {
        prm[c] = static_cast<scalar_t>(normmath::running_update(static_cast<double>(prm[c]), m, momentum));
        prv[c] = static_cast<scalar_t>(
            normmath::running_update(static_cast<double>(prv[c]), normmath::unbiased_var(var, n), momentum));
      }
    }
  });
}

// running_mean, running_var [C] -> mean, rstd [C].
void bn_eval_stats_cpu(const Tensor& mean, const Tensor& rstd, const Tensor& running_mean, const Tensor& running_var,
                       double eps) {
  dispatch_float(running_mean.dtype(), "batch_norm", [&](auto tag_) {
    using scalar_t = decltype(tag_);
    const scalar_t* prm = running_mean.data<scalar_t>();
    const scalar_t* prv = running_var.data<scalar_t>();
    double* pm = mean.data<double>();
    double* pr = rstd.data<double>();
    for (int64_t c = 0; c < mean.numel(); ++c) {
      pm[c] = static_cast<double>(prm[c]);
      pr[c] = normmath::rstd_of(static_cast<double>(prv[c]), eps);
    }
  });
}

// y, x [N,C,S]; mean, rstd, weight, bias [C].
void bn_apply_cpu(const Tensor& y, const Tensor& x, const Tensor& mean, const Tensor& rstd, const Tensor& weight,
                  const Tensor& bias, BnDims d) {
  dispatch_float(x.dtype(), "batch_norm", [&](auto tag_) {
    using scalar_t = decltype(tag_);
    const scalar_t* px = x.data<scalar_t>();
    scalar_t* py = y.data<scalar_t>();
    const double* pm = mean.data<double>();
    const double* pr = rstd.data<double>();
    const scalar_t* pw = opt_ptr<scalar_t>(weight);
    const scalar_t* pb = opt_ptr<scalar_t>(bias);
#pragma omp parallel for num_threads(x.runtime().threads()) if (x.numel() > kParallelMin)
    for (int64_t row = 0; row < d.N * d.C; ++row) {
      const int64_t c = row % d.C;
      const double w = pw ? static_cast<double>(pw[c]) : 1.0, b = pb ? static_cast<double>(pb[c]) : 0.0;
      const scalar_t* xr = px + row * d.S;
      scalar_t* yr = py + row * d.S;
      for (int64_t k = 0; k < d.S; ++k)
        yr[k] = static_cast<scalar_t>(normmath::affine(normmath::normalize(xr[k], pm[c], pr[c]), w, b));
    }
  });
}

// g, x, dx [N,C,S]; mean, rstd, weight, dweight, dbias [C].
void bn_backward_cpu(const Tensor& dx, const Tensor& dweight, const Tensor& dbias, const Tensor& g, const Tensor& x,
                     const Tensor& mean, const Tensor& rstd, const Tensor& weight, BnDims d, bool batch_stats) {
  const double n = static_cast<double>(d.N * d.S);
  dispatch_float(x.dtype(), "batch_norm", [&](auto tag_) {
    using scalar_t = decltype(tag_);
    const scalar_t* px = x.data<scalar_t>();
    const scalar_t* pg = g.data<scalar_t>();
    scalar_t* pdx = dx.data<scalar_t>();
    scalar_t* pdw = dweight.data<scalar_t>();
    scalar_t* pdb = dbias.data<scalar_t>();
    const double* pm = mean.data<double>();
    const double* pr = rstd.data<double>();
    const scalar_t* pw = opt_ptr<scalar_t>(weight);
#pragma omp parallel for num_threads(x.runtime().threads()) if (x.numel() > kParallelMin)
    for (int64_t c = 0; c < d.C; ++c) {
      const double m = pm[c], r = pr[c];
      double sum_g = 0, sum_gxhat = 0;
      for (int64_t i = 0; i < d.N; ++i) {
        const int64_t base = (i * d.C + c) * d.S;
        for (int64_t k = 0; k < d.S; ++k) {
          const double gv = static_cast<double>(pg[base + k]);
          sum_g += gv;
          sum_gxhat += gv * normmath::normalize(static_cast<double>(px[base + k]), m, r);
        }
      }
      pdw[c] = static_cast<scalar_t>(sum_gxhat);
      pdb[c] = static_cast<scalar_t>(sum_g);
      const double scale = (pw ? static_cast<double>(pw[c]) : 1.0) * r;
      for (int64_t i = 0; i < d.N; ++i) {
        const int64_t base = (i * d.C + c) * d.S;
        for (int64_t k = 0; k < d.S; ++k) {
          const double gv = static_cast<double>(pg[base + k]);
          const double v = batch_stats ? normmath::grad_batch_stats(gv, normmath::normalize(px[base + k], m, r), scale,
                                                                    sum_g, sum_gxhat, n)
                                       : normmath::grad_fixed_stats(gv, scale);
          pdx[base + k] = static_cast<scalar_t>(v);
        }
      }
    }
  });
}

// x, y [M,D] -> mean, rstd [M].
void ln_forward_cpu(const Tensor& y, const Tensor& mean, const Tensor& rstd, const Tensor& x, const Tensor& weight,
                    const Tensor& bias, int64_t M, int64_t D, double eps) {
  dispatch_float(x.dtype(), "layer_norm", [&](auto tag_) {
    using scalar_t = decltype(tag_);
    const scalar_t* px = x.data<scalar_t>();
    scalar_t* py = y.data<scalar_t>();
    double* pm = mean.data<double>();
    double* pr = rstd.data<double>();
    const scalar_t* pw = opt_ptr<scalar_t>(weight);
    const scalar_t* pb = opt_ptr<scalar_t>(bias);
#pragma omp parallel for num_threads(x.runtime().threads()) if (M * D > kParallelMin)
    for (int64_t row = 0; row < M; ++row) {
      const scalar_t* xr = px + row * D;
      scalar_t* yr = py + row * D;
      double s = 0;
      for (int64_t j = 0; j < D; ++j) s += static_cast<double>(xr[j]);
      const double m = s / static_cast<double>(D);
      double q = 0;
      for (int64_t j = 0; j < D; ++j) q += normmath::sq_dev(static_cast<double>(xr[j]), m);
      const double r = normmath::rstd_of(q / static_cast<double>(D), eps);
      pm[row] = m;
      pr[row] = r;
      for (int64_t j = 0; j < D; ++j) {
        const double w = pw ? static_cast<double>(pw[j]) : 1.0, b = pb ? static_cast<double>(pb[j]) : 0.0;
        yr[j] = static_cast<scalar_t>(normmath::affine(normmath::normalize(xr[j], m, r), w, b));
      }
    }
  });
}

// g, x, dx [M,D]; mean, rstd [M]; weight, dweight, dbias [D].
void ln_backward_cpu(const Tensor& dx, const Tensor& dweight, const Tensor& dbias, const Tensor& g, const Tensor& x,
                     const Tensor& mean, const Tensor& rstd, const Tensor& weight, int64_t M, int64_t D) {
  const int threads = x.runtime().threads();
  dispatch_float(x.dtype(), "layer_norm", [&](auto tag_) {
    using scalar_t = decltype(tag_);
    const scalar_t* px = x.data<scalar_t>();
    const scalar_t* pg = g.data<scalar_t>();
    scalar_t* pdx = dx.data<scalar_t>();
    const double* pm = mean.data<double>();
    const double* pr = rstd.data<double>();
    const scalar_t* pw = opt_ptr<scalar_t>(weight);
#pragma omp parallel for num_threads(threads) if (M * D > kParallelMin)
    for (int64_t row = 0; row < M; ++row) {
      const scalar_t* xr = px + row * D;
      const scalar_t* gr = pg + row * D;
      const double m = pm[row], r = pr[row];
      double sum_g = 0, sum_gxhat = 0;
      for (int64_t j = 0; j < D; ++j) {
        const double gw = static_cast<double>(gr[j]) * (pw ? static_cast<double>(pw[j]) : 1.0);
        sum_g += gw;
        sum_gxhat += gw * normmath::normalize(static_cast<double>(xr[j]), m, r);
      }
      for (int64_t j = 0; j < D; ++j) {
        const double gw = static_cast<double>(gr[j]) * (pw ? static_cast<double>(pw[j]) : 1.0);
        pdx[row * D + j] = static_cast<scalar_t>(normmath::grad_batch_stats(
            gw, normmath::normalize(static_cast<double>(xr[j]), m, r), r, sum_g, sum_gxhat, static_cast<double>(D)));
      }
    }
    if (!dweight.defined() && !dbias.defined()) return;
    // Parameter gradients sum over rows: threads take blocks of columns and walk the rows in order, so each
    // column's sum has one fixed order while memory is still read row by row.
    scalar_t* pdw = opt_ptr<scalar_t>(dweight);
    scalar_t* pdb = opt_ptr<scalar_t>(dbias);
    constexpr int64_t kCols = 64;
    const int64_t blocks = (D + kCols - 1) / kCols;
#pragma omp parallel for num_threads(threads) if (M * D > kParallelMin)
    for (int64_t blk = 0; blk < blocks; ++blk) {
      const int64_t j0 = blk * kCols, j1 = std::min(D, j0 + kCols);
      double acc_w[kCols] = {}, acc_b[kCols] = {};
      for (int64_t row = 0; row < M; ++row) {
        const double m = pm[row], r = pr[row];
        for (int64_t j = j0; j < j1; ++j) {
          const double gv = static_cast<double>(pg[row * D + j]);
          acc_b[j - j0] += gv;
          acc_w[j - j0] += gv * normmath::normalize(static_cast<double>(px[row * D + j]), m, r);
        }
      }
      for (int64_t j = j0; j < j1; ++j) {
        if (pdw) pdw[j] = static_cast<scalar_t>(acc_w[j - j0]);
        if (pdb) pdb[j] = static_cast<scalar_t>(acc_b[j - j0]);
      }
    }
  });
}

}  // namespace cq::kernels
