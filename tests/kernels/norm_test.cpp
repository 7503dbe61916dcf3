#include "kernels/norm/norm.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "tensor/context.h"
#include "tensor/cuda_backend.h"
#include "tests/support/gradcheck.h"
#include "tests/support/test_util.h"

using namespace cq;
using cq::testing::allclose;
using cq::testing::gradcheck;

namespace {
Context make_ctx(int threads = 1) { return cq::testing::make_ctx(threads, 7); }

using cq::testing::error_of;

using cq::testing::contains;

// x [2,2,2] (N=2, C=2, S=2): channel 0 holds {1,2,3,4} (mean 2.5, biased var 1.25, unbiased 5/3), channel 1 holds
// {0,0,2,6} (mean 2, biased var 6, unbiased 8).
const std::vector<double> kBnX = {1, 2, 0, 0, 3, 4, 2, 6};

// Expected train-mode output of kBnX with weight w and bias b (batch statistics above).
std::vector<double> bn_train_expected(double eps, const double w[2], const double b[2]) {
  const double mean[2] = {2.5, 2.0}, var[2] = {1.25, 6.0};
  std::vector<double> out;
  for (size_t i = 0; i < kBnX.size(); ++i) {
    int c = static_cast<int>((i / 2) % 2);
    out.push_back((kBnX[i] - mean[c]) / std::sqrt(var[c] + eps) * w[c] + b[c]);
  }
  return out;
}
}  // namespace

// ---- gradient checks ----
TEST(GradCheck, batch_norm) {
  Context ctx = make_ctx();
  // Training: gradients flow through the batch statistics; running stats undefined so every call is identical.
  for (Shape shape : {Shape{3, 2, 2, 3}, Shape{4, 3}, Shape{2, 3, 5}}) {
    Tensor x = ctx.randn(shape, DType::f64).set_requires_grad();
    Tensor w = ctx.randn({shape[1]}, DType::f64).set_requires_grad();
    Tensor b = ctx.randn({shape[1]}, DType::f64).set_requires_grad();
    EXPECT_TRUE(gradcheck(
        ctx, [](const std::vector<Tensor>& in) { return batch_norm(in[0], in[1], in[2], {}, {}, true, 0.1, 1e-5); },
        {x, w, b}))
        << shape_str(shape);
  }
  // Training without affine parameters, through a permuted (non-contiguous) input.
  Tensor xp = ctx.randn({3, 4, 2, 2}, DType::f64).set_requires_grad();
  EXPECT_TRUE(gradcheck(ctx,
                        [](const std::vector<Tensor>& in) {
                          return batch_norm(in[0].permute({1, 0, 2, 3}), {}, {}, {}, {}, true, 0.1, 1e-3);
                        },
                        {xp}));
  // Training with running stats defined: they change between calls but the output does not depend on them.
  Tensor xr = ctx.randn({3, 2, 4}, DType::f64).set_requires_grad();
  Tensor rm = ctx.zeros({2}, DType::f64), rv = ctx.ones({2}, DType::f64);
  EXPECT_TRUE(gradcheck(
      ctx, [&](const std::vector<Tensor>& in) { return batch_norm(in[0], {}, {}, rm, rv, true, 0.01, 1e-3); }, {xr}));
  // Eval: fixed running statistics.
  Tensor x = ctx.randn({2, 3, 2, 2}, DType::f64).set_requires_grad();
  Tensor w = ctx.randn({3}, DType::f64).set_requires_grad();
  Tensor b = ctx.randn({3}, DType::f64).set_requires_grad();
  Tensor em = ctx.randn({3}, DType::f64), ev = ctx.rand({3}, 0.5, 2.0, DType::f64);
  EXPECT_TRUE(gradcheck(
      ctx, [&](const std::vector<Tensor>& in) { return batch_norm(in[0], in[1], in[2], em, ev, false, 0.1, 1e-5); },
      {x, w, b}));
  EXPECT_TRUE(gradcheck(ctx,
                        [&](const std::vector<Tensor>& in) {
                          return batch_norm(in[0].transpose(2, 3), in[1], {}, em, ev, false, 0.1, 1e-5);
                        },
                        {x, w}));
}

TEST(GradCheck, layer_norm) {
  Context ctx = make_ctx();
  struct Case {
    Shape shape;
    int64_t k;
  };
  for (const Case& c : {Case{{3, 4}, 1}, Case{{2, 3, 4}, 2}, Case{{2, 2, 3}, 3}}) {
    Shape tail(c.shape.end() - c.k, c.shape.end());
    Tensor x = ctx.randn(c.shape, DType::f64).set_requires_grad();
    Tensor w = ctx.randn(tail, DType::f64).set_requires_grad();
    Tensor b = ctx.randn(tail, DType::f64).set_requires_grad();
    int64_t k = c.k;
    EXPECT_TRUE(gradcheck(ctx, [k](const std::vector<Tensor>& in) { return layer_norm(in[0], k, in[1], in[2], 1e-5); },
                          {x, w, b}))
        << shape_str(c.shape);
  }
  // No affine parameters; weight only; permuted input.
  Tensor x = ctx.randn({4, 3, 5}, DType::f64).set_requires_grad();
  Tensor w = ctx.randn({4}, DType::f64).set_requires_grad();
  EXPECT_TRUE(gradcheck(ctx, [](const std::vector<Tensor>& in) { return layer_norm(in[0], 1, {}, {}, 1e-5); }, {x}));
  EXPECT_TRUE(gradcheck(ctx,
                        [](const std::vector<Tensor>& in) {
                          return layer_norm(in[0].permute({2, 1, 0}), 1, in[1], {}, 1e-5);
                        },
                        {x, w}));
}

// ---- batch_norm forward ----
TEST(BatchNorm, TrainForwardAndRunningStatsMomentum01) {
  Context ctx = make_ctx();
  Tensor x = ctx.from_vector(kBnX, {2, 2, 2});
  const double w[2] = {2.0, 0.5}, b[2] = {0.1, -1.0};
  Tensor wt = ctx.from_vector(std::vector<double>{w[0], w[1]}, {2});
  Tensor bt = ctx.from_vector(std::vector<double>{b[0], b[1]}, {2});
  Tensor rm = ctx.from_vector(std::vector<double>{0.5, -1.0}, {2});
  Tensor rv = ctx.from_vector(std::vector<double>{2.0, 0.5}, {2});
  Tensor y = batch_norm(x, wt, bt, rm, rv, true, 0.1, 1e-5);
  EXPECT_TRUE(allclose(y, bn_train_expected(1e-5, w, b), 1e-5));
  // 0.9*0.5 + 0.1*2.5, 0.9*-1 + 0.1*2; 0.9*2 + 0.1*5/3, 0.9*0.5 + 0.1*8.
  EXPECT_TRUE(allclose(rm, {0.7, -0.7}, 1e-6));
  EXPECT_TRUE(allclose(rv, {1.8 + 0.1 * 5.0 / 3.0, 1.25}, 1e-6));
}

TEST(BatchNorm, TrainForwardAndRunningStatsEfficientNet) {
  Context ctx = make_ctx();
  Tensor x = ctx.from_vector(kBnX, {2, 2, 2}, DType::f64);
  const double w[2] = {1.0, 1.0}, b[2] = {0.0, 0.0};
  Tensor rm = ctx.from_vector(std::vector<double>{0.5, -1.0}, {2}, DType::f64);
  Tensor rv = ctx.from_vector(std::vector<double>{2.0, 0.5}, {2}, DType::f64);
  Tensor y = batch_norm(x, {}, {}, rm, rv, true, 0.01, 1e-3);
  EXPECT_TRUE(allclose(y, bn_train_expected(1e-3, w, b), 1e-12));
  // 0.99*0.5 + 0.01*2.5, 0.99*-1 + 0.01*2; 0.99*2 + 0.01*5/3, 0.99*0.5 + 0.01*8.
  EXPECT_TRUE(allclose(rm, {0.52, -0.97}, 1e-12));
  EXPECT_TRUE(allclose(rv, {1.98 + 0.01 * 5.0 / 3.0, 0.575}, 1e-12));
  // A second step blends again from the updated values.
  batch_norm(x, {}, {}, rm, rv, true, 0.01, 1e-3);
  EXPECT_TRUE(allclose(rm, {0.99 * 0.52 + 0.025, 0.99 * -0.97 + 0.02}, 1e-12));
}

TEST(BatchNorm, EvalUsesRunningStatsAndLeavesThemAlone) {
  Context ctx = make_ctx();
  Tensor x = ctx.from_vector(kBnX, {2, 2, 2});
  Tensor rm = ctx.from_vector(std::vector<double>{0.5, -1.0}, {2});
  Tensor rv = ctx.from_vector(std::vector<double>{2.0, 0.5}, {2});
  Tensor wt = ctx.from_vector(std::vector<double>{2.0, 0.5}, {2});
  Tensor y = batch_norm(x, wt, {}, rm, rv, false, 0.1, 1e-3);
  std::vector<double> expected;
  for (size_t i = 0; i < kBnX.size(); ++i) {
    int c = static_cast<int>((i / 2) % 2);
    const double m[2] = {0.5, -1.0}, v[2] = {2.0, 0.5}, w[2] = {2.0, 0.5};
    expected.push_back((kBnX[i] - m[c]) / std::sqrt(v[c] + 1e-3) * w[c]);
  }
  EXPECT_TRUE(allclose(y, expected, 1e-5));
  EXPECT_TRUE(allclose(rm, {0.5, -1.0}));
  EXPECT_TRUE(allclose(rv, {2.0, 0.5}));
}

TEST(BatchNorm, BackwardMatchesFusedFormula) {
  Context ctx = make_ctx();
  // Train mode, no affine: dx = rstd/n * (n*g - sum(g) - xhat*sum(g*xhat)); with g = 1 everywhere dx = 0 and
  // dbias = n, dweight = sum(xhat) = 0.
  Tensor x = ctx.from_vector(kBnX, {2, 2, 2}, DType::f64).set_requires_grad();
  Tensor w = ctx.ones({2}, DType::f64).set_requires_grad();
  Tensor b = ctx.zeros({2}, DType::f64).set_requires_grad();
  Tensor y = batch_norm(x, w, b, {}, {}, true, 0.1, 1e-5);
  std::vector<Tensor> gr = cq::grad(y, {x, w, b}, ctx.ones({2, 2, 2}, DType::f64));
  EXPECT_TRUE(allclose(gr[0], std::vector<double>(8, 0.0), 1e-12));
  EXPECT_TRUE(allclose(gr[1], {0.0, 0.0}, 1e-12));
  EXPECT_TRUE(allclose(gr[2], {4.0, 4.0}, 1e-12));
  // Eval mode: dx = g * w * rstd.
  Tensor rm = ctx.zeros({2}, DType::f64), rv = ctx.from_vector(std::vector<double>{3.0, 0.0}, {2}, DType::f64);
  Tensor ye = batch_norm(x, w, b, rm, rv, false, 0.1, 1.0);
  std::vector<Tensor> ge = cq::grad(ye, {x}, ctx.full({2, 2, 2}, 2.0, DType::f64));
  EXPECT_TRUE(allclose(ge[0], {1, 1, 2, 2, 1, 1, 2, 2}, 1e-12));
}

TEST(BatchNorm, NonContiguousInputsMatchContiguous) {
  Context ctx = make_ctx();
  Tensor x = ctx.randn({3, 4, 5, 6});
  Tensor w = ctx.randn({4}), b = ctx.randn({4});
  Tensor rm1 = ctx.randn({4}), rv1 = ctx.rand({4}, 0.5, 2.0);
  Tensor rm2 = rm1.clone(), rv2 = rv1.clone();
  Tensor y1 = batch_norm(x, w, b, rm1, rv1, true, 0.1, 1e-5);
  // Non-contiguous input and running stats (stride-2 views): same output, stats still updated in place.
  Tensor rm_big = ctx.zeros({8}), rv_big = ctx.zeros({8});
  Tensor rm_view = rm_big.slice(0, 0, 8, 2), rv_view = rv_big.slice(0, 0, 8, 2);
  rm_view.copy_(rm2);
  rv_view.copy_(rv2);
  Tensor y2 = batch_norm(cq::testing::make_noncontiguous(x), w, b, rm_view, rv_view, true, 0.1, 1e-5);
  EXPECT_TRUE(allclose(y2, y1, 1e-6));
  EXPECT_TRUE(allclose(rm_view, rm1, 1e-7));
  EXPECT_TRUE(allclose(rv_view, rv1, 1e-7));
  EXPECT_TRUE(allclose(rm_big.slice(0, 1, 8, 2), {0, 0, 0, 0}));
  Tensor ye1 = batch_norm(x, w, b, rm1, rv1, false, 0.1, 1e-5);
  Tensor ye2 = batch_norm(x.permute({0, 1, 3, 2}).contiguous().permute({0, 1, 3, 2}), w, b, rm1, rv1, false, 0.1, 1e-5);
  EXPECT_TRUE(allclose(ye2, ye1, 1e-6));
}

TEST(BatchNorm, ErrorsNameOpAndShapes) {
  Context ctx = make_ctx();
  Tensor x = ctx.randn({2, 4, 3, 3});
  std::string e = error_of([&] { batch_norm(x, ctx.ones({3}), {}, {}, {}, true, 0.1, 1e-5); });
  EXPECT_TRUE(contains(e, "batch_norm") && contains(e, "f32[3] cpu") && contains(e, "f32[2,4,3,3] cpu")) << e;
  e = error_of([&] { batch_norm(x, {}, {}, ctx.zeros({5}), ctx.ones({5}), true, 0.1, 1e-5); });
  EXPECT_TRUE(contains(e, "running_mean") && contains(e, "f32[5] cpu") && contains(e, "f32[2,4,3,3] cpu")) << e;
  e = error_of([&] { batch_norm(x, ctx.ones({4}, DType::f64), {}, {}, {}, true, 0.1, 1e-5); });
  EXPECT_TRUE(contains(e, "batch_norm") && contains(e, "f64[4] cpu")) << e;
  e = error_of([&] { batch_norm(x, {}, {}, {}, {}, false, 0.1, 1e-5); });
  EXPECT_TRUE(contains(e, "batch_norm") && contains(e, "running_mean")) << e;
  e = error_of([&] { batch_norm(ctx.randn({1, 4}), {}, {}, {}, {}, true, 0.1, 1e-5); });
  EXPECT_TRUE(contains(e, "more than 1 value") && contains(e, "f32[1,4] cpu")) << e;
  e = error_of([&] { batch_norm(ctx.randn({4}), {}, {}, {}, {}, true, 0.1, 1e-5); });
  EXPECT_TRUE(contains(e, "batch_norm") && contains(e, "f32[4] cpu")) << e;
  e = error_of([&] { batch_norm(ctx.zeros({2, 2}, DType::i64), {}, {}, {}, {}, true, 0.1, 1e-5); });
  EXPECT_TRUE(contains(e, "batch_norm") && contains(e, "i64")) << e;
}

TEST(BatchNorm, ThreadCountDeterminism) {
  auto run = [](int threads) {
    Context ctx = make_ctx(threads);
    Tensor x = ctx.randn({2, 32, 48, 64}).set_requires_grad();
    Tensor w = ctx.randn({32}).set_requires_grad(), b = ctx.randn({32}).set_requires_grad();
    Tensor rm = ctx.randn({32}), rv = ctx.rand({32}, 0.5, 2.0);
    Tensor g = ctx.randn({2, 32, 48, 64});
    Tensor y = batch_norm(x, w, b, rm, rv, true, 0.01, 1e-3);
    std::vector<Tensor> gr = cq::grad(y, {x, w, b}, g);
    std::vector<std::vector<float>> out = {y.to_vector<float>(), rm.to_vector<float>(), rv.to_vector<float>()};
    for (const Tensor& t : gr) out.push_back(t.to_vector<float>());
    Tensor ye = batch_norm(x, w, b, rm, rv, false, 0.01, 1e-3);
    for (const Tensor& t : cq::grad(ye, {x, w, b}, g)) out.push_back(t.to_vector<float>());
    out.push_back(ye.to_vector<float>());
    return out;
  };
  auto a = run(1), b = run(2);
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(a[i] == b[i]) << "output " << i << " differs";
}

// ---- layer_norm ----
TEST(LayerNorm, ForwardHandComputed) {
  Context ctx = make_ctx();
  // Rows {1,2,3} (mean 2, biased var 2/3) and {2,4,9} (mean 5, biased var 26/3).
  Tensor x = ctx.from_vector(std::vector<double>{1, 2, 3, 2, 4, 9}, {2, 3}, DType::f64);
  Tensor w = ctx.from_vector(std::vector<double>{1, 2, -1}, {3}, DType::f64);
  Tensor b = ctx.from_vector(std::vector<double>{0, 0.5, 1}, {3}, DType::f64);
  Tensor y = layer_norm(x, 1, w, b, 1e-5);
  const double r0 = 1 / std::sqrt(2.0 / 3 + 1e-5), r1 = 1 / std::sqrt(26.0 / 3 + 1e-5);
  EXPECT_TRUE(allclose(y, {-r0, 0.5, 1 - r0, -3 * r1, -2 * r1 + 0.5, 1 - 4 * r1}, 1e-12));
  // Two normalized dims without affine: one row of six values.
  Tensor y2 = layer_norm(x, 2, {}, {}, 0.0);
  std::vector<double> v = {1, 2, 3, 2, 4, 9}, expected;
  double m = 21.0 / 6, q = 0;
  for (double e : v) q += (e - m) * (e - m);
  for (double e : v) expected.push_back((e - m) / std::sqrt(q / 6));
  EXPECT_TRUE(allclose(y2, expected, 1e-12));
}

TEST(LayerNorm, NonContiguousInput) {
  Context ctx = make_ctx();
  Tensor x = ctx.randn({4, 6, 8});
  Tensor w = ctx.randn({8}), b = ctx.randn({8});
  EXPECT_TRUE(
      allclose(layer_norm(cq::testing::make_noncontiguous(x), 1, w, b, 1e-5), layer_norm(x, 1, w, b, 1e-5), 1e-6));
  Tensor big = ctx.randn({4, 6, 16});
  Tensor sl = big.slice(2, 0, 16, 2);
  EXPECT_TRUE(allclose(layer_norm(sl, 2, {}, {}, 1e-5), layer_norm(sl.contiguous(), 2, {}, {}, 1e-5), 1e-6));
}

TEST(LayerNorm, ErrorsNameOpAndShapes) {
  Context ctx = make_ctx();
  Tensor x = ctx.randn({2, 3, 4});
  std::string e = error_of([&] { layer_norm(x, 2, ctx.ones({4}), {}, 1e-5); });
  EXPECT_TRUE(contains(e, "layer_norm") && contains(e, "f32[4] cpu") && contains(e, "[3,4]") &&
              contains(e, "f32[2,3,4] cpu"))
      << e;
  e = error_of([&] { layer_norm(x, 4, {}, {}, 1e-5); });
  EXPECT_TRUE(contains(e, "layer_norm") && contains(e, "f32[2,3,4] cpu")) << e;
  e = error_of([&] { layer_norm(x, 1, {}, ctx.zeros({4}, DType::f64), 1e-5); });
  EXPECT_TRUE(contains(e, "layer_norm") && contains(e, "f64[4] cpu")) << e;
}

TEST(LayerNorm, ThreadCountDeterminism) {
  auto run = [](int threads) {
    Context ctx = make_ctx(threads);
    Tensor x = ctx.randn({64, 24, 40}).set_requires_grad();
    Tensor w = ctx.randn({24, 40}).set_requires_grad(), b = ctx.randn({24, 40}).set_requires_grad();
    Tensor y = layer_norm(x, 2, w, b, 1e-5);
    std::vector<std::vector<float>> out = {y.to_vector<float>()};
    for (const Tensor& t : cq::grad(y, {x, w, b}, ctx.randn({64, 24, 40}))) out.push_back(t.to_vector<float>());
    return out;
  };
  EXPECT_TRUE(run(1) == run(2));
}
