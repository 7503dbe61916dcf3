// gather, index_select, one_hot: gradient checks (repeated indices), hand-computed forwards, strided inputs, index
// validation messages, and determinism of the scatter-add backward across thread counts.
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
Context make_ctx(int threads = 1) { return cq::testing::make_ctx(threads, 13); }

Tensor leaf(Context& ctx, const Shape& s) { return ctx.randn(s, DType::f64).set_requires_grad(); }

Tensor ivec(Context& ctx, const std::vector<int64_t>& v, const Shape& s) { return ctx.from_vector(v, s); }

using cq::testing::expect_error;
}  // namespace

// ---------------- gather ----------------
TEST(GradCheck, gather) {
  Context ctx = make_ctx();
  Tensor x = leaf(ctx, {3, 4});
  // Axis 0, index taller than x along the axis, with repeats (their gradients add up).
  Tensor i0 = ivec(ctx, {0, 2, 2, 1, 2, 2, 0, 1, 0, 0, 0, 0, 1, 1, 1, 2, 0, 0, 2, 2}, {5, 4});
  EXPECT_TRUE(gradcheck(ctx, [&](const std::vector<Tensor>& in) { return gather(in[0], 0, i0); }, {x}));
  // Negative axis, index smaller than x off the axis.
  Tensor i1 = ivec(ctx, {3, 3, 0, 1, 1, 1}, {2, 3});
  EXPECT_TRUE(gradcheck(ctx, [&](const std::vector<Tensor>& in) { return gather(in[0], -1, i1); }, {x}));
  // 3-D, middle axis, non-contiguous x.
  Tensor y = leaf(ctx, {2, 3, 4});
  Tensor i2 = ctx.randint(0, 4, {2, 5, 2});
  EXPECT_TRUE(gradcheck(
      ctx, [&](const std::vector<Tensor>& in) { return gather(in[0].permute({0, 2, 1}), 1, i2); }, {y}));
  Tensor i3 = ctx.randint(0, 2, {2, 3, 4});
  EXPECT_TRUE(gradcheck(ctx, [&](const std::vector<Tensor>& in) { return gather(in[0], 0, i3); }, {y}));
}

TEST(Shape, GatherForward) {
  Context ctx = make_ctx();
  Tensor x = ctx.from_vector(std::vector<double>{1, 2, 3, 4}, {2, 2});
  EXPECT_TRUE(allclose(gather(x, 1, ivec(ctx, {0, 0, 1, 0}, {2, 2})), {1, 1, 4, 3}));  // torch.gather docs example
  EXPECT_TRUE(allclose(gather(x, 0, ivec(ctx, {1, 0, 1, 1, 0, 0}, {3, 2})), {3, 2, 3, 4, 1, 2}));
  EXPECT_TRUE(allclose(gather(x, 1, ivec(ctx, {1, 0}, {2, 1})), {2, 3}));
  // Transposed x [[1,3],[2,4]]; non-contiguous index; integer dtype.
  EXPECT_TRUE(allclose(gather(x.permute({1, 0}), 1, ivec(ctx, {1, 0, 0, 1}, {2, 2})), {3, 1, 2, 4}));
  Tensor idx_t = ivec(ctx, {1, 1, 0, 1}, {2, 2}).permute({1, 0});  // [[1,0],[1,1]]
  EXPECT_TRUE(allclose(gather(x, 1, idx_t), {2, 1, 4, 4}));
  EXPECT_EQ(gather(x.to(DType::i64), 1, ivec(ctx, {1, 1, 0, 0}, {2, 2})).to_vector<int64_t>(),
            (std::vector<int64_t>{2, 2, 3, 3}));
  Tensor big = ctx.randn({4, 6, 5});
  Tensor bi = ctx.randint(0, 6, {3, 7, 5});
  EXPECT_TRUE(allclose(gather(make_noncontiguous(big), 1, bi), gather(big, 1, bi)));
}

TEST(Shape, GatherErrors) {
  Context ctx = make_ctx();
  Tensor x = ctx.zeros({2, 3});
  expect_error([&] { gather(x, 1, ivec(ctx, {0, 1, 2, 0, 5, 1}, {2, 3})); },
               {"gather", "index value 5", "position [1,1]", "[0, 3)", "f32[2,3] cpu"});
  expect_error([&] { gather(x, 0, ivec(ctx, {-1}, {1, 1})); }, {"gather", "index value -1", "position [0,0]"});
  expect_error([&] { gather(x, 0, ivec(ctx, {0, 0, 0, 0}, {1, 4})); }, {"gather", "i64[1,4] cpu", "f32[2,3] cpu"});
  expect_error([&] { gather(x, 0, ivec(ctx, {0, 0}, {2})); }, {"gather", "i64[2] cpu", "f32[2,3] cpu"});
  expect_error([&] { gather(x, 0, ctx.zeros({2, 3}, DType::i32)); }, {"gather", "i64", "i32[2,3] cpu"});
}

// ---------------- index_select ----------------
TEST(GradCheck, index_select) {
  Context ctx = make_ctx();
  Tensor x = leaf(ctx, {4, 3, 2});
  Tensor rep = ivec(ctx, {2, 0, 2, 3, 2}, {5});  // repeated indices; row 1 never selected (zero gradient)
  EXPECT_TRUE(gradcheck(ctx, [&](const std::vector<Tensor>& in) { return index_select(in[0], 0, rep); }, {x}));
  Tensor i1 = ivec(ctx, {1, 1, 0}, {3});
  EXPECT_TRUE(gradcheck(ctx, [&](const std::vector<Tensor>& in) { return index_select(in[0], -1, i1); }, {x}));
  Tensor i2 = ivec(ctx, {2, 2, 2, 1}, {4});
  EXPECT_TRUE(gradcheck(ctx, [&](const std::vector<Tensor>& in) { return index_select(in[0], 1, i2); }, {x}));
  EXPECT_TRUE(gradcheck(
      ctx, [&](const std::vector<Tensor>& in) { return index_select(in[0].permute({2, 0, 1}), 2, i2); }, {x}));
  Tensor none = ctx.zeros({0}, DType::i64);
  EXPECT_TRUE(gradcheck(
      ctx, [&](const std::vector<Tensor>& in) { return concat({index_select(in[0], 0, none), in[0]}, 0); }, {x}));
}

TEST(Shape, IndexSelectForward) {
  Context ctx = make_ctx();
  Tensor a = ctx.arange(12).reshape({3, 4});
  EXPECT_TRUE(allclose(index_select(a, 0, ivec(ctx, {2, 0, 2}, {3})), {8, 9, 10, 11, 0, 1, 2, 3, 8, 9, 10, 11}));
  EXPECT_TRUE(allclose(index_select(a, -1, ivec(ctx, {3, 1}, {2})), {3, 1, 7, 5, 11, 9}));
  EXPECT_EQ(index_select(a, 0, ctx.zeros({0}, DType::i64)).shape(), (Shape{0, 4}));
  // Transposed view [[0,4,8],[1,5,9],...]; stepped index; integer dtype.
  EXPECT_TRUE(allclose(index_select(a.permute({1, 0}), 1, ivec(ctx, {2, 0}, {2})), {8, 0, 9, 1, 10, 2, 11, 3}));
  Tensor si = ivec(ctx, {1, 9, 2, 9, 0, 9}, {6}).slice(0, 0, 6, 2);  // [1, 2, 0]
  EXPECT_TRUE(allclose(index_select(a, 0, si), {4, 5, 6, 7, 8, 9, 10, 11, 0, 1, 2, 3}));
  EXPECT_EQ(index_select(a.to(DType::u8), 1, ivec(ctx, {0, 0}, {2})).to_vector<uint8_t>(),
            (std::vector<uint8_t>{0, 0, 4, 4, 8, 8}));
}

TEST(Shape, IndexSelectErrors) {
  Context ctx = make_ctx();
  Tensor x = ctx.zeros({2, 3});
  expect_error([&] { index_select(x, 1, ivec(ctx, {0, 3}, {2})); },
               {"index_select", "index value 3", "position [1]", "[0, 3)", "f32[2,3] cpu"});
  expect_error([&] { index_select(x, 0, ivec(ctx, {0, 1}, {1, 2})); }, {"index_select", "1-D", "i64[1,2] cpu"});
  expect_error([&] { index_select(x, 0, ctx.zeros({2}, DType::f32)); }, {"index_select", "i64", "f32[2] cpu"});
}

TEST(Shape, ScatterBackwardThreadDeterminism) {
  std::vector<float> r[2][2];
  for (int t = 1; t <= 2; ++t) {
    Context ctx = make_ctx(t);
    Tensor x = ctx.randn({64, 96, 12}).set_requires_grad();
    Tensor si = ctx.randint(0, 64, {300});
    Tensor gi = ctx.randint(0, 96, {64, 400, 12});
    Tensor a = index_select(x, 0, si), b = gather(x, 1, gi);
    r[t - 1][0] = cq::grad(a, {x}, ctx.randn(a.shape()))[0].to_vector<float>();
    r[t - 1][1] = cq::grad(b, {x}, ctx.randn(b.shape()))[0].to_vector<float>();
  }
  EXPECT_TRUE(r[0][0] == r[1][0]);
  EXPECT_TRUE(r[0][1] == r[1][1]);
}

// ---------------- one_hot ----------------
TEST(Forward, one_hot) {
  Context ctx = make_ctx();
  Tensor idx = ivec(ctx, {2, 0, 1, 2}, {2, 2});
  Tensor y = one_hot(idx, 3);
  EXPECT_EQ(y.shape(), (Shape{2, 2, 3}));
  EXPECT_EQ(y.dtype(), DType::f32);
  EXPECT_TRUE(allclose(y, {0, 0, 1, 1, 0, 0, 0, 1, 0, 0, 0, 1}));
  EXPECT_EQ(one_hot(ivec(ctx, {1, 0}, {2}), 2, DType::u8).to_vector<uint8_t>(), (std::vector<uint8_t>{0, 1, 1, 0}));
  EXPECT_TRUE(allclose(one_hot(ivec(ctx, {3}, {1}), 5, DType::f64), {0, 0, 0, 1, 0}));
  EXPECT_TRUE(allclose(one_hot(idx.permute({1, 0}), 3), {0, 0, 1, 0, 1, 0, 1, 0, 0, 0, 0, 1}));  // [[2,1],[0,2]]
  EXPECT_EQ(one_hot(ctx.zeros({0, 4}, DType::i64), 3).shape(), (Shape{0, 4, 3}));
  EXPECT_FALSE(y.requires_grad());
  // A label outside [0, classes) is an error naming it, never a silent mis-label.
  expect_error([&] { one_hot(ivec(ctx, {0, 1, 3, 2}, {2, 2}), 3); },
               {"one_hot", "index value 3", "position [1,0]", "3 classes"});
  expect_error([&] { one_hot(ivec(ctx, {-1}, {1}), 3); }, {"one_hot", "index value -1", "position [0]"});
  expect_error([&] { one_hot(ivec(ctx, {0}, {1}), 0); }, {"one_hot", "classes"});
  expect_error([&] { one_hot(ctx.zeros({2}), 3); }, {"one_hot", "i64", "f32[2] cpu"});
}
