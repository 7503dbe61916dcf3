// Forward values, broadcasting, non-contiguous inputs, comparisons (Forward.<op>), errors and thread-count
// determinism of the elementwise family.
#include <gtest/gtest.h>

#include <cmath>

#include "kernels/elementwise/elementwise.h"
#include "kernels/elementwise/elementwise_math.h"
#include "tensor/context.h"
#include "tests/support/gradcheck.h"
#include "tests/support/test_util.h"

using namespace cq;
using cq::testing::allclose;

namespace {

Context make_ctx(int threads = 1) { return cq::testing::make_ctx(threads, 5); }

Tensor vec(Context& ctx, const std::vector<double>& v, const Shape& s, DType dt = DType::f32) {
  return ctx.from_vector(v, s, dt);
}

using cq::testing::error_of;

using cq::testing::contains;

}  // namespace

TEST(Elementwise, UnaryValues) {
  Context ctx = make_ctx();
  for (DType dt : {DType::f32, DType::f64}) {
    Tensor x = vec(ctx, {-1, 0, 2}, {3}, dt);
    EXPECT_TRUE(allclose(relu(x), {0, 0, 2}));
    EXPECT_TRUE(allclose(sigmoid(x), {0.2689414213699951, 0.5, 0.8807970779778823}));
    EXPECT_TRUE(allclose(silu(x), {-0.2689414213699951, 0, 1.7615941559557646}));
    EXPECT_TRUE(allclose(gelu(x), {-0.15865525393145707, 0, 1.9544997361036416}));
    EXPECT_TRUE(allclose(cq::exp(x), {0.36787944117144233, 1, 7.38905609893065}, 1e-5));
    EXPECT_TRUE(allclose(neg(x), {1, 0, -2}));
    EXPECT_TRUE(allclose(cq::abs(x), {1, 0, 2}));
    EXPECT_TRUE(allclose(clamp(x, -0.5, 1), {-0.5, 0, 1}));
    EXPECT_TRUE(allclose(clamp(x, -INFINITY, 1), {-1, 0, 1}));
    EXPECT_TRUE(allclose(clamp(x, 0.5, INFINITY), {0.5, 0.5, 2}));
    EXPECT_TRUE(allclose(pow_scalar(x, 2), {1, 0, 4}));
    EXPECT_TRUE(allclose(pow_scalar(x, 3), {-1, 0, 8}));
    EXPECT_TRUE(allclose(add_scalar(x, 1.5), {0.5, 1.5, 3.5}));
    EXPECT_TRUE(allclose(mul_scalar(x, -2), {2, 0, -4}));
    Tensor p = vec(ctx, {0.25, 1, 4}, {3}, dt);
    EXPECT_TRUE(allclose(cq::log(p), {-1.3862943611198906, 0, 1.3862943611198906}));
    EXPECT_TRUE(allclose(cq::sqrt(p), {0.5, 1, 2}));
    EXPECT_TRUE(allclose(rsqrt(p), {2, 1, 0.5}));
    EXPECT_TRUE(allclose(pow_scalar(p, 0.5), {0.5, 1, 2}));
    EXPECT_TRUE(allclose(pow_scalar(p, -1), {4, 1, 0.25}));
    EXPECT_EQ(relu(x).dtype(), dt);
  }
  // Extreme inputs stay finite where the math is.
  Tensor big = vec(ctx, {-1000, 1000}, {2});
  EXPECT_TRUE(allclose(sigmoid(big), {0, 1}));
  EXPECT_TRUE(allclose(silu(big), {0, 1000}));
  EXPECT_TRUE(allclose(gelu(big), {0, 1000}));
}

TEST(Elementwise, NanPropagates) {
  Context ctx = make_ctx();
  Tensor x = vec(ctx, {NAN, 1}, {2});
  Tensor y = vec(ctx, {0, NAN}, {2});
  std::vector<float> r = relu(x).to_vector<float>();
  EXPECT_TRUE(std::isnan(r[0]));
  std::vector<float> c = clamp(x, 0, 0.5).to_vector<float>();
  EXPECT_TRUE(std::isnan(c[0]));
  EXPECT_EQ(c[1], 0.5f);
  for (const Tensor& m : {maximum(x, y), minimum(x, y), maximum(y, x), minimum(y, x)}) {
    std::vector<float> v = m.to_vector<float>();
    EXPECT_TRUE(std::isnan(v[0]) && std::isnan(v[1]));
  }
}

TEST(Elementwise, BinaryBroadcasting) {
  Context ctx = make_ctx();
  Tensor a = vec(ctx, {1, 2, 3, 4, 5, 6}, {2, 3});
  Tensor r = vec(ctx, {10, 20, 30}, {3});
  Tensor c = vec(ctx, {100, 200}, {2, 1});
  EXPECT_EQ(add(a, r).shape(), (Shape{2, 3}));
  EXPECT_TRUE(allclose(add(a, r), {11, 22, 33, 14, 25, 36}));
  EXPECT_TRUE(allclose(sub(a, c), {-99, -98, -97, -196, -195, -194}));
  EXPECT_TRUE(allclose(mul(c, r), {1000, 2000, 3000, 2000, 4000, 6000}));  // [2,1] * [3] -> [2,3]
  EXPECT_TRUE(allclose(div(r, a), {10, 10, 10, 2.5, 4, 5}));
  EXPECT_TRUE(allclose(cq::pow(a, vec(ctx, {2}, {1})), {1, 4, 9, 16, 25, 36}));
  EXPECT_TRUE(allclose(maximum(a, vec(ctx, {3.5}, {})), {3.5, 3.5, 3.5, 4, 5, 6}));
  EXPECT_TRUE(allclose(minimum(vec(ctx, {3.5}, {}), a), {1, 2, 3, 3.5, 3.5, 3.5}));
  // Scalar broadcast on both sides, 0-d result, and an empty broadcast.
  Tensor s = vec(ctx, {2}, {});
  EXPECT_TRUE(allclose(div(s, a), {2, 1, 2.0 / 3, 0.5, 0.4, 2.0 / 6}));
  EXPECT_EQ(mul(s, s).shape(), Shape{});
  EXPECT_TRUE(allclose(mul(s, s), {4}));
  EXPECT_EQ(add(ctx.zeros({0, 3}), r).shape(), (Shape{0, 3}));
  // Leading axes and size-1 axes on both sides: [2,1,3] + [4,1] -> [2,4,3].
  Tensor x = ctx.arange(6).reshape({2, 1, 3});
  Tensor y = ctx.arange(4).reshape({4, 1});
  Tensor z = add(x, y);
  EXPECT_EQ(z.shape(), (Shape{2, 4, 3}));
  std::vector<float> zv = z.to_vector<float>();
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 4; ++j)
      for (int k = 0; k < 3; ++k) EXPECT_EQ(zv[(i * 4 + j) * 3 + k], float(i * 3 + k + j));
}

TEST(Elementwise, Operators) {
  Context ctx = make_ctx();
  Tensor a = vec(ctx, {1, 2, 4}, {3});
  Tensor b = vec(ctx, {2, 2, 2}, {3});
  EXPECT_TRUE(allclose(a + b, {3, 4, 6}));
  EXPECT_TRUE(allclose(a - b, {-1, 0, 2}));
  EXPECT_TRUE(allclose(a * b, {2, 4, 8}));
  EXPECT_TRUE(allclose(a / b, {0.5, 1, 2}));
  EXPECT_TRUE(allclose(-a, {-1, -2, -4}));
  EXPECT_TRUE(allclose(a + 1.0, {2, 3, 5}));
  EXPECT_TRUE(allclose(1.0 + a, {2, 3, 5}));
  EXPECT_TRUE(allclose(a - 1.0, {0, 1, 3}));
  EXPECT_TRUE(allclose(1.0 - a, {0, -1, -3}));
  EXPECT_TRUE(allclose(a * 3.0, {3, 6, 12}));
  EXPECT_TRUE(allclose(3.0 * a, {3, 6, 12}));
  EXPECT_TRUE(allclose(a / 4.0, {0.25, 0.5, 1}));
  EXPECT_TRUE(allclose(4.0 / a, {4, 2, 1}));
  // True division: x / 3 rounds like x / 3, not like x * (1/3).
  Tensor t = vec(ctx, {1, 2, 5, 7, 10}, {5});
  std::vector<float> q = (t / 3.0).to_vector<float>();
  std::vector<float> tv = t.to_vector<float>();
  for (size_t i = 0; i < q.size(); ++i) EXPECT_EQ(q[i], tv[i] / 3.0f);
}

TEST(Elementwise, NonContiguousInputs) {
  Context ctx = make_ctx();
  Tensor a = ctx.randn({3, 4});
  Tensor b = ctx.randn({4, 3});
  Tensor an = cq::testing::make_noncontiguous(a);
  ASSERT_FALSE(an.is_contiguous());
  EXPECT_TRUE(allclose(gelu(an), gelu(a)));
  EXPECT_TRUE(allclose(cq::abs(an), cq::abs(a)));
  // Transposed view against its contiguous copy, sliced (offset) views, broadcasting a strided row.
  Tensor bt = b.permute({1, 0});
  EXPECT_TRUE(allclose(mul(a, bt), mul(a, bt.contiguous())));
  EXPECT_TRUE(allclose(sub(bt, an), sub(bt.contiguous(), a)));
  Tensor s = a.slice(1, 1, 4, 2);  // [3,2], offset 1
  EXPECT_TRUE(allclose(add(s, s), mul_scalar(s.contiguous(), 2)));
  Tensor row = b.select(1, 2);  // [4], stride 3
  EXPECT_TRUE(allclose(maximum(a, row), maximum(a, row.contiguous())));
  EXPECT_TRUE(allclose(sigmoid(b.slice(0, 1, 4, 2)), sigmoid(b.slice(0, 1, 4, 2).contiguous())));
  EXPECT_EQ(lt(a, bt).to_vector<uint8_t>(), lt(a, bt.contiguous()).to_vector<uint8_t>());
  Tensor cond = gt(a, ctx.zeros({}));
  Tensor at = a.permute({1, 0});  // [4,3], non-contiguous
  EXPECT_TRUE(
      allclose(where(cond.permute({1, 0}), b, at), where(cond.permute({1, 0}).contiguous(), b, at.contiguous())));
}

TEST(Elementwise, LargeBroadcastMatchesReference) {
  // Above the parallel threshold, through the tiled general path: [N,C,H,W] * [1,C,1,1] + [W] with a permuted input.
  Context ctx = make_ctx(2);
  const int64_t N = 2, C = 5, H = 40, W = 96;
  Tensor x = ctx.randn({N, H, W, C}).permute({0, 3, 1, 2});  // logical [N,C,H,W], channels-last storage
  Tensor g = ctx.randn({1, C, 1, 1});
  Tensor w = ctx.randn({W});
  Tensor y = add(mul(x, g), w);
  std::vector<float> xv = x.to_vector<float>(), gv = g.to_vector<float>(), wv = w.to_vector<float>();
  std::vector<float> yv = y.to_vector<float>();
  int bad = 0;
  for (int64_t i = 0; i < N * C * H * W; ++i) {
    int64_t c = (i / (H * W)) % C, k = i % W;
    double ref = double(xv[i]) * gv[c] + wv[k];
    if (std::fabs(yv[i] - ref) > 1e-5 * (1 + std::fabs(ref))) ++bad;
  }
  EXPECT_EQ(bad, 0);
  Tensor m = where(gt(x, ctx.zeros({})), x, g);
  std::vector<float> mv = m.to_vector<float>();
  bad = 0;
  for (int64_t i = 0; i < N * C * H * W; ++i) {
    int64_t c = (i / (H * W)) % C;
    if (mv[i] != (xv[i] > 0 ? xv[i] : gv[c])) ++bad;
  }
  EXPECT_EQ(bad, 0);
}

TEST(Elementwise, BackwardReducesBroadcast) {
  Context ctx = make_ctx();
  Tensor a = ctx.ones({2, 3});
  a.set_requires_grad(true);
  Tensor b = vec(ctx, {1, 2, 3}, {3});
  b.set_requires_grad(true);
  Tensor y = mul(a, b);
  y.backward(ctx.ones({2, 3}));
  EXPECT_TRUE(allclose(a.grad(), {1, 2, 3, 1, 2, 3}));
  EXPECT_TRUE(allclose(b.grad(), {2, 2, 2}));
  // maximum ties split the gradient; relu's gradient at 0 is 0.
  Tensor p = vec(ctx, {1, 0}, {2});
  p.set_requires_grad(true);
  Tensor q = vec(ctx, {1, 1}, {2});
  q.set_requires_grad(true);
  maximum(p, q).backward(ctx.ones({2}));
  EXPECT_TRUE(allclose(p.grad(), {0.5, 0}));
  EXPECT_TRUE(allclose(q.grad(), {0.5, 1}));
  Tensor z = vec(ctx, {0, -1, 2}, {3});
  z.set_requires_grad(true);
  relu(z).backward(ctx.ones({3}));
  EXPECT_TRUE(allclose(z.grad(), {0, 0, 1}));
  Tensor u = vec(ctx, {0, -1, 2}, {3});
  u.set_requires_grad(true);
  cq::abs(u).backward(ctx.ones({3}));
  EXPECT_TRUE(allclose(u.grad(), {0, -1, 1}));
  Tensor v = vec(ctx, {-1, 0, 1, 2}, {4});
  v.set_requires_grad(true);
  clamp(v, 0, 1).backward(ctx.ones({4}));
  EXPECT_TRUE(allclose(v.grad(), {0, 1, 1, 0}));
  // No graph when nothing requires grad or under no_grad.
  EXPECT_FALSE(add(b.detach(), b.detach()).requires_grad());
  {
    auto ng = ctx.no_grad();
    EXPECT_FALSE(gelu(a).requires_grad());
  }
  EXPECT_TRUE(gelu(a).requires_grad());
}

TEST(Forward, eq) {
  Context ctx = make_ctx();
  Tensor a = ctx.from_vector(std::vector<int64_t>{1, 2, 3, 4, 5, 6}, {2, 3});
  Tensor b = ctx.from_vector(std::vector<int64_t>{2, 2, 6}, {3});
  Tensor r = eq(a, b);
  EXPECT_EQ(r.dtype(), DType::u8);
  EXPECT_EQ(r.to_vector<uint8_t>(), (std::vector<uint8_t>{0, 1, 0, 0, 0, 1}));
  EXPECT_EQ(eq(vec(ctx, {1.5, NAN}, {2}), vec(ctx, {1.5, NAN}, {2})).to_vector<uint8_t>(),
            (std::vector<uint8_t>{1, 0}));
  Tensor u = ctx.from_vector(std::vector<double>{0, 255}, {2}, DType::u8);
  EXPECT_EQ(eq(u, ctx.from_vector(std::vector<double>{255}, {1}, DType::u8)).to_vector<uint8_t>(),
            (std::vector<uint8_t>{0, 1}));
}

TEST(Forward, ne) {
  Context ctx = make_ctx();
  Tensor a = ctx.from_vector(std::vector<double>{1, 2, 3}, {3}, DType::i32);
  Tensor b = ctx.from_vector(std::vector<double>{1, 0}, {2, 1}, DType::i32);
  EXPECT_EQ(ne(a, b).shape(), (Shape{2, 3}));
  EXPECT_EQ(ne(a, b).to_vector<uint8_t>(), (std::vector<uint8_t>{0, 1, 1, 1, 1, 1}));
  EXPECT_EQ(ne(vec(ctx, {NAN}, {1}), vec(ctx, {NAN}, {1})).to_vector<uint8_t>(), (std::vector<uint8_t>{1}));
}

TEST(Forward, lt) {
  Context ctx = make_ctx();
  Tensor a = vec(ctx, {-1, 0, 2}, {3}, DType::f64);
  EXPECT_EQ(lt(a, ctx.zeros({}, DType::f64)).to_vector<uint8_t>(), (std::vector<uint8_t>{1, 0, 0}));
  Tensor i = ctx.from_vector(std::vector<int64_t>{-5, 0, 5}, {3});
  EXPECT_EQ(lt(i, ctx.from_vector(std::vector<int64_t>{0}, {})).to_vector<uint8_t>(), (std::vector<uint8_t>{1, 0, 0}));
}

TEST(Forward, le) {
  Context ctx = make_ctx();
  Tensor a = vec(ctx, {-1, 0, 2}, {3});
  EXPECT_EQ(le(a, ctx.zeros({})).to_vector<uint8_t>(), (std::vector<uint8_t>{1, 1, 0}));
  EXPECT_EQ(le(ctx.zeros({}), a).to_vector<uint8_t>(), (std::vector<uint8_t>{0, 1, 1}));
}

TEST(Forward, gt) {
  Context ctx = make_ctx();
  Tensor a = vec(ctx, {1, 2, 3, 4}, {2, 2});
  Tensor b = vec(ctx, {2, 2, 2, 2}, {2, 2});
  EXPECT_EQ(gt(a, b).to_vector<uint8_t>(), (std::vector<uint8_t>{0, 0, 1, 1}));
  EXPECT_EQ(gt(a.permute({1, 0}), b).to_vector<uint8_t>(), (std::vector<uint8_t>{0, 1, 0, 1}));
}

TEST(Forward, ge) {
  Context ctx = make_ctx();
  Tensor a = ctx.from_vector(std::vector<double>{0, 7, 200}, {3}, DType::u8);
  Tensor b = ctx.from_vector(std::vector<double>{7}, {1}, DType::u8);
  EXPECT_EQ(ge(a, b).to_vector<uint8_t>(), (std::vector<uint8_t>{0, 1, 1}));
  EXPECT_FALSE(ge(vec(ctx, {1}, {1}), vec(ctx, {0}, {1})).requires_grad());
}

TEST(Elementwise, WhereValuesAndDtypes) {
  Context ctx = make_ctx();
  Tensor c = ctx.from_vector(std::vector<double>{1, 0, 2}, {3}, DType::u8);  // any nonzero is true
  EXPECT_TRUE(allclose(where(c, vec(ctx, {1, 2, 3}, {3}), vec(ctx, {-1}, {})), {1, -1, 3}));
  Tensor i =
      where(c, ctx.from_vector(std::vector<int64_t>{7}, {}), ctx.from_vector(std::vector<int64_t>{0, 0, 0}, {3}));
  EXPECT_EQ(i.dtype(), DType::i64);
  EXPECT_EQ(i.to_vector<int64_t>(), (std::vector<int64_t>{7, 0, 7}));
  // Condition broadcast against both values: [2,1] x [3] -> [2,3].
  Tensor c2 = ctx.from_vector(std::vector<double>{0, 1}, {2, 1}, DType::u8);
  EXPECT_TRUE(allclose(where(c2, vec(ctx, {1, 2, 3}, {3}), vec(ctx, {0}, {})), {0, 0, 0, 1, 2, 3}));
}

TEST(Elementwise, Errors) {
  Context ctx = make_ctx();
  Tensor a = ctx.zeros({2, 3});
  std::string m = error_of([&] { add(a, ctx.zeros({4})); });
  EXPECT_TRUE(contains(m, "add") && contains(m, "f32[2,3] cpu") && contains(m, "f32[4] cpu")) << m;
  m = error_of([&] { mul(a, ctx.zeros({2, 3}, DType::f64)); });
  EXPECT_TRUE(contains(m, "mul") && contains(m, "f32[2,3]") && contains(m, "f64[2,3]")) << m;
  m = error_of([&] { maximum(ctx.zeros({3, 1}), ctx.zeros({2, 1, 2})); });
  EXPECT_TRUE(m.empty()) << m;  // broadcasts to [2,3,2]
  m = error_of([&] { sub(ctx.zeros({3, 2}), ctx.zeros({2, 3})); });
  EXPECT_TRUE(contains(m, "sub") && contains(m, "[3,2]") && contains(m, "[2,3]")) << m;
  m = error_of([&] { relu(ctx.zeros({2}, DType::i64)); });
  EXPECT_TRUE(contains(m, "relu") && contains(m, "i64[2] cpu")) << m;
  m = error_of([&] { div(ctx.zeros({2}, DType::i32), ctx.zeros({2}, DType::i32)); });
  EXPECT_TRUE(contains(m, "div") && contains(m, "i32[2]")) << m;
  m = error_of([&] { lt(ctx.zeros({2}, DType::i64), ctx.zeros({2})); });
  EXPECT_TRUE(contains(m, "lt") && contains(m, "i64[2]") && contains(m, "f32[2]")) << m;
  m = error_of([&] { eq(ctx.zeros({2}), ctx.zeros({3})); });
  EXPECT_TRUE(contains(m, "eq") && contains(m, "[2]") && contains(m, "[3]")) << m;
  m = error_of([&] { where(ctx.zeros({2}), ctx.zeros({2}), ctx.zeros({2})); });
  EXPECT_TRUE(contains(m, "where") && contains(m, "u8") && contains(m, "f32[2]")) << m;
  m = error_of([&] { where(ctx.zeros({4}, DType::u8), ctx.zeros({2}), ctx.zeros({2})); });
  EXPECT_TRUE(contains(m, "where") && contains(m, "u8[4]") && contains(m, "f32[2]")) << m;
  m = error_of([&] { clamp(a, 1, -1); });
  EXPECT_TRUE(contains(m, "clamp") && contains(m, "f32[2,3]")) << m;
  m = error_of([&] { add(a, Tensor()); });
  EXPECT_TRUE(contains(m, "add") && contains(m, "undefined")) << m;
}

TEST(Elementwise, DeterministicAcrossThreadCounts) {
  // The heaviest paths: gelu forward/backward and a broadcasting binary op with its sum_to backward.
  std::vector<std::vector<float>> results[2];
  for (int t = 0; t < 2; ++t) {
    Context ctx = make_ctx(t + 1);
    Tensor x = ctx.randn({4, 16, 32, 33});
    x.set_requires_grad(true);
    Tensor s = ctx.randn({16, 1, 33});
    s.set_requires_grad(true);
    Tensor y = mul(gelu(x), s);
    Tensor g = ctx.randn(y.shape());
    std::vector<Tensor> gr = cq::grad(y, {x, s}, g);
    results[t] = {y.to_vector<float>(), gr[0].to_vector<float>(), gr[1].to_vector<float>()};
  }
  for (size_t k = 0; k < 3; ++k) EXPECT_TRUE(results[0][k] == results[1][k]) << "result " << k;
}

// The float GELU runs on erf_fast (no libm call, so it vectorises): within a few 1e-7 of the libm formula over the
// whole range, including the |x| = 0.5 switch between its two approximations and both tails.
TEST(Elementwise, FastErfGeluMatchesLibm) {
  double worst_erf = 0, worst_gelu = 0;
  for (int i = -80000; i <= 80000; ++i) {
    float x = static_cast<float>(i) * 1e-4f;
    double ref = std::erf(static_cast<double>(x));
    worst_erf = std::max(worst_erf, std::fabs(static_cast<double>(ew::erf_fast(x)) - ref));
    double gelu_ref = 0.5 * x * (1.0 + std::erf(x / std::sqrt(2.0)));
    worst_gelu = std::max(worst_gelu, std::fabs(static_cast<double>(ew::Gelu{}(x)) - gelu_ref));
  }
  std::printf("  erf_fast max abs err %.2e, gelu max abs err %.2e over [-8, 8]\n", worst_erf, worst_gelu);
  EXPECT_LT(worst_erf, 5e-7);  // A&S 7.1.26 (1.5e-7) plus float rounding and exp_fast
  EXPECT_LT(worst_gelu, 2e-6);  // |x| <= 8: a few ulp of the output
}
