// The CPU GEMM every heavy op builds on (matmul, conv2d via im2col, Linear, attention, GRIS).
#pragma once
#include <cstdint>

namespace cq::kernels {

// C[M,N] = alpha * op(A) * op(B) + beta * C, row-major, leading dimensions in elements; op = transpose when trans_*.
//   op(A) is [M,K]: A is [M,K] with lda >= K, or (trans_a) [K,M] with lda >= M; likewise op(B) is [K,N].
// beta == 0 overwrites C without reading it (BLAS convention: NaNs already in C do not propagate).
// Deterministic: K is cut into slabs whose size depends only on K, each C element sums its slabs in order, so the
// result is bit-identical for any thread count (for a given instruction set, see CpuIsa). Float and double.
template <class T>
void gemm_cpu(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda,
              const T* B, int64_t ldb, T beta, T* C, int64_t ldc, int threads);

// Implicit GEMM: op(B) [K, N] is never stored; the driver asks for the panels it needs (conv2d builds them from the
// image, so no im2col matrix exists). pack() writes columns [j0, jend) (at most a few hundred) as consecutive
// nr-column panels: dst[(q * kc + p) * nr + j] = op(B)[p0 + p, j0 + q * nr + j], zero past jend. Called concurrently
// from several threads.
template <class T>
class GemmBSource {
 public:
  virtual ~GemmBSource() = default;
  virtual void pack(int64_t j0, int64_t jend, int64_t p0, int64_t kc, int nr, T* dst) const = 0;
};

template <class T>
void gemm_cpu_implicit(bool trans_a, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda,
                       const GemmBSource<T>& b, T beta, T* C, int64_t ldc, int threads);

// An epilogue applied to C after its last K slab, while the tile is still in cache:
// C[i, j] = act(scale[i] * C[i, j] + shift[i] + col_shift[j]) + residual[i * ld_residual + j] with any of the four
// pointers null (1, 0, 0, 0); act 0 identity, 1 relu, 2 silu, 3 gelu. Per-row scale/shift: conv + eval BatchNorm +
// activation in one pass; per-column shift: a Linear layer's bias (and its activation); residual: a skip
// connection added to the result (an MBConv block's output). Float only.
struct GemmEpilogue {
  const float* scale = nullptr;
  const float* shift = nullptr;
  int act = 0;
  const float* col_shift = nullptr;
  const float* residual = nullptr;
  int64_t ld_residual = 0;
};
// C = epilogue(op(A) * op(B)) (alpha 1, beta 0; any K >= 1), and the same with an implicit B.
void gemm_cpu_ep(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const float* A, int64_t lda,
                 const float* B, int64_t ldb, float* C, int64_t ldc, const GemmEpilogue& ep, int threads);
void gemm_cpu_implicit_ep(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const GemmBSource<float>& b,
                          float* C, int64_t ldc, const GemmEpilogue& ep, int threads);

// Rows of B [N, K] produced on demand for the weight-gradient form C = A * B^T (conv: the im2col rows, contiguous
// along K = pixels). rows() writes B[j, k0 + p] to dst[(j - j0) * ld + p] for j in [j0, j1), p < kc; called from
// several threads on disjoint row ranges.
class GemmBRows {
 public:
  virtual ~GemmBRows() = default;
  virtual void rows(int64_t j0, int64_t j1, int64_t k0, int64_t kc, float* dst, int64_t ld) const = 0;
};

// C = alpha * A * B^T + beta * C with A [M, K] row-major (lda) and B from `b`, by dot products along K with no
// packing of A (the AVX-512 "NT dot" kernel). Only when gemm_nt_dot_available(); deterministic like gemm_cpu.
bool gemm_nt_dot_available();
// Whether the NT-dot form is available and faster than the blocked GEMM for this shape (K long next to M and N).
bool gemm_nt_dot_preferred(int64_t M, int64_t N, int64_t K);
void gemm_cpu_nt_rows(int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda, const GemmBRows& b,
                      float beta, float* C, int64_t ldc, int threads);

// The SIMD instruction set the float micro-kernel uses. One binary runs on any x86-64: the best set the CPU reports
// (cpuid) is chosen at first use. CQ_CPU_ISA=generic|avx2|avx512 in the environment caps it (for comparisons);
// results differ between sets in the last bits (FMA), never between thread counts.
enum class CpuIsa { generic, avx2, avx512 };
CpuIsa cpu_isa();                       // the set gemm_cpu uses on this machine
bool cpu_isa_supported(CpuIsa isa);     // whether this CPU and build can run `isa`
const char* cpu_isa_name(CpuIsa isa);   // "generic", "avx2", "avx512"

// gemm_cpu with an explicit instruction set (tests and benchmarks compare them); throws cq::Error if unsupported.
template <class T>
void gemm_cpu_isa(CpuIsa isa, bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A,
                  int64_t lda, const T* B, int64_t ldb, T beta, T* C, int64_t ldc, int threads);

}  // namespace cq::kernels
