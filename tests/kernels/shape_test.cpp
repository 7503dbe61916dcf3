// concat, pad, roll: gradient checks, hand-computed forwards, strided inputs, error messages, thread determinism.
#include <gtest/gtest.h>

#include <functional>
#include <string>

#include "kernels/shape/shape.h"
#include "tensor/context.h"
#include "tests/support/gradcheck.h"
#include "tests/support/test_util.h"

using namespace cq;
using cq::testing::allclose;
using cq::testing::gradcheck;
using cq::testing::make_noncontiguous;

namespace {
Context make_ctx(int threads = 1) { return cq::testing::make_ctx(threads, 11); }

Tensor leaf(Context& ctx, const Shape& s) { return ctx.randn(s, DType::f64).set_requires_grad(); }

using cq::testing::expect_error;
}  // namespace

// ---------------- concat ----------------
TEST(GradCheck, concat) {
  Context ctx = make_ctx();
  Tensor a = leaf(ctx, {2, 3}), b = leaf(ctx, {2, 1}), c = leaf(ctx, {2, 2});
  EXPECT_TRUE(gradcheck(ctx, [](const std::vector<Tensor>& in) { return concat(in, 1); }, {a, b, c}));
  EXPECT_TRUE(gradcheck(ctx, [](const std::vector<Tensor>& in) { return concat(in, -1); }, {a, b, c}));
  Tensor d = leaf(ctx, {1, 3}), e = leaf(ctx, {3, 3});
  EXPECT_TRUE(gradcheck(ctx, [](const std::vector<Tensor>& in) { return concat(in, 0); }, {a, d, e}));
  // 4-D, middle axis, one input seen through a permutation (non-contiguous), one with zero size along the axis.
  Tensor f = leaf(ctx, {2, 2, 3, 2}), g = leaf(ctx, {2, 3, 2, 3}), h = leaf(ctx, {2, 0, 3, 2});
  EXPECT_TRUE(gradcheck(
      ctx, [](const std::vector<Tensor>& in) { return concat({in[0], in[1].permute({0, 3, 1, 2}), in[2]}, -3); },
      {f, g, h}));
  // The same input twice: its two gradient slices add up.
  EXPECT_TRUE(gradcheck(ctx, [](const std::vector<Tensor>& in) { return concat({in[0], in[0]}, 0); }, {a}));
}

TEST(Shape, ConcatForward) {
  Context ctx = make_ctx();
  Tensor a = ctx.arange(6).reshape({2, 3});
  Tensor b = ctx.from_vector(std::vector<double>{10, 11}, {2, 1});
  EXPECT_TRUE(allclose(concat({a, b}, 1), {0, 1, 2, 10, 3, 4, 5, 11}));
  EXPECT_TRUE(allclose(concat({b, a}, -1), {10, 0, 1, 2, 11, 3, 4, 5}));
  EXPECT_TRUE(allclose(concat({a, a.slice(0, 1, 2)}, 0), {0, 1, 2, 3, 4, 5, 3, 4, 5}));
  EXPECT_EQ(concat({a, b}, 1).shape(), (Shape{2, 4}));
  // Non-contiguous inputs (transposed storage, stepped slice) and integer dtypes.
  Tensor at = make_noncontiguous(a);
  EXPECT_TRUE(allclose(concat({at, b}, 1), {0, 1, 2, 10, 3, 4, 5, 11}));
  Tensor s = ctx.arange(12).reshape({2, 6}).slice(1, 0, 6, 2);  // [[0,2,4],[6,8,10]]
  EXPECT_TRUE(allclose(concat({s, a}, 0), {0, 2, 4, 6, 8, 10, 0, 1, 2, 3, 4, 5}));
  Tensor i = concat({a.to(DType::i64), b.to(DType::i64)}, 1);
  EXPECT_EQ(i.dtype(), DType::i64);
  EXPECT_EQ(i.to_vector<int64_t>(), (std::vector<int64_t>{0, 1, 2, 10, 3, 4, 5, 11}));
}

TEST(Shape, ConcatLargeMatchesSlices) {
  // U-Net decoder shape: skip connection joined on the channel axis; row chunking must not drop or shift bytes.
  Context ctx = make_ctx(2);
  Tensor a = ctx.randn({2, 48, 40, 40}), b = ctx.randn({2, 16, 40, 40});
  Tensor bn = make_noncontiguous(b);
  Tensor y = concat({a, bn, a}, 1);
  EXPECT_EQ(y.shape(), (Shape{2, 112, 40, 40}));
  EXPECT_EQ(cq::testing::max_abs_diff(y.slice(1, 0, 48), a), 0.0);
  EXPECT_EQ(cq::testing::max_abs_diff(y.slice(1, 48, 64), b), 0.0);
  EXPECT_EQ(cq::testing::max_abs_diff(y.slice(1, 64, 112), a), 0.0);
}

TEST(Shape, ConcatSwinPatchMerging) {
  // Swin's patch merging joins the four strided 2x2 sub-grids of [B, H, W, C] on the channel axis.
  Context ctx = make_ctx(2);
  Tensor x = ctx.arange(2 * 4 * 6 * 3).reshape({2, 4, 6, 3});
  Tensor p00 = x.slice(1, 0, 4, 2).slice(2, 0, 6, 2), p10 = x.slice(1, 1, 4, 2).slice(2, 0, 6, 2);
  Tensor p01 = x.slice(1, 0, 4, 2).slice(2, 1, 6, 2), p11 = x.slice(1, 1, 4, 2).slice(2, 1, 6, 2);
  Tensor y = concat({p00, p10, p01, p11}, -1);
  EXPECT_EQ(y.shape(), (Shape{2, 2, 3, 12}));
  // Element [b, i, j, 3 * k + c] comes from sub-grid k at (2i + di_k, 2j + dj_k), channel c.
  std::vector<float> v = y.to_vector<float>();
  const int di[4] = {0, 1, 0, 1}, dj[4] = {0, 0, 1, 1};
  int bad = 0;
  for (int b = 0; b < 2; ++b)
    for (int i = 0; i < 2; ++i)
      for (int j = 0; j < 3; ++j)
        for (int k = 0; k < 4; ++k)
          for (int c = 0; c < 3; ++c) {
            float want = static_cast<float>(((b * 4 + 2 * i + di[k]) * 6 + 2 * j + dj[k]) * 3 + c);
            bad += v[((b * 2 + i) * 3 + j) * 12 + 3 * k + c] != want;
          }
  EXPECT_EQ(bad, 0);
}

TEST(Shape, ConcatThreadDeterminism) {
  std::vector<float> r[2];
  for (int t = 1; t <= 2; ++t) {
    Context ctx = make_ctx(t);
    Tensor a = ctx.randn({2, 64, 48, 48}), b = ctx.randn({2, 32, 48, 48}), c = ctx.randn({2, 48, 48, 16});
    Tensor y = concat({a, b, c.permute({0, 3, 1, 2})}, 1);
    r[t - 1] = y.to_vector<float>();
  }
  EXPECT_TRUE(r[0] == r[1]);
}

TEST(Shape, ConcatErrors) {
  Context ctx = make_ctx();
  Tensor a = ctx.zeros({2, 3}), b = ctx.zeros({3, 2});
  expect_error([&] { concat({a, b}, 1); }, {"concat", "f32[2,3] cpu", "f32[3,2] cpu"});
  expect_error([&] { concat({a, ctx.zeros({2, 3, 1})}, 0); }, {"concat", "f32[2,3,1] cpu"});
  expect_error([&] { concat({a, ctx.zeros({2, 3}, DType::f64)}, 0); }, {"concat", "f32[2,3] cpu", "f64[2,3] cpu"});
  expect_error([&] { concat({a}, 2); }, {"concat"});
  expect_error([&] { concat({}, 0); }, {"concat"});
}

// ---------------- pad ----------------
TEST(GradCheck, pad) {
  Context ctx = make_ctx();
  Tensor x = leaf(ctx, {2, 3, 4});
  auto check = [&](std::vector<int64_t> pads, double v) {
    EXPECT_TRUE(gradcheck(ctx, [pads, v](const std::vector<Tensor>& in) { return pad(in[0], pads, v); }, {x}))
        << "pads " << shape_str(pads);
  };
  check({1, 2}, 0.0);
  check({0, 0, 2, 1}, 1.5);
  check({-1, 2, 1, -2}, -3.0);          // crop and pad in one call
  check({-1, -1, 0, 0, 1, 1}, 0.0);     // every axis
  check({-4, 1}, 0.0);                  // whole last axis cropped away: gradient is all zero
  EXPECT_TRUE(gradcheck(
      ctx, [](const std::vector<Tensor>& in) { return pad(in[0].permute({2, 0, 1}), {1, -1, 0, 2}, 0.5); }, {x}));
}

TEST(Shape, PadForward) {
  Context ctx = make_ctx();
  Tensor a = ctx.arange(6).reshape({2, 3});
  EXPECT_TRUE(allclose(pad(a, {1, 0}, -1), {-1, 0, 1, 2, -1, 3, 4, 5}));
  EXPECT_TRUE(allclose(pad(a, {0, 0, 1, 0}, 9), {9, 9, 9, 0, 1, 2, 3, 4, 5}));
  EXPECT_TRUE(allclose(pad(a, {-1, 1}, 7), {1, 2, 7, 4, 5, 7}));
  EXPECT_TRUE(allclose(pad(a, {0, 0, -1, 0}), {3, 4, 5}));
  EXPECT_EQ(pad(a, {1, 1, 1, 1}).shape(), (Shape{4, 5}));
  EXPECT_EQ(pad(a, {-3, 0}).shape(), (Shape{2, 0}));
  EXPECT_TRUE(allclose(pad(a, {}), {0, 1, 2, 3, 4, 5}));
  EXPECT_TRUE(allclose(pad(ctx.scalar(3), {}), {3}));
  // Transposed view [[0,3],[1,4],[2,5]]; stepped slice; integer dtype.
  EXPECT_TRUE(allclose(pad(a.permute({1, 0}), {1, 0}), {0, 0, 3, 0, 1, 4, 0, 2, 5}));
  EXPECT_TRUE(allclose(pad(ctx.arange(8).slice(0, 1, 8, 3), {1, 1}, -1), {-1, 1, 4, 7, -1}));
  EXPECT_EQ(pad(a.to(DType::u8), {0, 1}, 200).to_vector<uint8_t>(), (std::vector<uint8_t>{0, 1, 2, 200, 3, 4, 5, 200}));
  Tensor big = ctx.randn({3, 5, 7});
  EXPECT_TRUE(allclose(pad(make_noncontiguous(big), {2, -1, -1, 3}), pad(big, {2, -1, -1, 3})));
}

TEST(Shape, PadErrors) {
  Context ctx = make_ctx();
  Tensor a = ctx.zeros({2, 3});
  expect_error([&] { pad(a, {1}); }, {"pad", "f32[2,3] cpu", "[1]"});
  expect_error([&] { pad(a, {0, 0, 0, 0, 1, 1}); }, {"pad", "f32[2,3] cpu"});
  expect_error([&] { pad(a, {-2, -2}); }, {"pad", "f32[2,3] cpu", "below zero"});
}

// ---------------- roll ----------------
TEST(GradCheck, roll) {
  Context ctx = make_ctx();
  Tensor x = leaf(ctx, {3, 4, 5});
  auto check = [&](std::vector<int64_t> shifts, std::vector<int64_t> axes) {
    EXPECT_TRUE(gradcheck(ctx, [=](const std::vector<Tensor>& in) { return roll(in[0], shifts, axes); }, {x}))
        << "shifts " << shape_str(shifts) << " axes " << shape_str(axes);
  };
  check({1}, {0});
  check({-2, 7}, {-1, 1});        // negative shift, shift larger than the size, negative axis
  check({3, -3, 2}, {0, 1, 2});
  check({1, 1}, {2, 2});          // repeated axis: shifts add up
  check({5}, {});                 // flattened roll
  EXPECT_TRUE(gradcheck(
      ctx, [](const std::vector<Tensor>& in) { return roll(in[0].permute({2, 0, 1}), {-3, 2}, {1, 2}); }, {x}));
}

TEST(Shape, RollForward) {
  Context ctx = make_ctx();
  Tensor v = ctx.arange(5);
  EXPECT_TRUE(allclose(roll(v, {2}, {0}), {3, 4, 0, 1, 2}));
  EXPECT_TRUE(allclose(roll(v, {-1}, {0}), {1, 2, 3, 4, 0}));
  EXPECT_TRUE(allclose(roll(v, {7}, {-1}), {3, 4, 0, 1, 2}));
  EXPECT_TRUE(allclose(roll(v, {-10}, {0}), {0, 1, 2, 3, 4}));
  Tensor a = ctx.arange(6).reshape({2, 3});
  EXPECT_TRUE(allclose(roll(a, {1}, {0}), {3, 4, 5, 0, 1, 2}));
  EXPECT_TRUE(allclose(roll(a, {1, -1}, {0, 1}), {4, 5, 3, 1, 2, 0}));
  EXPECT_TRUE(allclose(roll(a, {1}, {}), {5, 0, 1, 2, 3, 4}));  // flattened, like torch.roll without dims
  // Transposed view [[0,3],[1,4],[2,5]] rolled by one row; stepped slice; integer dtype.
  EXPECT_TRUE(allclose(roll(a.permute({1, 0}), {1}, {0}), {2, 5, 0, 3, 1, 4}));
  EXPECT_TRUE(allclose(roll(ctx.arange(9).slice(0, 0, 9, 2), {1}, {0}), {8, 0, 2, 4, 6}));
  EXPECT_EQ(roll(a.to(DType::i32), {1}, {1}).to_vector<int32_t>(), (std::vector<int32_t>{2, 0, 1, 5, 3, 4}));
  // Swin's cyclic shift: roll by (-s, -s) on H, W of [B, H, W, C], then back.
  Tensor x = ctx.randn({2, 8, 8, 6});
  Tensor y = roll(x, {-3, -3}, {1, 2});
  EXPECT_EQ(cq::testing::max_abs_diff(roll(y, {3, 3}, {1, 2}), x), 0.0);
  EXPECT_TRUE(allclose(roll(make_noncontiguous(x), {-3, 2}, {1, 3}), roll(x, {-3, 2}, {1, 3})));
}

TEST(Shape, RollErrors) {
  Context ctx = make_ctx();
  Tensor a = ctx.zeros({2, 3});
  expect_error([&] { roll(a, {1, 2}, {0}); }, {"roll", "f32[2,3] cpu"});
  expect_error([&] { roll(a, {1, 2}, {}); }, {"roll", "f32[2,3] cpu"});
  expect_error([&] { roll(a, {1}, {2}); }, {"roll"});
}
