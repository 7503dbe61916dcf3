#include <gtest/gtest.h>

#include "tensor/context.h"
#include "tensor/sum_to.h"
#include "tests/support/gradcheck.h"

using namespace cq;
using cq::testing::allclose;

TEST(Autograd, AccumulatesAcrossUsesAndCalls) {
  Context ctx;
  Tensor x = ctx.from_vector(std::vector<double>{1, 2, 3}, {3}, DType::f64).set_requires_grad();
  // y = sum_to(x expanded twice) -> dy/dx = 2 per element (two uses of x through one graph).
  Tensor y = sum_to(x.expand({2, 3}), {1});
  y.backward();
  EXPECT_TRUE(allclose(x.grad(), {2, 2, 2}));
  Tensor y2 = sum_to(x, {1});
  y2.backward();
  EXPECT_TRUE(allclose(x.grad(), {3, 3, 3}));  // accumulated across backward calls
  x.zero_grad();
  EXPECT_FALSE(x.grad().defined());
}

TEST(Autograd, NoGradScopeRecordsNothing) {
  Context ctx;
  Tensor x = ctx.randn({3}, DType::f64).set_requires_grad();
  {
    auto g = ctx.no_grad();
    Tensor y = x.expand({2, 3});
    EXPECT_FALSE(y.requires_grad());
    EXPECT_EQ(y.grad_fn(), nullptr);
  }
  EXPECT_TRUE(x.expand({2, 3}).requires_grad());
}

TEST(Autograd, SecondBackwardWithoutRetainFails) {
  Context ctx;
  Tensor x = ctx.randn({3}, DType::f64).set_requires_grad();
  Tensor y = sum_to(x.expand({2, 3}), {1});
  y.backward(Tensor(), /*retain_graph=*/true);
  y.backward();
  EXPECT_TRUE(allclose(x.grad(), {4, 4, 4}));
  try {
    y.backward();
    FAIL() << "expected cq::Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("retain_graph"), std::string::npos) << e.what();
  }
}

TEST(Autograd, ImplicitGradOnlyForScalars) {
  Context ctx;
  Tensor x = ctx.randn({3}, DType::f64).set_requires_grad();
  EXPECT_THROW(x.expand({2, 3}).backward(), Error);
  EXPECT_THROW(ctx.zeros({2}).set_requires_grad().detach().backward(), Error);
}

TEST(Autograd, UnregisteredOpIsRefused) {
  Context ctx;
  Tensor x = ctx.randn({3}, DType::f64).set_requires_grad();
  Tensor y = x.clone();
  EXPECT_THROW(record("no_such_op", y, {x}, [](const Tensor& g) { return std::vector<Tensor>{g}; }), Error);
}

// Saved tensors are released as backward runs: a node whose closure saved a large tensor (as mul or conv2d save their
// inputs) frees it during backward, so after backward memory returns to what the leaves and their grads hold.
TEST(Autograd, PeakMemoryReleasedAfterBackward) {
  Context ctx;
  Tensor x = ctx.randn({256, 256}, DType::f32).set_requires_grad();
  size_t base = ctx.memory().current;
  size_t grad_bytes = 256 * 256 * 4;
  size_t fwd_peak;
  {
    Tensor saved = x.detach().expand({4, 256, 256}).contiguous();  // an activation the "op" keeps for backward
    Tensor y = x.clone();
    record("clone", y, {x}, [saved](const Tensor& g) { return std::vector<Tensor>{g}; });
    saved = Tensor();
    Tensor loss = sum_to(y, {1, 1});
    fwd_peak = ctx.memory().current;
    EXPECT_GE(fwd_peak, base + 5 * grad_bytes);  // graph holds the saved copy (4x) and y
    loss.backward();
    EXPECT_EQ(y.grad_fn()->backward, nullptr);  // closure (and what it saved) dropped
  }
  EXPECT_EQ(ctx.memory().current, base + grad_bytes);  // only x.grad remains
  EXPECT_GE(ctx.memory().peak, fwd_peak);
}
