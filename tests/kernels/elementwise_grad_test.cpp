// Float64 gradient checks of every differentiable elementwise op (GradCheck.<op>): several shapes, broadcasting,
// and non-contiguous inputs (a permute or strided slice applied inside the checked function).
#include <gtest/gtest.h>

#include <cmath>

#include "kernels/elementwise/elementwise.h"
#include "tensor/context.h"
#include "tests/support/gradcheck.h"
#include "tests/support/test_util.h"

using namespace cq;
using cq::testing::gradcheck;

namespace {

Context make_ctx() { return cq::testing::make_ctx(1, 11); }

Tensor leaf(Tensor t) {
  t.set_requires_grad(true);
  return t;
}

using Unary = std::function<Tensor(const Tensor&)>;

// Inputs uniform in [lo, hi] (chosen away from kinks and outside each op's domain boundary).
void check_unary(const Unary& f, double lo, double hi) {
  Context ctx = make_ctx();
  for (const Shape& s : {Shape{}, Shape{7}, Shape{2, 3, 4}}) {
    Tensor x = leaf(ctx.rand(s, lo, hi, DType::f64));
    EXPECT_TRUE(gradcheck(ctx, [&](const std::vector<Tensor>& in) { return f(in[0]); }, {x})) << shape_str(s);
  }
  // Non-contiguous: transposed, and every other column.
  Tensor x = leaf(ctx.rand({3, 4}, lo, hi, DType::f64));
  EXPECT_TRUE(gradcheck(ctx, [&](const std::vector<Tensor>& in) { return f(in[0].permute({1, 0})); }, {x}));
  EXPECT_TRUE(gradcheck(ctx, [&](const std::vector<Tensor>& in) { return f(in[0].slice(1, 0, 4, 2)); }, {x}));
  // Composed with another op, so the incoming gradient is not all ones and g may be non-contiguous.
  EXPECT_TRUE(gradcheck(ctx, [&](const std::vector<Tensor>& in) { return f(in[0]).permute({1, 0}); }, {x}));
}

using Binary = std::function<Tensor(const Tensor&, const Tensor&)>;

// (a, b) shape pairs covering same shape, trailing-axis broadcast, two-sided broadcast and 0-d operands.
void check_binary(const Binary& f, double alo, double ahi, double blo, double bhi) {
  Context ctx = make_ctx();
  const std::vector<std::pair<Shape, Shape>> shapes = {
      {{2, 3}, {2, 3}}, {{2, 3}, {3}}, {{2, 1, 4}, {3, 1}}, {{}, {2, 2}}, {{2, 2}, {}}, {{1, 3}, {2, 1}}};
  for (const auto& [sa, sb] : shapes) {
    Tensor a = leaf(ctx.rand(sa, alo, ahi, DType::f64));
    Tensor b = leaf(ctx.rand(sb, blo, bhi, DType::f64));
    EXPECT_TRUE(gradcheck(ctx, [&](const std::vector<Tensor>& in) { return f(in[0], in[1]); }, {a, b}))
        << shape_str(sa) << " with " << shape_str(sb);
    // Only one side requiring grad.
    Tensor bc = b.detach();
    EXPECT_TRUE(gradcheck(ctx, [&](const std::vector<Tensor>& in) { return f(in[0], bc); }, {a}));
  }
  // Non-contiguous operands: a transposed, b a strided slice, broadcast together.
  Tensor a = leaf(ctx.rand({4, 3}, alo, ahi, DType::f64));
  Tensor b = leaf(ctx.rand({8}, blo, bhi, DType::f64));
  EXPECT_TRUE(gradcheck(
      ctx, [&](const std::vector<Tensor>& in) { return f(in[0].permute({1, 0}), in[1].slice(0, 1, 8, 2)); }, {a, b}));
}

}  // namespace

TEST(GradCheck, relu) { check_unary([](const Tensor& x) { return relu(x); }, -2, 2); }
TEST(GradCheck, sigmoid) { check_unary([](const Tensor& x) { return sigmoid(x); }, -4, 4); }
TEST(GradCheck, silu) { check_unary([](const Tensor& x) { return silu(x); }, -4, 4); }
TEST(GradCheck, gelu) { check_unary([](const Tensor& x) { return gelu(x); }, -3, 3); }
TEST(GradCheck, exp) { check_unary([](const Tensor& x) { return cq::exp(x); }, -2, 2); }
TEST(GradCheck, log) { check_unary([](const Tensor& x) { return cq::log(x); }, 0.2, 3); }
TEST(GradCheck, sqrt) { check_unary([](const Tensor& x) { return cq::sqrt(x); }, 0.2, 3); }
TEST(GradCheck, rsqrt) { check_unary([](const Tensor& x) { return rsqrt(x); }, 0.3, 3); }
TEST(GradCheck, neg) { check_unary([](const Tensor& x) { return neg(x); }, -2, 2); }
TEST(GradCheck, abs) { check_unary([](const Tensor& x) { return cq::abs(x); }, -2, 2); }

TEST(GradCheck, clamp) {
  check_unary([](const Tensor& x) { return clamp(x, -0.5, 0.7); }, -2, 2);
  check_unary([](const Tensor& x) { return clamp(x, -INFINITY, 0.3); }, -2, 2);
  check_unary([](const Tensor& x) { return clamp(x, -0.3, INFINITY); }, -2, 2);
}

TEST(GradCheck, pow_scalar) {
  for (double p : {2.0, 3.0, 0.5, -1.5, 0.0, 1.0})
    check_unary([p](const Tensor& x) { return pow_scalar(x, p); }, 0.3, 2);
  check_unary([](const Tensor& x) { return pow_scalar(x, 3.0); }, -2, 2);  // odd integer power of negatives
}

TEST(GradCheck, add_scalar) {
  check_unary([](const Tensor& x) { return add_scalar(x, 1.5); }, -2, 2);
  check_unary([](const Tensor& x) { return x - 0.5; }, -2, 2);  // operator routes
  check_unary([](const Tensor& x) { return 0.5 + x; }, -2, 2);
}

TEST(GradCheck, mul_scalar) {
  check_unary([](const Tensor& x) { return mul_scalar(x, -2.5); }, -2, 2);
  check_unary([](const Tensor& x) { return 3.0 * x; }, -2, 2);
}

TEST(GradCheck, add) { check_binary([](const Tensor& a, const Tensor& b) { return a + b; }, -2, 2, -2, 2); }
TEST(GradCheck, sub) {
  check_binary([](const Tensor& a, const Tensor& b) { return a - b; }, -2, 2, -2, 2);
  check_unary([](const Tensor& x) { return 2.0 - x; }, -2, 2);  // double - Tensor routes through sub
}
TEST(GradCheck, mul) { check_binary([](const Tensor& a, const Tensor& b) { return a * b; }, -2, 2, -2, 2); }
TEST(GradCheck, div) {
  check_binary([](const Tensor& a, const Tensor& b) { return a / b; }, -2, 2, 0.5, 2);
  check_binary([](const Tensor& a, const Tensor& b) { return a / b; }, -2, 2, -2, -0.5);
  check_unary([](const Tensor& x) { return x / 4.0; }, -2, 2);  // Tensor / double and double / Tensor use div
  check_unary([](const Tensor& x) { return 2.0 / x; }, 0.5, 2);
}
TEST(GradCheck, pow) {
  check_binary([](const Tensor& a, const Tensor& b) { return cq::pow(a, b); }, 0.3, 2, -1.5, 1.5);
}

TEST(GradCheck, maximum) {
  check_binary([](const Tensor& a, const Tensor& b) { return maximum(a, b); }, -2, 2, -2, 2);
  // Exact ties: central differences see half the slope on each side, matching the 0.5/0.5 split.
  Context ctx = make_ctx();
  Tensor a = leaf(ctx.from_vector(std::vector<double>{1, -2, 0.5, 3}, {4}, DType::f64));
  Tensor b = leaf(ctx.from_vector(std::vector<double>{1, 0, 0.5, -1}, {4}, DType::f64));
  EXPECT_TRUE(gradcheck(ctx, [](const std::vector<Tensor>& in) { return maximum(in[0], in[1]); }, {a, b}));
}

TEST(GradCheck, minimum) {
  check_binary([](const Tensor& a, const Tensor& b) { return minimum(a, b); }, -2, 2, -2, 2);
  Context ctx = make_ctx();
  Tensor a = leaf(ctx.from_vector(std::vector<double>{1, -2, 0.5, 3}, {4}, DType::f64));
  Tensor b = leaf(ctx.from_vector(std::vector<double>{1, 0, 0.5, -1}, {4}, DType::f64));
  EXPECT_TRUE(gradcheck(ctx, [](const std::vector<Tensor>& in) { return minimum(in[0], in[1]); }, {a, b}));
}

TEST(GradCheck, where) {
  Context ctx = make_ctx();
  // cond [2,1], a [2,3], b [3]: all three broadcast.
  Tensor cond = gt(ctx.randn({2, 1}, DType::f64), ctx.zeros({}, DType::f64));
  Tensor c2 = ctx.from_vector(std::vector<double>{1, 0}, {2, 1}, DType::u8);
  Tensor a = leaf(ctx.randn({2, 3}, DType::f64));
  Tensor b = leaf(ctx.randn({3}, DType::f64));
  for (const Tensor& c : {cond, c2}) {
    EXPECT_TRUE(gradcheck(ctx, [&](const std::vector<Tensor>& in) { return where(c, in[0], in[1]); }, {a, b}));
    EXPECT_TRUE(gradcheck(ctx, [&](const std::vector<Tensor>& in) { return where(c, in[1], in[0]); }, {a, b}));
  }
  // Elementwise condition over non-contiguous operands.
  Tensor x = leaf(ctx.randn({3, 4}, DType::f64));
  Tensor y = leaf(ctx.randn({4, 3}, DType::f64));
  Tensor c3 = gt(ctx.randn({4, 3}, DType::f64), ctx.zeros({}, DType::f64));
  EXPECT_TRUE(gradcheck(
      ctx, [&](const std::vector<Tensor>& in) { return where(c3, in[0].permute({1, 0}), in[1]); }, {x, y}));
}
