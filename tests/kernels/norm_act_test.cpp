// batch_norm_act (kernels/norm/norm_act.h): float64 gradient checks, agreement with the unfused composition
// act(batch_norm(x)) in value, gradients and running statistics, thread determinism and argument errors.
#include <gtest/gtest.h>

#include "kernels/elementwise/elementwise.h"
#include "kernels/norm/norm.h"
#include "kernels/norm/norm_act.h"
#include "tensor/context.h"
#include "tests/support/gradcheck.h"
#include "tests/support/test_util.h"

using namespace cq;
using cq::testing::allclose;
using cq::testing::gradcheck;

namespace {
constexpr NormAct kActs[] = {NormAct::identity, NormAct::relu, NormAct::silu};

Tensor unfused(const Tensor& x, const Tensor& w, const Tensor& b, const Tensor& rm, const Tensor& rv, bool training,
               double momentum, double eps, NormAct act) {
  Tensor y = batch_norm(x, w, b, rm, rv, training, momentum, eps);
  if (act == NormAct::relu) return relu(y);
  if (act == NormAct::silu) return silu(y);
  return y;
}
}  // namespace

TEST(GradCheck, batch_norm_act) {
  Context ctx = cq::testing::make_ctx(1, 11);
  for (NormAct act : kActs) {
    // Training (batch statistics), with affine parameters; [N, C, S] with S crossing the 16-lane width.
    for (Shape shape : {Shape{3, 2, 2, 3}, Shape{2, 3, 19}}) {
      Tensor x = ctx.randn(shape, DType::f64).set_requires_grad();
      Tensor w = ctx.randn({shape[1]}, DType::f64).set_requires_grad();
      Tensor b = ctx.randn({shape[1]}, DType::f64).set_requires_grad();
      EXPECT_TRUE(gradcheck(ctx,
                            [act](const std::vector<Tensor>& in) {
                              return batch_norm_act(in[0], in[1], in[2], {}, {}, true, 0.1, 1e-5, act);
                            },
                            {x, w, b}))
          << norm_act_name(act) << " " << shape_str(shape);
    }
    // Training without affine parameters, through a permuted input.
    Tensor xp = ctx.randn({3, 4, 2, 2}, DType::f64).set_requires_grad();
    EXPECT_TRUE(gradcheck(ctx,
                          [act](const std::vector<Tensor>& in) {
                            return batch_norm_act(in[0].permute({1, 0, 2, 3}), {}, {}, {}, {}, true, 0.1, 1e-3, act);
                          },
                          {xp}))
        << norm_act_name(act);
    // Eval: fixed running statistics.
    Tensor x = ctx.randn({2, 3, 2, 2}, DType::f64).set_requires_grad();
    Tensor w = ctx.randn({3}, DType::f64).set_requires_grad();
    Tensor b = ctx.randn({3}, DType::f64).set_requires_grad();
    Tensor em = ctx.randn({3}, DType::f64), ev = ctx.rand({3}, 0.5, 2.0, DType::f64);
    EXPECT_TRUE(gradcheck(ctx,
                          [&, act](const std::vector<Tensor>& in) {
                            return batch_norm_act(in[0], in[1], in[2], em, ev, false, 0.1, 1e-5, act);
                          },
                          {x, w, b}))
        << norm_act_name(act) << " eval";
  }
}

TEST(BatchNormAct, MatchesUnfusedComposition) {
  // Values, all three gradients and the running-stat update against act(batch_norm(x)), f32 and f64, train and eval.
  for (DType dt : {DType::f64, DType::f32})
    for (bool training : {true, false})
      for (NormAct act : kActs) {
        Context ctx = cq::testing::make_ctx(2, 13);
        Tensor x0 = ctx.randn({2, 5, 7, 9}, dt), w0 = ctx.randn({5}, dt), b0 = ctx.randn({5}, dt);
        x0 = add_scalar(mul_scalar(x0, 3.0), 0.5);
        Tensor g = ctx.randn({2, 5, 7, 9}, dt);
        Tensor rm[2], rv[2], xs[2], ws[2], bs[2], ys[2];
        for (int k = 0; k < 2; ++k) {
          rm[k] = ctx.randn({5}, dt);
          rv[k] = ctx.rand({5}, 0.5, 2.0, dt);
          if (k == 1) {
            rm[1] = rm[0].clone();
            rv[1] = rv[0].clone();
          }
          xs[k] = x0.detach().set_requires_grad();
          ws[k] = w0.detach().set_requires_grad();
          bs[k] = b0.detach().set_requires_grad();
        }
        ys[0] = batch_norm_act(xs[0], ws[0], bs[0], rm[0], rv[0], training, 0.1, 1e-5, act);
        ys[1] = unfused(xs[1], ws[1], bs[1], rm[1], rv[1], training, 0.1, 1e-5, act);
        ys[0].backward(g);
        ys[1].backward(g);
        const double tol = dt == DType::f32 ? 2e-5 : 1e-12;
        const std::string what = std::string(norm_act_name(act)) + (training ? " train " : " eval ") + dtype_name(dt);
        EXPECT_TRUE(allclose(ys[0], ys[1], tol)) << what << " y";
        EXPECT_TRUE(allclose(xs[0].grad(), xs[1].grad(), tol * 10)) << what << " dx";
        EXPECT_TRUE(allclose(ws[0].grad(), ws[1].grad(), tol * 100)) << what << " dweight";
        EXPECT_TRUE(allclose(bs[0].grad(), bs[1].grad(), tol * 100)) << what << " dbias";
        EXPECT_TRUE(allclose(rm[0], rm[1], tol)) << what << " running_mean";
        EXPECT_TRUE(allclose(rv[0], rv[1], tol)) << what << " running_var";
      }
}

TEST(BatchNormAct, ThreadCountDeterminism) {
  std::vector<std::vector<float>> res[2];
  for (int t = 0; t < 2; ++t) {
    Context ctx = cq::testing::make_ctx(t + 1, 17);
    Tensor x = ctx.randn({2, 24, 33, 35}).set_requires_grad();
    Tensor w = ctx.randn({24}).set_requires_grad(), b = ctx.randn({24}).set_requires_grad();
    Tensor rm = ctx.zeros({24}), rv = ctx.ones({24});
    Tensor y = batch_norm_act(x, w, b, rm, rv, true, 0.01, 1e-3, NormAct::silu);
    y.backward(ctx.randn(y.shape()));
    res[t] = {y.to_vector<float>(), x.grad().to_vector<float>(), w.grad().to_vector<float>(),
              b.grad().to_vector<float>(), rm.to_vector<float>(), rv.to_vector<float>()};
  }
  for (size_t i = 0; i < res[0].size(); ++i) EXPECT_TRUE(res[0][i] == res[1][i]) << "tensor " << i;
}

TEST(BatchNormAct, Errors) {
  Context ctx = cq::testing::make_ctx();
  cq::testing::expect_error(
      [&] { batch_norm_act(ctx.zeros({2, 3, 4}), ctx.ones({4}), {}, {}, {}, true, 0.1, 1e-5, NormAct::relu); },
      {"batch_norm_act", "weight f32[4] cpu", "f32[2,3,4] cpu"});
  cq::testing::expect_error(
      [&] { batch_norm_act(ctx.zeros({2, 3, 4}), {}, {}, {}, {}, false, 0.1, 1e-5, NormAct::silu); },
      {"batch_norm_act", "eval mode"});
  cq::testing::expect_error([&] { batch_norm_act(ctx.zeros({3}), {}, {}, {}, {}, true, 0.1, 1e-5, NormAct::silu); },
                            {"batch_norm_act", "[N, C, *]"});
  cq::testing::expect_error([&] { norm_act_from_name("gelu"); }, {"gelu", "identity, relu, silu"});
  EXPECT_EQ(norm_act_from_name("swish"), NormAct::silu);
}
