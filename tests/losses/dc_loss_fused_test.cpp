// The fused CPU DC loss (losses/dc_loss_fused.h) against its definition, the composed ops (dc_loss_composed): value
// and gradient in float64 and float32, a float64 gradient check of its hand-written backward, the upstream gradient
// scaling, and bit-identical results for 1, 2 and 3 threads on a size that runs in parallel.
#include "losses/dc_loss_fused.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/elementwise/elementwise.h"
#include "losses/losses.h"
#include "tensor/autograd.h"
#include "tensor/context.h"
#include "tests/support/gradcheck.h"
#include "tests/support/test_util.h"

using namespace cq;

namespace {
Context make_ctx(int threads = 1) { return cq::testing::make_ctx(threads, 23); }

// Target [N, H, W] with every class except `absent` in sample 0 (a class missing from a sample is the Dice edge).
Tensor target_without(Context& ctx, int64_t N, int64_t C, int64_t H, int64_t W, int64_t absent) {
  std::vector<int64_t> v = ctx.randint(0, C, {N, H, W}).to_vector<int64_t>();
  for (int64_t i = 0; i < H * W; ++i)
    if (v[static_cast<size_t>(i)] == absent) v[static_cast<size_t>(i)] = (absent + 1) % C;
  return ctx.from_vector(v, {N, H, W});
}

struct Result {
  double value;
  std::vector<double> grad;
};

Result run(Tensor logits, const Tensor& t, bool fused) {
  Tensor x = logits.detach().set_requires_grad();
  Tensor loss = fused ? losses::dc_loss(x, t) : losses::dc_loss_composed(x, t);
  loss.backward();
  return {loss.item(), x.grad().to(DType::f64).to_vector<double>()};
}

double max_abs(const std::vector<double>& v) {
  double m = 0;
  for (double e : v) m = std::max(m, std::fabs(e));
  return m;
}
}  // namespace

TEST(DcLossFused, MatchesComposedFloat64AndFloat32) {
  Context ctx = make_ctx(2);
  // 13 x 37 = 481 pixels per sample: several 64-pixel tiles and a partial one.
  Tensor z = ctx.randn({2, 4, 13, 37}, DType::f64) * 3.0;
  Tensor t = target_without(ctx, 2, 4, 13, 37, 2);
  ASSERT_TRUE(losses::dc_loss_fused_supported(z));
  for (DType dt : {DType::f64, DType::f32}) {
    Result f = run(z.to(dt), t, true), c = run(z.to(dt), t, false);
    const double tol = dt == DType::f64 ? 1e-12 : 2e-6;
    EXPECT_NEAR(f.value, c.value, tol * std::fabs(c.value)) << dtype_name(dt);
    ASSERT_EQ(f.grad.size(), c.grad.size());
    double worst = 0;
    for (size_t i = 0; i < f.grad.size(); ++i) worst = std::max(worst, std::fabs(f.grad[i] - c.grad[i]));
    EXPECT_LE(worst, tol * max_abs(c.grad)) << dtype_name(dt);
  }
}

// Named GradCheck.<op> as tests/kernels/registry_test.cpp requires of every differentiable op.
TEST(GradCheck, dc_loss) {
  Context ctx = make_ctx();
  Tensor x = ctx.randn({2, 3, 2, 3}, DType::f64).set_requires_grad();
  Tensor t = ctx.from_vector(std::vector<int64_t>{0, 1, 1, 0, 0, 1, 2, 0, 1, 2, 2, 1}, {2, 2, 3});  // class 2 absent
  EXPECT_TRUE(cq::testing::gradcheck(ctx, [&](const std::vector<Tensor>& in) { return losses::dc_loss(in[0], t); },
                                     {x}));
}

TEST(DcLossFused, UpstreamGradientScales) {
  Context ctx = make_ctx();
  Tensor z = ctx.randn({1, 3, 5, 7}, DType::f64);
  Tensor t = ctx.randint(0, 3, {1, 5, 7});
  Tensor a = z.detach().set_requires_grad(), b = z.detach().set_requires_grad();
  losses::dc_loss(a, t).backward();
  (losses::dc_loss(b, t) * -2.5).backward();
  std::vector<double> ga = a.grad().to_vector<double>(), gb = b.grad().to_vector<double>();
  for (size_t i = 0; i < ga.size(); ++i) EXPECT_NEAR(gb[i], -2.5 * ga[i], 1e-15) << i;
}

TEST(DcLossFused, ThreadCountInvariant) {
  std::vector<std::vector<float>> runs;
  for (int threads : {1, 2, 3}) {
    Context ctx = make_ctx(threads);
    Tensor z = ctx.randn({2, 5, 64, 72});
    Tensor t = ctx.randint(0, 5, {2, 64, 72});
    Result r = run(z, t, true);
    std::vector<float> v{static_cast<float>(r.value)};
    for (double g : r.grad) v.push_back(static_cast<float>(g));
    runs.push_back(v);
  }
  for (size_t k = 1; k < runs.size(); ++k)
    for (size_t i = 0; i < runs[0].size(); ++i) ASSERT_EQ(runs[0][i], runs[k][i]) << (k + 1) << " threads, " << i;
}
