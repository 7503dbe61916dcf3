// CUDA kernels for batch_norm and layer_norm. Reductions (per channel / per row) run one block each: every thread
// walks a fixed stride of the elements, then a fixed-shape shared-memory tree combines the partials, so results are
// bit-identical from run to run. Arithmetic comes from norm_math.h, as on the CPU.
#include <algorithm>

#include "kernels/norm/norm_kernels.h"
#include "kernels/norm/norm_math.h"
#include "tensor/cuda_check.h"
#include "tensor/dtype.h"

namespace cq::kernels {
namespace {

constexpr int kRed = 256;  // reduction block size (a power of two: the tree halves it)

// Sum of v over the block in a fixed tree order; every thread gets the result. sh holds kRed doubles.
__device__ double block_sum(double v, double* sh) {
  const int t = threadIdx.x;
  sh[t] = v;
  __syncthreads();
  for (int s = kRed / 2; s > 0; s >>= 1) {
    if (t < s) sh[t] += sh[t + s];
    __syncthreads();
  }
  const double r = sh[0];
  __syncthreads();  // sh is reused by the caller's next reduction
  return r;
}

template <class T>
__device__ double opt_load(const T* p, int64_t i, double dflt) {
  return p ? static_cast<double>(p[i]) : dflt;
}

int grid_for(int64_t n) { return static_cast<int>(std::min<int64_t>(cuda::blocks_for(n), 65535)); }

// One block per channel c of x [N,C,S].
template <class T>
__global__ void bn_stats_kernel(const T* x, double* mean, double* rstd, T* rm, T* rv, BnDims d, double momentum,
                                double eps) {
  __shared__ double sh[kRed];
  const int64_t c = blockIdx.x, n = d.N * d.S;
  double s = 0;
  for (int64_t k = threadIdx.x; k < n; k += kRed) s += static_cast<double>(x[((k / d.S) * d.C + c) * d.S + k % d.S]);
  const double m = block_sum(s, sh) / static_cast<double>(n);
  double q = 0;
  for (int64_t k = threadIdx.x; k < n; k += kRed)
    q += normmath::sq_dev(static_cast<double>(x[((k / d.S) * d.C + c) * d.S + k % d.S]), m);
  const double var = block_sum(q, sh) / static_cast<double>(n);
  if (threadIdx.x == 0) {
    mean[c] = m;
    rstd[c] = normmath::rstd_of(var, eps);
    if (rm) {
      rm[c] = static_cast<T>(normmath::running_update(static_cast<double>(rm[c]), m, momentum));
      rv[c] = static_cast<T>(
          normmath::running_update(static_cast<double>(rv[c]), normmath::unbiased_var(var, n), momentum));
    }
  }
}

template <class T>
__global__ void bn_eval_stats_kernel(double* mean, double* rstd, const T* rm, const T* rv, int64_t C, double eps) {
  for (int64_t c = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; c < C; c += (int64_t)gridDim.x * blockDim.x) {
    mean[c] = static_cast<double>(rm[c]);
    rstd[c] = normmath::rstd_of(static_cast<double>(rv[c]), eps);
  }
}

template <class T>
__global__ void bn_apply_kernel(T* y, const T* x, const double* mean, const double* rstd, const T* w, const T* b,
                                BnDims d) {
  const int64_t total = d.N * d.C * d.S;
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < total; i += (int64_t)gridDim.x * blockDim.x) {
    const int64_t c = (i / d.S) % d.C;
    y[i] = static_cast<T>(normmath::affine(normmath::normalize(static_cast<double>(x[i]), mean[c], rstd[c]),
                                           opt_load(w, c, 1.0), opt_load(b, c, 0.0)));
  }
}

// One block per channel: sums[c] = sum(g), sums[C + c] = sum(g * xhat).
template <class T>
__global__ void bn_backward_reduce_kernel(double* sums, T* dw, T* db, const T* g, const T* x, const double* mean,
                                          const double* rstd, BnDims d) {
  __shared__ double sh[kRed];
  const int64_t c = blockIdx.x, n = d.N * d.S;
  double sg = 0, sgx = 0;
  for (int64_t k = threadIdx.x; k < n; k += kRed) {
    const int64_t i = ((k / d.S) * d.C + c) * d.S + k % d.S;
    const double gv = static_cast<double>(g[i]);
    sg += gv;
    sgx += gv * normmath::normalize(static_cast<double>(x[i]), mean[c], rstd[c]);
  }
  sg = block_sum(sg, sh);
  sgx = block_sum(sgx, sh);
  if (threadIdx.x == 0) {
    sums[c] = sg;
    sums[d.C + c] = sgx;
    dw[c] = static_cast<T>(sgx);
    db[c] = static_cast<T>(sg);
  }
}

template <class T>
__global__ void bn_backward_dx_kernel(T* dx, const T* g, const T* x, const double* mean, const double* rstd, const T* w,
                                      const double* sums, BnDims d, bool batch_stats) {
  const int64_t total = d.N * d.C * d.S;
  const double n = static_cast<double>(d.N * d.S);
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < total; i += (int64_t)gridDim.x * blockDim.x) {
    const int64_t c = (i / d.S) % d.C;
    const double scale = opt_load(w, c, 1.0) * rstd[c];
    const double gv = static_cast<double>(g[i]);
    const double v =
        batch_stats ? normmath::grad_batch_stats(gv, normmath::normalize(static_cast<double>(x[i]), mean[c], rstd[c]),
                                                 scale, sums[c], sums[d.C + c], n)
                    : normmath::grad_fixed_stats(gv, scale);
    dx[i] = static_cast<T>(v);
  }
}

// One block per row of x [M,D].
template <class T>
__global__ void ln_forward_kernel(T* y, double* mean, double* rstd, const T* x, const T* w, const T* b, int64_t D,
                                  double eps) {
  __shared__ double sh[kRed];
  const int64_t row = blockIdx.x;
  const T* xr = x + row * D;
  T* yr = y + row * D;
  double s = 0;
  for (int64_t j = threadIdx.x; j < D; j += kRed) s += static_cast<double>(xr[j]);
  const double m = block_sum(s, sh) / static_cast<double>(D);
  double q = 0;
  for (int64_t j = threadIdx.x; j < D; j += kRed) q += normmath::sq_dev(static_cast<double>(xr[j]), m);
  const double r = normmath::rstd_of(block_sum(q, sh) / static_cast<double>(D), eps);
  if (threadIdx.x == 0) {
    mean[row] = m;
    rstd[row] = r;
  }
  for (int64_t j = threadIdx.x; j < D; j += kRed)
    yr[j] = static_cast<T>(normmath::affine(normmath::normalize(static_cast<double>(xr[j]), m, r), opt_load(w, j, 1.0),
                                            opt_load(b, j, 0.0)));
}

// One block per row: dx from the row's sums of g*w and g*w*xhat.
template <class T>
__global__ void ln_backward_dx_kernel(T* dx, const T* g, const T* x, const double* mean, const double* rstd, const T* w,
                                      int64_t D) {
  __shared__ double sh[kRed];
  const int64_t row = blockIdx.x;
  const T* xr = x + row * D;
  const T* gr = g + row * D;
  const double m = mean[row], r = rstd[row];
  double sg = 0, sgx = 0;
  for (int64_t j = threadIdx.x; j < D; j += kRed) {
    const double gw = static_cast<double>(gr[j]) * opt_load(w, j, 1.0);
    sg += gw;
    sgx += gw * normmath::normalize(static_cast<double>(xr[j]), m, r);
  }
  sg = block_sum(sg, sh);
  sgx = block_sum(sgx, sh);
  for (int64_t j = threadIdx.x; j < D; j += kRed) {
    const double gw = static_cast<double>(gr[j]) * opt_load(w, j, 1.0);
    dx[row * D + j] = static_cast<T>(normmath::grad_batch_stats(
        gw, normmath::normalize(static_cast<double>(xr[j]), m, r), r, sg, sgx, static_cast<double>(D)));
  }
}

// One thread per column: rows summed in order.
template <class T>
__global__ void ln_backward_param_kernel(T* dw, T* db, const T* g, const T* x, const double* mean, const double* rstd,
                                         int64_t M, int64_t D) {
  for (int64_t j = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; j < D; j += (int64_t)gridDim.x * blockDim.x) {
    double sw = 0, sb = 0;
    for (int64_t row = 0; row < M; ++row) {
      const double gv = static_cast<double>(g[row * D + j]);
      sb += gv;
      sw += gv * normmath::normalize(static_cast<double>(x[row * D + j]), mean[row], rstd[row]);
    }
    if (dw) dw[j] = static_cast<T>(sw);
    if (db) db[j] = static_cast<T>(sb);
  }
}

template <class T>
T* opt_ptr(const Tensor& t) {
  return t.defined() ? t.data<T>() : nullptr;
}

}  // namespace

void bn_stats_cuda(const Tensor& x, const Tensor& mean, const Tensor& rstd, const Tensor& running_mean,
                   const Tensor& running_var, BnDims d, double momentum, double eps) {
  if (d.C == 0) return;
  dispatch_float(x.dtype(), "batch_norm", [&](auto tag_) {
    using scalar_t = decltype(tag_);
    bn_stats_kernel<scalar_t><<<static_cast<unsigned>(d.C), kRed>>>(
        x.data<scalar_t>(), mean.data<double>(), rstd.data<double>(), opt_ptr<scalar_t>(running_mean),
        opt_ptr<scalar_t>(running_var), d, momentum, eps);
  });
  CQ_CUDA_LAUNCH_CHECK("batch_norm");
}

void bn_eval_stats_cuda(const Tensor& mean, const Tensor& rstd, const Tensor& running_mean, const Tensor& running_var,
                        double eps) {
  const int64_t C = mean.numel();
  if (C == 0) return;
  dispatch_float(running_mean.dtype(), "batch_norm", [&](auto tag_) {
    using scalar_t = decltype(tag_);
    bn_eval_stats_kernel<scalar_t><<<grid_for(C), cuda::kBlock>>>(
        mean.data<double>(), rstd.data<double>(), running_mean.data<scalar_t>(), running_var.data<scalar_t>(), C, eps);
  });
  CQ_CUDA_LAUNCH_CHECK("batch_norm");
}

void bn_apply_cuda(const Tensor& y, const Tensor& x, const Tensor& mean, const Tensor& rstd, const Tensor& weight,
                   const Tensor& bias, BnDims d) {
  const int64_t total = x.numel();
  if (total == 0) return;
  dispatch_float(x.dtype(), "batch_norm", [&](auto tag_) {
    using scalar_t = decltype(tag_);
    bn_apply_kernel<scalar_t><<<grid_for(total), cuda::kBlock>>>(y.data<scalar_t>(), x.data<scalar_t>(),
                                                                 mean.data<double>(), rstd.data<double>(),
                                                                 opt_ptr<scalar_t>(weight), opt_ptr<scalar_t>(bias), d);
  });
  CQ_CUDA_LAUNCH_CHECK("batch_norm");
}

void bn_backward_cuda(const Tensor& dx, const Tensor& dweight, const Tensor& dbias, const Tensor& g, const Tensor& x,
                      const Tensor& mean, const Tensor& rstd, const Tensor& weight, BnDims d, bool batch_stats) {
  if (d.C == 0) return;
  Tensor sums = x.new_empty({2, d.C}, DType::f64);
  dispatch_float(x.dtype(), "batch_norm", [&](auto tag_) {
    using scalar_t = decltype(tag_);
    bn_backward_reduce_kernel<scalar_t><<<static_cast<unsigned>(d.C), kRed>>>(
        sums.data<double>(), dweight.data<scalar_t>(), dbias.data<scalar_t>(), g.data<scalar_t>(), x.data<scalar_t>(),
        mean.data<double>(), rstd.data<double>(), d);
    CQ_CUDA_LAUNCH_CHECK("batch_norm");
    if (x.numel() == 0) return;
    bn_backward_dx_kernel<scalar_t><<<grid_for(x.numel()), cuda::kBlock>>>(
        dx.data<scalar_t>(), g.data<scalar_t>(), x.data<scalar_t>(), mean.data<double>(), rstd.data<double>(),
        opt_ptr<scalar_t>(weight), sums.data<double>(), d, batch_stats);
    CQ_CUDA_LAUNCH_CHECK("batch_norm");
  });
}

void ln_forward_cuda(const Tensor& y, const Tensor& mean, const Tensor& rstd, const Tensor& x, const Tensor& weight,
                     const Tensor& bias, int64_t M, int64_t D, double eps) {
  if (M == 0 || D == 0) return;
  dispatch_float(x.dtype(), "layer_norm", [&](auto tag_) {
    using scalar_t = decltype(tag_);
    ln_forward_kernel<scalar_t><<<static_cast<unsigned>(M), kRed>>>(
        y.data<scalar_t>(), mean.data<double>(), rstd.data<double>(), x.data<scalar_t>(), opt_ptr<scalar_t>(weight),
        opt_ptr<scalar_t>(bias), D, eps);
  });
  CQ_CUDA_LAUNCH_CHECK("layer_norm");
}

void ln_backward_cuda(const Tensor& dx, const Tensor& dweight, const Tensor& dbias, const Tensor& g, const Tensor& x,
                      const Tensor& mean, const Tensor& rstd, const Tensor& weight, int64_t M, int64_t D) {
  if (M == 0 || D == 0) {
    // Tensor handles share storage: zeroing a copy of the handle zeroes the caller's tensor.
    if (dweight.defined()) Tensor(dweight).zero_();
    if (dbias.defined()) Tensor(dbias).zero_();
    return;
  }
  dispatch_float(x.dtype(), "layer_norm", [&](auto tag_) {
    using scalar_t = decltype(tag_);
    ln_backward_dx_kernel<scalar_t>
        <<<static_cast<unsigned>(M), kRed>>>(dx.data<scalar_t>(), g.data<scalar_t>(), x.data<scalar_t>(),
                                             mean.data<double>(), rstd.data<double>(), opt_ptr<scalar_t>(weight), D);
    CQ_CUDA_LAUNCH_CHECK("layer_norm");
    if (!dweight.defined() && !dbias.defined()) return;
    ln_backward_param_kernel<scalar_t>
        <<<grid_for(D), cuda::kBlock>>>(opt_ptr<scalar_t>(dweight), opt_ptr<scalar_t>(dbias), g.data<scalar_t>(),
                                        x.data<scalar_t>(), mean.data<double>(), rstd.data<double>(), M, D);
    CQ_CUDA_LAUNCH_CHECK("layer_norm");
  });
}

}  // namespace cq::kernels
