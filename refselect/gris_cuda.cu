// GRIS on the GPU (see refselect/refselect_cuda.h): per tile of rows x columns, T = X_i X_j^T by cuBLAS, then one
// fused epilogue pass turns T into distances (d^2 = ||a||^2 + ||b||^2 - 2 a.b clamped at 0, sqrt, exact 0 on the
// diagonal: the CPU's float arithmetic) and reduces each row of the tile to one double partial sum in a fixed tree
// order. A last pass adds each row's partials in tile order and divides by N. Bit-identical run to run.
#include <cublas_v2.h>

#include <algorithm>
#include <vector>

#include "refselect/refselect_cuda.h"
#include "tensor/cuda_check.h"
#include "tensor/cuda_resources.h"

namespace cq::dcin::cudaimpl {
namespace {

constexpr int kThreads = 256;

// sq[r] = sum_k X[r,k]^2 in double, stored as float (as the CPU). One warp per row.
__global__ void sqnorm_kernel(const float* X, int64_t N, int64_t D, float* sq) {
  const int64_t row = (blockIdx.x * (int64_t)blockDim.x + threadIdx.x) / 32;
  const int lane = threadIdx.x % 32;
  if (row >= N) return;
  double s = 0;
  for (int64_t k = lane; k < D; k += 32) s += static_cast<double>(X[row * D + k]) * X[row * D + k];
  for (int off = 16; off > 0; off >>= 1) s += __shfl_down_sync(0xffffffffu, s, off);
  if (lane == 0) sq[row] = static_cast<float>(s);
}

// One block per tile row r: partial[(i0 + r) * ntiles + jt] = sum_c dist(i0 + r, j0 + c).
__global__ void dist_rowsum_kernel(const float* T, int64_t nj, const float* sq, int64_t i0, int64_t j0,
                                   int64_t ntiles, int64_t jt, double* partial) {
  __shared__ double sh[kThreads];
  const int64_t r = blockIdx.x, gi = i0 + r;
  const float a = sq[gi];
  const float* t = T + r * nj;
  double s = 0;
  for (int64_t c = threadIdx.x; c < nj; c += kThreads) {
    const float d2 = a + sq[j0 + c] - 2.0f * t[c];
    s += (j0 + c == gi) ? 0.0 : static_cast<double>(sqrtf(d2 > 0.0f ? d2 : 0.0f));
  }
  sh[threadIdx.x] = s;
  __syncthreads();
  for (int stride = kThreads / 2; stride > 0; stride >>= 1) {
    if (threadIdx.x < stride) sh[threadIdx.x] += sh[threadIdx.x + stride];
    __syncthreads();
  }
  if (threadIdx.x == 0) partial[gi * ntiles + jt] = sh[0];
}

__global__ void row_mean_kernel(const double* partial, int64_t N, int64_t ntiles, double* mean) {
  const int64_t r = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
  if (r >= N) return;
  double s = 0;
  for (int64_t j = 0; j < ntiles; ++j) s += partial[r * ntiles + j];
  mean[r] = s / static_cast<double>(N);
}

}  // namespace

GrisResult gris_select(const Tensor& X, int64_t tile) {
  const int64_t N = X.size(0), D = X.size(1);
  CQ_CHECK(N >= 1 && D >= 1, "gris: need at least one feature row of positive length, got N=", N, " D=", D);
  CQ_CHECK(N <= INT32_MAX && D <= INT32_MAX, "gris: ", X.describe(), " exceeds cuBLAS's 32-bit sizes");
  const int64_t B = std::min<int64_t>(std::max<int64_t>(256, tile), N);
  const int64_t ntiles = (N + B - 1) / B;
  cublasHandle_t h = cuda::cublas_for(X);  // makes X's device current
  // FP32 products whatever the runtime's precision: distances of near-identical histograms are differences of
  // nearly equal numbers, which TF32's 10-bit mantissa would swamp.
  cublasSetMathMode(h, CUBLAS_DEFAULT_MATH);
  Tensor sq = X.new_empty({N}, DType::f32);
  sqnorm_kernel<<<static_cast<unsigned>((N * 32 + kThreads - 1) / kThreads), kThreads>>>(X.data<float>(), N, D,
                                                                                          sq.data<float>());
  CQ_CUDA_LAUNCH_CHECK("gris norms");
  Tensor T = X.new_empty({B * B}, DType::f32);
  Tensor partial = X.new_empty({N * ntiles}, DType::f64);
  const float one = 1.f, zero = 0.f;
  const float* x = X.data<float>();
  for (int64_t it = 0; it < ntiles; ++it) {
    const int64_t i0 = it * B, ni = std::min(B, N - i0);
    for (int64_t jt = 0; jt < ntiles; ++jt) {
      const int64_t j0 = jt * B, nj = std::min(B, N - j0);
      // Row-major T[ni, nj] = X_i X_j^T is column-major T^T[nj, ni] = (X_j as D x nj)^T (X_i as D x ni).
      const cublasStatus_t st =
          cublasSgemm(h, CUBLAS_OP_T, CUBLAS_OP_N, static_cast<int>(nj), static_cast<int>(ni), static_cast<int>(D),
                      &one, x + j0 * D, static_cast<int>(D), x + i0 * D, static_cast<int>(D), &zero,
                      T.data<float>(), static_cast<int>(nj));
      CQ_CHECK(st == CUBLAS_STATUS_SUCCESS, "gris: cublasSgemm failed (status ", static_cast<int>(st), ")");
      dist_rowsum_kernel<<<static_cast<unsigned>(ni), kThreads>>>(T.data<float>(), nj, sq.data<float>(), i0, j0,
                                                                 ntiles, jt, partial.data<double>());
      CQ_CUDA_LAUNCH_CHECK("gris distances");
    }
  }
  Tensor mean = X.new_empty({N}, DType::f64);
  row_mean_kernel<<<static_cast<unsigned>((N + kThreads - 1) / kThreads), kThreads>>>(partial.data<double>(), N,
                                                                                      ntiles, mean.data<double>());
  CQ_CUDA_LAUNCH_CHECK("gris means");
  const Tensor hm = mean.to(Device::cpu());
  GrisResult res;
  res.mean_dist.assign(hm.data<double>(), hm.data<double>() + N);
  res.index = std::min_element(res.mean_dist.begin(), res.mean_dist.end()) - res.mean_dist.begin();
  return res;
}

}  // namespace cq::dcin::cudaimpl
