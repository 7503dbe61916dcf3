// losses/: float64 gradient checks (suite LossesGradCheck, since GradCheck is reserved for registered ops), a host
// double reference on random inputs (independent of the fixture), errors on bad targets and shapes, and determinism
// across thread counts.
#include "losses/losses.h"

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "kernels/elementwise/elementwise.h"
#include "tensor/context.h"
#include "tensor/cuda_backend.h"
#include "tests/support/gradcheck.h"
#include "tests/support/test_util.h"

using namespace cq;
using cq::testing::gradcheck;

namespace {
Context make_ctx(int threads = 1) {
  ContextOptions o;
  o.threads = threads;
  o.seed = 11;
  return Context(o);
}

// Host double reference of CE and the MONAI Dice terms for logits [N,C,H,W], target [N,H,W].
struct HostRef {
  double ce = 0, dice = 0;
  std::vector<double> per;
};
HostRef host_ref(const Tensor& logits, const Tensor& target) {
  const Shape& s = logits.shape();
  const int64_t N = s[0], C = s[1], HW = s[2] * s[3];
  std::vector<double> x = logits.to_vector<double>();
  std::vector<int64_t> t = target.to_vector<int64_t>();
  HostRef r;
  r.per.assign(N * C, 0.0);
  std::vector<double> inter(N * C), gs(N * C), ps(N * C);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t i = 0; i < HW; ++i) {
      double m = -INFINITY;
      for (int64_t c = 0; c < C; ++c) m = std::max(m, x[(n * C + c) * HW + i]);
      double z = 0;
      for (int64_t c = 0; c < C; ++c) z += std::exp(x[(n * C + c) * HW + i] - m);
      const int64_t y = t[n * HW + i];
      r.ce -= x[(n * C + y) * HW + i] - m - std::log(z);
      for (int64_t c = 0; c < C; ++c) {
        double p = std::exp(x[(n * C + c) * HW + i] - m) / z, g = c == y ? 1.0 : 0.0;
        inter[n * C + c] += p * g;
        gs[n * C + c] += g * g;
        ps[n * C + c] += p * p;
      }
    }
  r.ce /= static_cast<double>(N * HW);
  for (int64_t k = 0; k < N * C; ++k) {
    r.per[k] = 1.0 - 2.0 * inter[k] / (gs[k] + ps[k] + 1e-6);
    r.dice += r.per[k] / static_cast<double>(N * C);
  }
  return r;
}

using cq::testing::error_of;
}  // namespace

TEST(Losses, MatchHostDoubleReference) {
  Context ctx = make_ctx();
  Tensor x = ctx.randn({2, 4, 3, 5}, DType::f64) * 2.0;
  Tensor t = ctx.randint(0, 4, {2, 3, 5});
  t.data<int64_t>()[0] = 3;
  HostRef r = host_ref(x, t);
  EXPECT_NEAR(losses::cross_entropy(x, t).item(), r.ce, 1e-12);
  losses::DiceTerms d = losses::dice_loss_terms(x, t);
  EXPECT_NEAR(d.loss.item(), r.dice, 1e-12);
  EXPECT_EQ(d.per.shape(), (Shape{2, 4}));
  std::vector<double> per = d.per.to_vector<double>();
  for (size_t k = 0; k < per.size(); ++k) EXPECT_NEAR(per[k], r.per[k], 1e-12) << k;
  EXPECT_NEAR(losses::dc_loss(x, t).item(), r.ce + r.dice, 1e-12);
  // f32 agrees with the double reference to f32 rounding.
  EXPECT_NEAR(losses::cross_entropy(x.to(DType::f32), t).item(), r.ce, 1e-6);
  EXPECT_NEAR(losses::dice_loss(x.to(DType::f32), t).item(), r.dice, 1e-6);
}

TEST(Losses, MseAndCqgCombination) {
  Context ctx = make_ctx();
  Tensor a = ctx.randn({2, 3, 4, 4}, DType::f64), b = ctx.randn({2, 3, 4, 4}, DType::f64);
  Tensor t = ctx.randint(0, 3, {2, 4, 4});
  std::vector<double> av = a.to_vector<double>(), bv = b.to_vector<double>();
  double m = 0;
  for (size_t i = 0; i < av.size(); ++i) m += (av[i] - bv[i]) * (av[i] - bv[i]);
  m /= static_cast<double>(av.size());
  EXPECT_NEAR(losses::mse(a, b).item(), m, 1e-12);
  losses::CqgWeights w{0.25, 0.5, 2.0};
  losses::CqgTerms q = losses::cqg_loss(t, a, b, w);
  EXPECT_NEAR(q.dc1.item(), losses::dc_loss(a, t).item(), 1e-14);
  EXPECT_NEAR(q.dc2.item(), losses::dc_loss(b, t).item(), 1e-14);
  EXPECT_NEAR(q.mse.item(), m, 1e-12);
  EXPECT_NEAR(q.total.item(), 0.25 * q.dc1.item() + 0.5 * q.dc2.item() + 2.0 * m, 1e-12);
  // The defaults are the paper's 0.3 / 0.7 / 1.0.
  losses::CqgTerms d = losses::cqg_loss(t, a, b);
  EXPECT_NEAR(d.total.item(), 0.3 * d.dc1.item() + 0.7 * d.dc2.item() + 1.0 * m, 1e-12);
}

TEST(LossesGradCheck, cross_entropy) {
  Context ctx = make_ctx();
  Tensor x = ctx.randn({2, 3, 2, 3}, DType::f64).set_requires_grad();
  Tensor t = ctx.randint(0, 3, {2, 2, 3});
  EXPECT_TRUE(gradcheck(ctx, [&](const std::vector<Tensor>& in) { return losses::cross_entropy(in[0], t); }, {x}));
}

TEST(LossesGradCheck, dice_loss) {
  Context ctx = make_ctx();
  Tensor x = ctx.randn({2, 3, 2, 3}, DType::f64).set_requires_grad();
  // Class 2 absent from sample 0: its term is constant 1, the others still couple through the softmax.
  Tensor t = ctx.from_vector(std::vector<int64_t>{0, 1, 1, 0, 0, 1, 2, 0, 1, 2, 2, 1}, {2, 2, 3});
  EXPECT_TRUE(gradcheck(ctx, [&](const std::vector<Tensor>& in) { return losses::dice_loss(in[0], t); }, {x}));
  EXPECT_TRUE(
      gradcheck(ctx, [&](const std::vector<Tensor>& in) { return losses::dice_loss_terms(in[0], t).per; }, {x}));
  EXPECT_EQ(losses::dice_loss_terms(x, t).per.to_vector<double>()[2], 1.0);
}

TEST(LossesGradCheck, mse_and_cqg) {
  Context ctx = make_ctx();
  Tensor a = ctx.randn({1, 3, 2, 3}, DType::f64).set_requires_grad();
  Tensor b = ctx.randn({1, 3, 2, 3}, DType::f64).set_requires_grad();
  Tensor t = ctx.randint(0, 3, {1, 2, 3});
  EXPECT_TRUE(gradcheck(ctx, [&](const std::vector<Tensor>& in) { return losses::mse(in[0], in[1]); }, {a, b}));
  EXPECT_TRUE(gradcheck(ctx, [&](const std::vector<Tensor>& in) { return losses::cqg_loss(t, in[0], in[1]).total; },
                        {a, b}));
}

TEST(Losses, BadTargetValuesThrowNamingTheValue) {
  Context ctx = make_ctx();
  Tensor x = ctx.randn({1, 3, 2, 2});
  for (int64_t bad : {3, -1, 100}) {
    Tensor t = ctx.from_vector(std::vector<int64_t>{0, 1, bad, 2}, {1, 2, 2});
    std::string e = error_of([&] { losses::cross_entropy(x, t); });
    EXPECT_NE(e.find("cross_entropy"), std::string::npos) << e;
    EXPECT_NE(e.find("target value " + std::to_string(bad)), std::string::npos) << e;
    EXPECT_NE(e.find("h=1, w=0"), std::string::npos) << e;
    EXPECT_NE(e.find("[0, 3)"), std::string::npos) << e;
    EXPECT_NE(error_of([&] { losses::dice_loss(x, t); }).find("dice_loss: target value"), std::string::npos);
    EXPECT_NE(error_of([&] { losses::dc_loss(x, t); }).find("target value"), std::string::npos);
    EXPECT_NE(error_of([&] { losses::cqg_loss(t, x, x); }).find("target value"), std::string::npos);
  }
}

TEST(Losses, BadShapesAndDtypesThrow) {
  Context ctx = make_ctx();
  Tensor x = ctx.randn({2, 3, 4, 5});
  EXPECT_NE(error_of([&] { losses::cross_entropy(x, ctx.randint(0, 3, {2, 4, 4})); }).find("does not match"),
            std::string::npos);
  EXPECT_NE(error_of([&] { losses::cross_entropy(x, ctx.zeros({2, 4, 5})); }).find("must be i64"), std::string::npos);
  EXPECT_NE(error_of([&] { losses::dice_loss(ctx.randn({3, 4, 5}), ctx.randint(0, 3, {3, 4, 5})); }).find("[N,C,H,W]"),
            std::string::npos);
  EXPECT_NE(error_of([&] { losses::mse(x, ctx.randn({2, 3, 4, 1})); }).find("shapes differ"), std::string::npos);
  Tensor t = ctx.randint(0, 3, {2, 4, 5});
  EXPECT_NE(error_of([&] { losses::cqg_loss(t, x, x.to(DType::f64)); }).find("one shape and dtype"),
            std::string::npos);
}

TEST(Losses, DeterministicAcrossThreadCounts) {
  std::vector<std::vector<float>> runs;
  for (int threads : {1, 2}) {
    Context ctx = make_ctx(threads);
    Tensor a = ctx.randn({2, 5, 16, 24}).set_requires_grad();
    Tensor b = ctx.randn({2, 5, 16, 24}).set_requires_grad();
    Tensor t = ctx.randint(0, 5, {2, 16, 24});
    losses::CqgTerms q = losses::cqg_loss(t, a, b);
    std::vector<Tensor> g = cq::grad(q.total, {a, b});
    std::vector<float> v = q.total.to_vector<float>();
    for (const auto& gi : g)
      for (float e : gi.to_vector<float>()) v.push_back(e);
    runs.push_back(v);
  }
  ASSERT_EQ(runs[0].size(), runs[1].size());
  for (size_t i = 0; i < runs[0].size(); ++i) ASSERT_EQ(runs[0][i], runs[1][i]) << i;
}

TEST(CudaLosses, MatchCpu) {
  CQ_REQUIRE_CUDA();
  Context ctx = make_ctx();
  Tensor a = ctx.randn({2, 5, 16, 24}) * 2.0, b = ctx.randn({2, 5, 16, 24}) * 2.0;
  Tensor t = ctx.randint(0, 5, {2, 16, 24});
  auto run = [&](Device d, std::vector<double>& vals, std::vector<Tensor>& grads) {
    Tensor x1 = a.to(d).set_requires_grad(), x2 = b.to(d).set_requires_grad();
    losses::CqgTerms q = losses::cqg_loss(t.to(d), x1, x2);
    losses::DiceTerms dt = losses::dice_loss_terms(x1, t.to(d));
    vals = {q.total.item(), q.dc1.item(), q.dc2.item(), q.mse.item(), dt.loss.item()};
    for (const auto& g : cq::grad(q.total, {x1, x2})) grads.push_back(g.to(Device::cpu()));
  };
  std::vector<double> vc, vg;
  std::vector<Tensor> gc, gg;
  run(Device::cpu(), vc, gc);
  run(Device::cuda(), vg, gg);
  // Same formulas, different exp/log implementations and reduction trees: f32 rounding level.
  for (size_t i = 0; i < vc.size(); ++i) EXPECT_NEAR(vg[i], vc[i], 1e-5 * std::fabs(vc[i])) << i;
  for (size_t i = 0; i < gc.size(); ++i) EXPECT_LE(cq::testing::max_abs_diff(gg[i], gc[i]), 1e-8) << i;
  Tensor bad = t.clone();
  bad.data<int64_t>()[7] = 5;
  EXPECT_NE(error_of([&] { losses::cross_entropy(a.to(Device::cuda()), bad.to(Device::cuda())); })
                .find("target value 5"),
            std::string::npos);
}
