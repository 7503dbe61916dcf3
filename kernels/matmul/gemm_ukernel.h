// Internal to the CPU GEMM: the micro-kernel interface the blocked driver (gemm_cpu.cpp) calls, implemented once per
// instruction set in its own file compiled with that set's flags (gemm_avx2.cpp, gemm_avx512.cpp). Those files use
// raw pointers and intrinsics only: an inline std:: template instantiated there could be kept by the linker for the
// whole program and then run AVX-512 code on a CPU without it.
#pragma once
#include <cstdint>

namespace cq::kernels::gemm_detail {

// c[i*ldc + j] = alpha * sum_p a[p*mr + i] * b[p*nr + j] + beta * c[i*ldc + j] for i < m <= mr, j < n <= nr, p < kc
// summed in order of p, from packed panels; beta == 0 does not read c.
template <class T>
using MicroKernelFn = void (*)(int64_t kc, const T* a, const T* b, T* c, int64_t ldc, int m, int n, T alpha, T beta);

// The same product reading A in place: a[p * a_ps + i * a_is] (rows i < m only are read). Used when A would be
// packed for too few column panels to repay the packing (small N: deep 1x1 convs, Linear on few tokens).
template <class T>
using MicroKernelStridedFn = void (*)(int64_t kc, const T* a, int64_t a_ps, int64_t a_is, const T* b, T* c,
                                      int64_t ldc, int m, int n, T alpha, T beta);

template <class T>
struct MicroKernel {
  int mr = 0, nr = 0;
  MicroKernelFn<T> fn = nullptr;
  MicroKernelStridedFn<T> fn_strided = nullptr;
  // Optional transposing pack (see PackTransposeFn below) for K-contiguous operands; nullptr: the portable loop.
  void (*pack_t)(const T* src, int64_t ld, int rows, int64_t kc, T* dst) = nullptr;
  // Optional pack of row-major (N-contiguous) op(B) rows into nr-column panels (see PackRowsFn); nullptr: the
  // portable loop (memcpy per panel row, whose call costs as much as the copy at nr = 32).
  void (*pack_n)(const T* src, int64_t ld, int64_t ncols, int64_t kc, T* dst) = nullptr;
};

// Each returns a kernel with fn == nullptr when the build's compiler could not produce it.
MicroKernel<float> sgemm_kernel_avx2();
MicroKernel<float> sgemm_kernel_avx512();
MicroKernel<double> dgemm_kernel_avx2();
MicroKernel<double> dgemm_kernel_avx512();

// The "NT dot" form for K-contiguous operands (C = A * B^T with A [M, K] and B [N, K] both row-major, K long, M and
// N small: the weight gradient of a convolution, K = pixels). acc[r * 4 + s] = sum_k a_r[k] * b_s[k] over k < kc for
// the up-to-4 rows a_r = A + r*lda (r < mi) and b_s = B + s*ldb (s < nj); 16-lane partial sums reduced by a fixed
// shuffle tree at the end (deterministic). Reads both operands in place: no packing. nullptr when unavailable.
// Packs a full panel of `rows` K-contiguous source rows (row j at src + j * ld) into dst[p * rows + j] for p < kc:
// the transposing pack of op(B) when B is [N, K] (rows = nr) and of op(A) when A is [M, K] (rows = mr), by gathers.
// nullptr when unavailable; only for rows in {8, 32} and rows * ld < 2^31.
using PackTransposeFn = void (*)(const float* src, int64_t ld, int rows, int64_t kc, float* dst);
PackTransposeFn pack_transpose_avx512();

// dst[(q * kc + p) * nr + j] = src[p * ld + q * nr + j] for p < kc and panels q < ceil(ncols / nr), zero for
// columns >= ncols: kc rows of a row-major op(B) block into nr-column panels, with vector moves.
using PackRowsFn = void (*)(const float* src, int64_t ld, int64_t ncols, int64_t kc, float* dst);

using NtDotBlockFn = void (*)(int64_t kc, const float* A, int64_t lda, int mi, const float* B, int64_t ldb, int nj,
                              float* acc);
NtDotBlockFn sgemm_nt_dot_block_avx512();

}  // namespace cq::kernels::gemm_detail
