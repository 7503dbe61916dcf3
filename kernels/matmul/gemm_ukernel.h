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

template <class T>
struct MicroKernel {
  int mr = 0, nr = 0;
  MicroKernelFn<T> fn = nullptr;
};

// Each returns a kernel with fn == nullptr when the build's compiler could not produce it.
MicroKernel<float> sgemm_kernel_avx2();
MicroKernel<float> sgemm_kernel_avx512();
MicroKernel<double> dgemm_kernel_avx2();
MicroKernel<double> dgemm_kernel_avx512();

}  // namespace cq::kernels::gemm_detail
