// The CPU GEMM every heavy op builds on (matmul, conv2d via im2col, later Linear and attention).
#pragma once
#include <cstdint>

namespace cq::kernels {

// C[M,N] = alpha * op(A) * op(B) + beta * C, row-major, leading dimensions in elements; op = transpose when trans_*.
//   op(A) is [M,K]: A is [M,K] with lda >= K, or (trans_a) [K,M] with lda >= M; likewise op(B) is [K,N].
// beta == 0 overwrites C without reading it (BLAS convention: NaNs already in C do not propagate).
// Deterministic: K is cut into fixed-size slabs independent of `threads`, each C element sums its slab in order, so
// the result is bit-identical for any thread count. Instantiated for float and double.
template <class T>
void gemm_cpu(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda,
              const T* B, int64_t ldb, T beta, T* C, int64_t ldc, int threads);

}  // namespace cq::kernels
