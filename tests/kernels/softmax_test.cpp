#include <cmath>

#include <gtest/gtest.h>

#include "kernels/softmax/softmax.h"
#include "tensor/context.h"
#include "tensor/cuda_backend.h"
#include "tests/support/gradcheck.h"
#include "tests/support/test_util.h"

using namespace cq;
using cq::testing::allclose;
using cq::testing::gradcheck;

namespace {
Context make_ctx(int threads = 1) { return cq::testing::make_ctx(threads, 5); }

// Host reference: softmax (or log_softmax) of x along axis, in double.
std::vector<double> ref_softmax(const Tensor& x, int64_t axis, bool log) {
  std::vector<double> v = x.contiguous().to_vector<double>();
  int64_t outer = 1, inner = 1, L = x.size(axis);
  if (axis < 0) axis += x.dim();
  for (int64_t d = 0; d < axis; ++d) outer *= x.size(d);
  for (int64_t d = axis + 1; d < x.dim(); ++d) inner *= x.size(d);
  std::vector<double> out(v.size());
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i = 0; i < inner; ++i) {
      double m = -INFINITY, s = 0;
      for (int64_t l = 0; l < L; ++l) m = std::max(m, v[(o * L + l) * inner + i]);
      for (int64_t l = 0; l < L; ++l) s += std::exp(v[(o * L + l) * inner + i] - m);
      for (int64_t l = 0; l < L; ++l) {
        double e = v[(o * L + l) * inner + i] - m;
        out[(o * L + l) * inner + i] = log ? e - std::log(s) : std::exp(e) / s;
      }
    }
  return out;
}

using SmFn = Tensor (*)(const Tensor&, int64_t);

void gradcheck_all(SmFn f) {
  Context ctx = make_ctx();
  for (int64_t axis : {0, 1, 2, -1}) {
    SCOPED_TRACE(::testing::Message() << "axis " << axis);
    Tensor x = ctx.randn({2, 3, 4}, DType::f64).set_requires_grad();
    EXPECT_TRUE(gradcheck(ctx, [&](const std::vector<Tensor>& in) { return f(in[0], axis); }, {x}));
    Tensor y = ctx.randn({4, 2, 3}, DType::f64).set_requires_grad();
    EXPECT_TRUE(gradcheck(ctx, [&](const std::vector<Tensor>& in) { return f(in[0].permute({1, 2, 0}), axis); }, {y}));
  }
  // NCHW logits, class axis 1 (inner = H*W > 1), and a long last axis.
  Tensor n = ctx.randn({2, 4, 3, 5}, DType::f64).set_requires_grad();
  EXPECT_TRUE(gradcheck(ctx, [&](const std::vector<Tensor>& in) { return f(in[0], 1); }, {n}));
  Tensor l = ctx.randn({2, 150}, DType::f64).set_requires_grad();
  EXPECT_TRUE(gradcheck(ctx, [&](const std::vector<Tensor>& in) { return f(in[0], 1); }, {l}));
}
}  // namespace

TEST(GradCheck, softmax) { gradcheck_all(softmax); }
TEST(GradCheck, log_softmax) { gradcheck_all(log_softmax); }

TEST(Softmax, ForwardHandComputed) {
  Context ctx = make_ctx();
  Tensor x = ctx.from_vector(std::vector<double>{0, std::log(3.0), 1000, 1000}, {2, 2});
  EXPECT_TRUE(allclose(softmax(x, 1), {0.25, 0.75, 0.5, 0.5}, 1e-6));  // 1000: stable (max subtracted)
  EXPECT_TRUE(allclose(log_softmax(x, -1), {std::log(0.25), std::log(0.75), std::log(0.5), std::log(0.5)}, 1e-5));
  EXPECT_TRUE(allclose(softmax(ctx.scalar(3.0), 0), {1}));
  Tensor big = ctx.from_vector(std::vector<double>{-1000, 0, 1000}, {3});
  EXPECT_TRUE(allclose(log_softmax(big, 0), {-2000, -1000, 0}, 1e-3));
  EXPECT_EQ(softmax(ctx.zeros({2, 0}), 1).shape(), (Shape{2, 0}));
}

TEST(Softmax, MatchesReference) {
  Context ctx = make_ctx(2);
  for (DType dt : {DType::f32, DType::f64}) {
    Tensor x = ctx.randn({3, 5, 7, 9}, dt);
    for (int64_t axis : {0, 1, 2, 3}) {
      for (bool log : {false, true}) {
        Tensor y = log ? log_softmax(x, axis) : softmax(x, axis);
        EXPECT_TRUE(allclose(y, ref_softmax(x, axis, log), 1e-5));
        Tensor p = x.permute({0, 2, 3, 1});  // non-contiguous
        Tensor yp = log ? log_softmax(p, axis) : softmax(p, axis);
        EXPECT_TRUE(allclose(yp, ref_softmax(p, axis, log), 1e-5));
      }
    }
  }
}

TEST(Softmax, Errors) {
  Context ctx = make_ctx();
  try {
    softmax(ctx.zeros({2, 3}), 2);
    FAIL() << "expected cq::Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("softmax: axis 2 out of range for rank 2"), std::string::npos) << e.what();
  }
  try {
    log_softmax(ctx.zeros({2, 3}, DType::i64), 1);
    FAIL() << "expected cq::Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("log_softmax"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("i64[2,3] cpu"), std::string::npos) << e.what();
  }
}

TEST(Softmax, DeterministicAcrossThreadCounts) {
  Context c1 = make_ctx(1), c2 = make_ctx(2);
  Tensor a = c1.randn({2, 5, 64, 96}), b = c2.randn({2, 5, 64, 96});
  ASSERT_EQ(a.to_vector<float>(), b.to_vector<float>());
  for (int64_t axis : {1, 3, 0}) {
    EXPECT_EQ(softmax(a, axis).to_vector<float>(), softmax(b, axis).to_vector<float>());
    EXPECT_EQ(log_softmax(a, axis).to_vector<float>(), log_softmax(b, axis).to_vector<float>());
  }
  Tensor ga = a.clone().set_requires_grad(), gb = b.clone().set_requires_grad();
  Tensor w = c1.randn({2, 5, 64, 96});
  softmax(ga, 1).backward(w);
  softmax(gb, 1).backward(w);
  EXPECT_EQ(ga.grad().to_vector<float>(), gb.grad().to_vector<float>());
}

TEST(CudaSoftmax, MatchesCpu) {
  CQ_REQUIRE_CUDA();
  Context ctx = make_ctx(2);
  for (DType dt : {DType::f32, DType::f64}) {
    double tol = dt == DType::f32 ? 1e-5 : 1e-12;
    // Class axis of NCHW (thread per pixel), a long last axis (block per row) and a short last axis.
    for (auto [shape, axis] : std::vector<std::pair<Shape, int64_t>>{
             {{2, 5, 64, 96}, 1}, {{4, 1000}, 1}, {{6, 7}, -1}, {{3, 300, 2}, 1}}) {
      for (bool log : {false, true}) {
        SmFn f = log ? log_softmax : softmax;
        Tensor x = ctx.randn(shape, dt);
        Tensor w = ctx.randn(shape, dt);
        Tensor xc = x.clone().set_requires_grad();
        Tensor xg = x.to(Device::cuda()).set_requires_grad();
        Tensor yc = f(xc, axis), yg = f(xg, axis);
        EXPECT_TRUE(allclose(yg.to(Device::cpu()), yc, tol));
        yc.backward(w);
        yg.backward(w.to(Device::cuda()));
        EXPECT_TRUE(allclose(xg.grad().to(Device::cpu()), xc.grad(), tol));
      }
    }
  }
}
