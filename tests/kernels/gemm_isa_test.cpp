// Every instruction set's GEMM against a double-precision triple loop, on shapes that hit full tiles, partial tiles,
// several K slabs and several N slabs; and each set is bit-identical across thread counts.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "kernels/matmul/gemm.h"
#include "tensor/rng.h"

using namespace cq;
using kernels::CpuIsa;

namespace {

struct Case {
  int64_t M, N, K;
};

template <class T>
double max_rel_error(CpuIsa isa, bool ta, bool tb, const Case& c, T alpha, T beta, int threads) {
  Rng rng(17);
  int64_t lda = (ta ? c.M : c.K) + 1, ldb = (tb ? c.K : c.N) + 3, ldc = c.N + 2;
  std::vector<T> A((ta ? c.K : c.M) * lda), B((tb ? c.N : c.K) * ldb), C(c.M * ldc);
  for (auto& v : A) v = static_cast<T>(rng.uniform(-1, 1));
  for (auto& v : B) v = static_cast<T>(rng.uniform(-1, 1));
  for (auto& v : C) v = static_cast<T>(rng.uniform(-1, 1));
  std::vector<T> C0 = C;
  kernels::gemm_cpu_isa<T>(isa, ta, tb, c.M, c.N, c.K, alpha, A.data(), lda, B.data(), ldb, beta, C.data(), ldc,
                           threads);
  double worst = 0, scale = 1e-30;
  for (int64_t i = 0; i < c.M; ++i)
    for (int64_t j = 0; j < c.N; ++j) {
      double s = 0;
      for (int64_t k = 0; k < c.K; ++k)
        s += double(ta ? A[k * lda + i] : A[i * lda + k]) * double(tb ? B[j * ldb + k] : B[k * ldb + j]);
      double ref = double(alpha) * s + (beta == T(0) ? 0.0 : double(beta) * double(C0[i * ldc + j]));
      worst = std::max(worst, std::fabs(double(C[i * ldc + j]) - ref));
      scale = std::max(scale, std::fabs(ref));
    }
  // Padding columns of C beyond N are never written.
  for (int64_t i = 0; i < c.M; ++i)
    for (int64_t j = c.N; j < ldc; ++j) EXPECT_EQ(C[i * ldc + j], C0[i * ldc + j]);
  return worst / scale;
}

std::vector<CpuIsa> supported_isas() {
  std::vector<CpuIsa> v;
  for (CpuIsa isa : {CpuIsa::generic, CpuIsa::avx2, CpuIsa::avx512})
    if (kernels::cpu_isa_supported(isa)) v.push_back(isa);
  return v;
}

}  // namespace

TEST(GemmIsa, EverySupportedSetMatchesReference) {
  std::printf("gemm: this CPU uses %s; supported:", kernels::cpu_isa_name(kernels::cpu_isa()));
  for (CpuIsa isa : supported_isas()) std::printf(" %s", kernels::cpu_isa_name(isa));
  std::printf("\n");
  const Case cases[] = {{1, 1, 1}, {7, 5, 3}, {8, 32, 16}, {13, 37, 270}, {64, 300, 576}, {130, 4100, 40}, {33, 65, 513},
                       {13, 37, 3000}, {6, 9, 4100}};  // the last two take the NT-dot path when ta=0, tb=1
  for (CpuIsa isa : supported_isas())
    for (const Case& c : cases)
      for (int ta = 0; ta < 2; ++ta)
        for (int tb = 0; tb < 2; ++tb) {
          double ef = max_rel_error<float>(isa, ta, tb, c, 0.5f, -2.0f, 2);
          EXPECT_LT(ef, 2e-6 * std::sqrt(double(c.K)) + 1e-6)
              << kernels::cpu_isa_name(isa) << " f32 " << c.M << "x" << c.N << "x" << c.K << " ta " << ta << " tb " << tb;
          double e0 = max_rel_error<float>(isa, ta, tb, c, 1.0f, 0.0f, 1);
          EXPECT_LT(e0, 2e-6 * std::sqrt(double(c.K)) + 1e-6) << kernels::cpu_isa_name(isa) << " f32 beta 0";
          double ed = max_rel_error<double>(isa, ta, tb, c, 0.5, -2.0, 2);
          EXPECT_LT(ed, 1e-13) << kernels::cpu_isa_name(isa) << " f64 " << c.M << "x" << c.N << "x" << c.K;
        }
}

TEST(GemmIsa, EachSetIsBitIdenticalAcrossThreadCounts) {
  int64_t M = 201, N = 4500, K = 300;  // two N slabs, two K slabs, partial tiles on both edges
  Rng rng(5);
  std::vector<float> A(M * K), B(K * N);
  for (auto& v : A) v = static_cast<float>(rng.normal());
  for (auto& v : B) v = static_cast<float>(rng.normal());
  for (CpuIsa isa : supported_isas()) {
    std::vector<float> c1(M * N), c2(M * N), c3(M * N);
    kernels::gemm_cpu_isa<float>(isa, false, false, M, N, K, 1.0f, A.data(), K, B.data(), N, 0.0f, c1.data(), N, 1);
    kernels::gemm_cpu_isa<float>(isa, false, false, M, N, K, 1.0f, A.data(), K, B.data(), N, 0.0f, c2.data(), N, 2);
    kernels::gemm_cpu_isa<float>(isa, false, false, M, N, K, 1.0f, A.data(), K, B.data(), N, 0.0f, c3.data(), N, 3);
    EXPECT_TRUE(c1 == c2) << kernels::cpu_isa_name(isa);
    EXPECT_TRUE(c1 == c3) << kernels::cpu_isa_name(isa);
  }
}

TEST(GemmIsa, UnsupportedSetIsAClearError) {
  for (CpuIsa isa : {CpuIsa::avx2, CpuIsa::avx512}) {
    if (kernels::cpu_isa_supported(isa)) continue;
    float a = 1, b = 1, c = 0;
    try {
      kernels::gemm_cpu_isa<float>(isa, false, false, 1, 1, 1, 1.0f, &a, 1, &b, 1, 0.0f, &c, 1, 1);
      ADD_FAILURE() << "no error for " << kernels::cpu_isa_name(isa);
    } catch (const std::exception& e) {
      EXPECT_NE(std::string(e.what()).find("not supported"), std::string::npos) << e.what();
    }
  }
  EXPECT_TRUE(kernels::cpu_isa_supported(CpuIsa::generic));
}

// The NT-dot form (weight gradients: K long, both operands K-contiguous), the in-place-A path (few columns) and the
// row epilogue: bit-identical for 1, 2 and 3 threads, and the dot form within float rounding of a double reference.
TEST(GemmIsa, NtDotInPlaceAndEpilogueAreThreadInvariant) {
  Rng rng(8);
  auto fill = [&](std::vector<float>& v) {
    for (auto& x : v) x = static_cast<float>(rng.normal());
  };
  {  // NT dot, both loop orders (M <= N streams B, M > N streams A)
    for (auto [M, N] : {std::pair<int64_t, int64_t>{12, 70}, {70, 12}}) {
      int64_t K = 5000;
      std::vector<float> A(M * K), B(N * K);
      fill(A);
      fill(B);
      std::vector<float> c[3];
      for (int t = 0; t < 3; ++t) {
        c[t].assign(M * N, 0.0f);
        kernels::gemm_cpu<float>(false, true, M, N, K, 1.0f, A.data(), K, B.data(), K, 0.0f, c[t].data(), N, t + 1);
      }
      EXPECT_TRUE(c[0] == c[1] && c[0] == c[2]) << M << "x" << N;
      double worst = 0;
      for (int64_t i = 0; i < M; ++i)
        for (int64_t j = 0; j < N; ++j) {
          double s = 0;
          for (int64_t k = 0; k < K; ++k) s += double(A[i * K + k]) * double(B[j * K + k]);
          worst = std::max(worst, std::fabs(s - c[0][i * N + j]));
        }
      EXPECT_LT(worst, 1e-3) << M << "x" << N;  // |s| ~ sqrt(K) = 70; float sums of 5000 terms
    }
  }
  {  // in-place A (N = 40: two column panels) with the epilogue
    int64_t M = 37, N = 40, K = 300;
    std::vector<float> A(M * K), B(K * N), scale(M), shift(M);
    fill(A);
    fill(B);
    fill(scale);
    fill(shift);
    kernels::GemmEpilogue ep{scale.data(), shift.data(), 2};
    std::vector<float> c[3];
    for (int t = 0; t < 3; ++t) {
      c[t].assign(M * N, 0.0f);
      kernels::gemm_cpu_ep(false, false, M, N, K, A.data(), K, B.data(), N, c[t].data(), N, ep, t + 1);
    }
    EXPECT_TRUE(c[0] == c[1] && c[0] == c[2]);
    std::vector<float> plain(M * N);
    kernels::gemm_cpu<float>(false, false, M, N, K, 1.0f, A.data(), K, B.data(), N, 0.0f, plain.data(), N, 1);
    double worst = 0;
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 0; j < N; ++j) {
        double z = double(scale[i]) * plain[i * N + j] + shift[i];
        double silu = z / (1.0 + std::exp(-z));
        worst = std::max(worst, std::fabs(silu - c[0][i * N + j]) / (1.0 + std::fabs(silu)));
      }
    EXPECT_LT(worst, 1e-5);
  }
}
