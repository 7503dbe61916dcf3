#include <gtest/gtest.h>

#include <cmath>

#include "kernels/matmul/gemm.h"
#include "kernels/elementwise/elementwise.h"
#include "kernels/matmul/matmul.h"
#include "tensor/context.h"
#include "tensor/cuda_backend.h"
#include "tests/support/gradcheck.h"
#include "tests/support/test_util.h"

using namespace cq;
using cq::testing::allclose;
using cq::testing::gradcheck;

namespace {
Context make_ctx(int threads = 1) { return cq::testing::make_ctx(threads, 11); }

// Reference product in double: a [B, M, K] x b [B, K, N] given as row-major vectors.
std::vector<double> naive_bmm(const std::vector<double>& a, const std::vector<double>& b, int64_t B, int64_t M,
                              int64_t K, int64_t N) {
  std::vector<double> c(static_cast<size_t>(B * M * N), 0.0);
  for (int64_t z = 0; z < B; ++z)
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 0; j < N; ++j) {
        double s = 0;
        for (int64_t k = 0; k < K; ++k) s += a[(z * M + i) * K + k] * b[(z * K + k) * N + j];
        c[(z * M + i) * N + j] = s;
      }
  return c;
}

using cq::testing::error_of;
}  // namespace

TEST(GradCheck, matmul) {
  Context ctx = make_ctx();
  auto mm = [](const std::vector<Tensor>& in) { return matmul(in[0], in[1]); };
  struct Case {
    Shape a, b;
  };
  std::vector<Case> cases = {
      {{3, 4}, {4, 5}},           // 2-D
      {{2, 3, 4}, {2, 4, 5}},     // batched
      {{2, 1, 3, 4}, {3, 4, 2}},  // broadcast batch on both sides
      {{2, 3, 4}, {4, 5}},        // shared 2-D weight (folded GEMM and its one-GEMM weight gradient)
      {{3, 4}, {2, 4, 5}},        // 2-D left operand broadcast over b's batch
      {{4}, {2, 4, 5}},           // 1-D left
      {{2, 3, 4}, {4}},           // 1-D right
      {{4}, {4}},                 // dot
      {{4}, {4, 3}},              // vector x matrix
  };
  for (const auto& c : cases) {
    Tensor a = ctx.randn(c.a, DType::f64).set_requires_grad();
    Tensor b = ctx.randn(c.b, DType::f64).set_requires_grad();
    EXPECT_TRUE(gradcheck(ctx, mm, {a, b})) << shape_str(c.a) << " x " << shape_str(c.b);
  }
  // Transposed / permuted views (read in place by the GEMM) and only one input requiring grad.
  Tensor a = ctx.randn({4, 3}, DType::f64).set_requires_grad();
  Tensor b = ctx.randn({2, 5, 4}, DType::f64).set_requires_grad();
  EXPECT_TRUE(gradcheck(
      ctx, [](const std::vector<Tensor>& in) { return matmul(in[0].transpose(0, 1), in[1].transpose(1, 2)); },
      {a, b}));
  Tensor w = ctx.randn({4, 2}, DType::f64);
  EXPECT_TRUE(gradcheck(ctx, [w](const std::vector<Tensor>& in) { return matmul(in[0].transpose(0, 1), w); }, {a}));
}

TEST(Matmul, HandComputed) {
  Context ctx = make_ctx();
  Tensor a = ctx.from_vector(std::vector<double>{1, 2, 3, 4}, {2, 2});
  Tensor b = ctx.from_vector(std::vector<double>{5, 6, 7, 8}, {2, 2});
  Tensor c = matmul(a, b);
  EXPECT_EQ(c.shape(), (Shape{2, 2}));
  EXPECT_TRUE(allclose(c, {19, 22, 43, 50}));
  Tensor v = ctx.from_vector(std::vector<double>{1, 2, 3}, {3});
  Tensor u = ctx.from_vector(std::vector<double>{4, 5, 6}, {3});
  Tensor d = matmul(v, u);
  EXPECT_EQ(d.dim(), 0);
  EXPECT_TRUE(allclose(d, {32}));
  // [2,3] x [3] -> [2]; [3] x [3,2] -> [2]
  Tensor m = ctx.from_vector(std::vector<double>{1, 0, 2, 0, 1, 1}, {2, 3});
  EXPECT_TRUE(allclose(matmul(m, v), {7, 5}));
  EXPECT_EQ(matmul(v, m.transpose(0, 1)).shape(), (Shape{2}));
  EXPECT_TRUE(allclose(matmul(v, m.transpose(0, 1)), {7, 5}));
  // Batch broadcast: [2,1,2,2] x [3,2,2] -> [2,3,2,2]; each (i, j) block is a_i b_j.
  Tensor A = ctx.from_vector(std::vector<double>{1, 0, 0, 1, 2, 0, 0, 2}, {2, 1, 2, 2});
  Tensor B = ctx.from_vector(std::vector<double>{1, 2, 3, 4, 0, 1, 1, 0, 1, 1, 1, 1}, {3, 2, 2});
  Tensor C = matmul(A, B);
  EXPECT_EQ(C.shape(), (Shape{2, 3, 2, 2}));
  EXPECT_TRUE(allclose(C, {1, 2, 3, 4, 0, 1, 1, 0, 1, 1, 1, 1, 2, 4, 6, 8, 0, 2, 2, 0, 2, 2, 2, 2}));
  // K == 0 gives zeros.
  EXPECT_TRUE(allclose(matmul(ctx.zeros({2, 0}), ctx.zeros({0, 3})), std::vector<double>(6, 0.0)));
}

TEST(Matmul, LargeAgainstNaive) {
  // Sizes straddle the GEMM's block edges (MR=6, NR=16, KC=256, MC=96, NB=128) in f32 and f64.
  for (DType dt : {DType::f32, DType::f64}) {
    Context ctx = make_ctx(2);
    int64_t B = 2, M = 103, K = 300, N = 141;
    Tensor a = ctx.randn({B, M, K}, dt), b = ctx.randn({B, K, N}, dt);
    std::vector<double> ref = naive_bmm(a.to_vector<double>(), b.to_vector<double>(), B, M, K, N);
    double tol = dt == DType::f32 ? 2e-3 : 1e-10;  // f32: K=300 terms of unit variance, ~1e-7 relative each
    EXPECT_TRUE(allclose(matmul(a, b), ref, tol)) << dtype_name(dt);
    // The same through transposed storage of both operands.
    Tensor at = a.transpose(1, 2).contiguous().transpose(1, 2), bt = b.transpose(1, 2).contiguous().transpose(1, 2);
    EXPECT_TRUE(allclose(matmul(at, bt), ref, tol)) << dtype_name(dt);
  }
}

TEST(Matmul, NonContiguousInputs) {
  Context ctx = make_ctx();
  Tensor a = ctx.randn({3, 5, 4}), b = ctx.randn({3, 4, 6});
  Tensor ref = matmul(a, b);
  // Permuted batch axes, sliced rows with a step, and an expanded (stride-0) batch: all must equal the dense result.
  EXPECT_TRUE(allclose(matmul(cq::testing::make_noncontiguous(a), cq::testing::make_noncontiguous(b)), ref, 1e-5));
  Tensor big = ctx.randn({3, 10, 4});
  Tensor sliced = big.slice(1, 0, 10, 2);
  EXPECT_TRUE(allclose(matmul(sliced, b), matmul(sliced.contiguous(), b), 1e-5));
  Tensor w = ctx.randn({4, 6});
  EXPECT_TRUE(allclose(matmul(a, w.unsqueeze(0).expand({3, 4, 6})), matmul(a, w), 1e-5));
  // A stride-0 axis inside the matrix (an expanded row) needs the copy path.
  Tensor row = ctx.randn({1, 4}).expand({5, 4});
  EXPECT_TRUE(allclose(matmul(row, w), matmul(row.contiguous(), w), 1e-5));
}

TEST(Matmul, Errors) {
  Context ctx = make_ctx();
  std::string e = error_of([&] { matmul(ctx.zeros({2, 3}), ctx.zeros({4, 5})); });
  EXPECT_NE(e.find("matmul"), std::string::npos) << e;
  EXPECT_NE(e.find("f32[2,3] cpu"), std::string::npos) << e;
  EXPECT_NE(e.find("f32[4,5] cpu"), std::string::npos) << e;
  e = error_of([&] { matmul(ctx.zeros({2, 2, 3}), ctx.zeros({3, 3, 5})); });
  EXPECT_NE(e.find("[2]"), std::string::npos) << e;
  EXPECT_NE(e.find("[3]"), std::string::npos) << e;
  e = error_of([&] { matmul(ctx.zeros({2, 3}), ctx.zeros({3, 5}, DType::f64)); });
  EXPECT_NE(e.find("matmul"), std::string::npos) << e;
  EXPECT_NE(e.find("f64[3,5]"), std::string::npos) << e;
  e = error_of([&] { matmul(ctx.scalar(1.0), ctx.zeros({3})); });
  EXPECT_NE(e.find("at least 1 dimension"), std::string::npos) << e;
  e = error_of([&] { matmul(ctx.zeros({2, 3}, DType::i64), ctx.zeros({3, 5}, DType::i64)); });
  EXPECT_NE(e.find("i64"), std::string::npos) << e;
}

TEST(Gemm, TransposesAlphaBetaAndLeadingDims) {
  // C = alpha op(A) op(B) + beta C with padded leading dimensions, against a direct triple loop.
  Rng rng(3);
  int64_t M = 13, N = 37, K = 270;
  for (int ta = 0; ta < 2; ++ta)
    for (int tb = 0; tb < 2; ++tb) {
      int64_t lda = (ta ? M : K) + 3, ldb = (tb ? K : N) + 5, ldc = N + 2;
      std::vector<double> A((ta ? K : M) * lda), B((tb ? N : K) * ldb), C(M * ldc);
      for (auto& v : A) v = rng.uniform(-1, 1);
      for (auto& v : B) v = rng.uniform(-1, 1);
      for (auto& v : C) v = rng.uniform(-1, 1);
      std::vector<double> ref = C;
      for (int64_t i = 0; i < M; ++i)
        for (int64_t j = 0; j < N; ++j) {
          double s = 0;
          for (int64_t k = 0; k < K; ++k)
            s += (ta ? A[k * lda + i] : A[i * lda + k]) * (tb ? B[j * ldb + k] : B[k * ldb + j]);
          ref[i * ldc + j] = 0.5 * s - 2.0 * C[i * ldc + j];
        }
      kernels::gemm_cpu<double>(ta, tb, M, N, K, 0.5, A.data(), lda, B.data(), ldb, -2.0, C.data(), ldc, 2);
      double md = 0;
      for (int64_t i = 0; i < M; ++i)
        for (int64_t j = 0; j < N; ++j) md = std::max(md, std::fabs(C[i * ldc + j] - ref[i * ldc + j]));
      EXPECT_LT(md, 1e-12) << "trans_a " << ta << " trans_b " << tb;
    }
  // beta == 0 ignores NaN already in C; K == 0 scales C by beta.
  std::vector<float> a(6, 1.0f), b(6, 1.0f), c(4, NAN);
  kernels::gemm_cpu<float>(false, false, 2, 2, 3, 1.0f, a.data(), 3, b.data(), 2, 0.0f, c.data(), 2, 1);
  EXPECT_EQ(c, (std::vector<float>{3, 3, 3, 3}));
  kernels::gemm_cpu<float>(false, false, 2, 2, 0, 1.0f, a.data(), 3, b.data(), 2, 0.5f, c.data(), 2, 1);
  EXPECT_EQ(c, (std::vector<float>{1.5f, 1.5f, 1.5f, 1.5f}));
}

TEST(Matmul, ThreadDeterminism) {
  // Same GEMM with 1, 2 and 3 threads: bit-identical (each C element sums K in a fixed order).
  int64_t M = 301, N = 517, K = 290;
  Rng rng(5);
  std::vector<float> A(M * K), B(K * N);
  for (auto& v : A) v = static_cast<float>(rng.normal());
  for (auto& v : B) v = static_cast<float>(rng.normal());
  std::vector<float> c1(M * N), c2(M * N), c3(M * N);
  kernels::gemm_cpu<float>(false, true, M, N, K, 1.0f, A.data(), K, B.data(), K, 0.0f, c1.data(), N, 1);
  kernels::gemm_cpu<float>(false, true, M, N, K, 1.0f, A.data(), K, B.data(), K, 0.0f, c2.data(), N, 2);
  kernels::gemm_cpu<float>(false, true, M, N, K, 1.0f, A.data(), K, B.data(), K, 0.0f, c3.data(), N, 3);
  EXPECT_TRUE(c1 == c2);
  EXPECT_TRUE(c1 == c3);
  // And through the op with forward and backward, including the per-matrix parallel batch path.
  std::vector<std::vector<float>> res[2];
  for (int t = 0; t < 2; ++t) {
    Context ctx = make_ctx(t + 1);
    Tensor a = ctx.randn({8, 40, 70}).set_requires_grad(), b = ctx.randn({70, 300}).set_requires_grad();
    Tensor c = ctx.randn({8, 300, 20}).set_requires_grad();
    Tensor out = matmul(matmul(a, b), c);
    out.backward(ctx.randn(out.shape()));
    res[t] = {out.to_vector<float>(), a.grad().to_vector<float>(), b.grad().to_vector<float>(),
              c.grad().to_vector<float>()};
  }
  for (size_t i = 0; i < res[0].size(); ++i) EXPECT_TRUE(res[0][i] == res[1][i]) << "tensor " << i;
}

TEST(CudaMatmul, ForwardBackwardMatchCpu) {
  CQ_REQUIRE_CUDA();
  Context ctx = make_ctx();
  struct Case {
    Shape a, b;
    bool transpose_a;
  };
  std::vector<Case> cases = {{{33, 70}, {70, 20}, false},      {{3, 33, 70}, {3, 70, 20}, false},
                             {{2, 1, 9, 16}, {4, 16, 5}, true}, {{5, 7, 16}, {16, 12}, false},
                             {{16}, {2, 16, 5}, false},         {{2, 6, 16}, {16}, false}};
  for (DType dt : {DType::f32, DType::f64}) {
    for (const auto& c : cases) {
      Tensor a = ctx.randn(c.a, dt), b = ctx.randn(c.b, dt);
      if (c.transpose_a) a = a.transpose(a.dim() - 2, a.dim() - 1).contiguous().transpose(a.dim() - 2, a.dim() - 1);
      Tensor ag = a.to(Device::cuda()).detach().set_requires_grad(), bg = b.to(Device::cuda()).detach().set_requires_grad();
      Tensor ac = a.detach().set_requires_grad(), bc = b.detach().set_requires_grad();
      Tensor oc = matmul(ac, bc);
      Tensor og = matmul(ag, bg);
      EXPECT_TRUE(og.device().is_cuda());
      double tol = dt == DType::f32 ? 1e-4 : 1e-10;
      EXPECT_TRUE(allclose(og.to(Device::cpu()), oc, tol)) << shape_str(c.a) << " x " << shape_str(c.b);
      Tensor g = ctx.randn(oc.shape(), dt);
      oc.backward(g);
      og.backward(g.to(Device::cuda()));
      EXPECT_TRUE(allclose(ag.grad().to(Device::cpu()), ac.grad(), tol));
      EXPECT_TRUE(allclose(bg.grad().to(Device::cpu()), bc.grad(), tol));
    }
  }
}

// The inference Linear (bias and activation as the GEMM epilogue) against matmul + add (+ gelu/relu), on shapes with
// partial tiles in both directions and a batch axis; and it refuses inputs that need a gradient.
TEST(Matmul, LinearActInferMatchesComposite) {
  Context ctx = make_ctx(2);
  struct C {
    Shape x;
    int64_t n;
    bool bias;
    int act;
  } cases[] = {{{3, 37, 29}, 41, true, 3}, {{300, 96}, 288, true, 0}, {{5, 70}, 33, false, 1}, {{2, 64, 384}, 96, true, 2}};
  for (const C& c : cases) {
    Tensor x = ctx.randn(c.x), w = ctx.randn({c.n, c.x.back()}), b = c.bias ? ctx.randn({c.n}) : Tensor();
    auto ng = ctx.no_grad();
    Tensor ref = matmul(x, w.transpose(0, 1));
    if (c.bias) ref = add(ref, b);
    if (c.act == 1) ref = relu(ref);
    if (c.act == 2) ref = silu(ref);
    if (c.act == 3) ref = gelu(ref);
    Tensor got = linear_act_infer(x, w, b, c.act);
    ASSERT_EQ(got.shape(), ref.shape());
    double m = 0;
    for (double v : ref.to_vector<double>()) m = std::max(m, std::fabs(v));
    EXPECT_LT(cq::testing::max_abs_diff(got, ref), 2e-6 * m) << "act " << c.act;
  }
  Tensor w = ctx.randn({4, 3}).set_requires_grad();
  EXPECT_NE(error_of([&] { linear_act_infer(ctx.randn({2, 3}), w, Tensor(), 0); }).find("inference only"),
            std::string::npos);
}
