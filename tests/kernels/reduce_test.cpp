#include <cmath>
#include <functional>
#include <limits>

#include <gtest/gtest.h>

#include "kernels/reduce/reduce.h"
#include "tensor/context.h"
#include "tensor/cuda_backend.h"
#include "tests/support/gradcheck.h"
#include "tests/support/test_util.h"

using namespace cq;
using cq::testing::allclose;
using cq::testing::gradcheck;

namespace {
Context make_ctx(int threads = 1) { return cq::testing::make_ctx(threads, 11); }

// Axis lists exercised by the gradient checks on a rank-3 input, with both keepdim settings.
const std::vector<std::vector<int64_t>> kAxes3 = {{}, {0}, {1}, {-1}, {0, 2}, {2, 0, 1}, {1, 2}};

// Reference reduction on the host: out[j] = f over the elements of x (row-major order) whose kept index is j.
std::vector<double> ref_reduce(const Tensor& x, const std::vector<int64_t>& axes,
                               const std::function<double(const std::vector<double>&)>& f) {
  std::vector<double> v = x.to_vector<double>();
  Shape s = x.shape();
  int64_t r = x.dim();
  std::vector<bool> red(static_cast<size_t>(r), axes.empty());
  for (int64_t a : axes) red[a < 0 ? a + r : a] = true;
  int64_t n_out = 1;
  for (int64_t d = 0; d < r; ++d)
    if (!red[d]) n_out *= s[d];
  std::vector<std::vector<double>> groups(static_cast<size_t>(n_out));
  for (int64_t i = 0; i < static_cast<int64_t>(v.size()); ++i) {
    int64_t rem = i, j = 0, mul = 1;
    for (int64_t d = r - 1; d >= 0; --d) {
      int64_t idx = rem % s[d];
      rem /= s[d];
      if (!red[d]) {
        j += idx * mul;
        mul *= s[d];
      }
    }
    groups[j].push_back(v[i]);
  }
  std::vector<double> out;
  for (auto& g : groups) out.push_back(f(g));
  return out;
}
double ref_sum(const std::vector<double>& g) {
  double s = 0;
  for (double v : g) s += v;
  return s;
}
double ref_mean(const std::vector<double>& g) { return ref_sum(g) / g.size(); }
double ref_max(const std::vector<double>& g) {
  double m = -INFINITY;
  for (double v : g) m = std::max(m, v);
  return m;
}
double ref_var(const std::vector<double>& g) {
  double m = ref_mean(g), s = 0;
  for (double v : g) s += (v - m) * (v - m);
  return s / (g.size() - 1);
}

template <class F>
void expect_error(F f, const std::vector<std::string>& parts) {
  try {
    f();
    ADD_FAILURE() << "expected cq::Error";
  } catch (const Error& e) {
    for (const auto& p : parts) EXPECT_NE(std::string(e.what()).find(p), std::string::npos) << e.what();
  }
}

using RedFn = Tensor (*)(const Tensor&, const std::vector<int64_t>&, bool);
Tensor var_unbiased(const Tensor& x, const std::vector<int64_t>& a, bool k) { return var(x, a, true, k); }
Tensor var_biased(const Tensor& x, const std::vector<int64_t>& a, bool k) { return var(x, a, false, k); }
Tensor sum_fn(const Tensor& x, const std::vector<int64_t>& a, bool k) { return sum(x, a, k); }
Tensor mean_fn(const Tensor& x, const std::vector<int64_t>& a, bool k) { return mean(x, a, k); }
Tensor max_fn(const Tensor& x, const std::vector<int64_t>& a, bool k) { return max(x, a, k); }

// Gradient checks over kAxes3 x keepdim on a contiguous input, a permuted view and a stepped slice.
void gradcheck_all(RedFn f) {
  Context ctx = make_ctx();
  for (const auto& axes : kAxes3) {
    for (bool keep : {false, true}) {
      SCOPED_TRACE(::testing::Message() << "axes size " << axes.size() << " keepdim " << keep);
      Tensor x = ctx.randn({2, 3, 4}, DType::f64).set_requires_grad();
      EXPECT_TRUE(gradcheck(ctx, [&](const std::vector<Tensor>& in) { return f(in[0], axes, keep); }, {x}));
      Tensor y = ctx.randn({4, 2, 3}, DType::f64).set_requires_grad();
      EXPECT_TRUE(gradcheck(ctx, [&](const std::vector<Tensor>& in) { return f(in[0].permute({1, 2, 0}), axes, keep); },
                            {y}));
      Tensor z = ctx.randn({2, 7, 4}, DType::f64).set_requires_grad();
      EXPECT_TRUE(gradcheck(ctx, [&](const std::vector<Tensor>& in) { return f(in[0].slice(1, 1, 7, 2), axes, keep); },
                            {z}));
    }
  }
  // Rank 1 and 4 (NCHW per-channel and per-(N,C) spatial reductions).
  Tensor v = ctx.randn({5}, DType::f64).set_requires_grad();
  EXPECT_TRUE(gradcheck(ctx, [&](const std::vector<Tensor>& in) { return f(in[0], {0}, false); }, {v}));
  Tensor n = ctx.randn({2, 3, 2, 3}, DType::f64).set_requires_grad();
  EXPECT_TRUE(gradcheck(ctx, [&](const std::vector<Tensor>& in) { return f(in[0], {0, 2, 3}, true); }, {n}));
  EXPECT_TRUE(gradcheck(ctx, [&](const std::vector<Tensor>& in) { return f(in[0], {2, 3}, false); }, {n}));
}
}  // namespace

TEST(GradCheck, sum) { gradcheck_all(sum_fn); }
TEST(GradCheck, mean) { gradcheck_all(mean_fn); }
TEST(GradCheck, max) { gradcheck_all(max_fn); }
TEST(GradCheck, var) {
  gradcheck_all(var_unbiased);
  gradcheck_all(var_biased);
}

TEST(Reduce, ForwardHandComputed) {
  Context ctx = make_ctx();
  Tensor x = ctx.arange(6).reshape({2, 3});  // [[0,1,2],[3,4,5]]
  EXPECT_TRUE(allclose(sum(x), {15}));
  EXPECT_EQ(sum(x).dim(), 0);
  EXPECT_TRUE(allclose(sum(x, {0}), {3, 5, 7}));
  EXPECT_TRUE(allclose(sum(x, {1}), {3, 12}));
  EXPECT_EQ(sum(x, {1}, true).shape(), (Shape{2, 1}));
  EXPECT_EQ(sum(x, {}, true).shape(), (Shape{1, 1}));
  EXPECT_TRUE(allclose(mean(x, {-1}), {1, 4}));
  EXPECT_TRUE(allclose(max(x, {0}), {3, 4, 5}));
  EXPECT_TRUE(allclose(max(x.permute({1, 0}), {1}), {3, 4, 5}));
  EXPECT_TRUE(allclose(var(x, {1}), {1, 1}));
  EXPECT_TRUE(allclose(var(x, {1}, false), {2.0 / 3, 2.0 / 3}, 1e-6));
  EXPECT_TRUE(allclose(var(x), {3.5}));
  // Integer sums give i64 (like PyTorch); max keeps the dtype.
  Tensor u = ctx.from_vector(std::vector<double>{200, 100, 7, 255}, {2, 2}, DType::u8);
  EXPECT_EQ(sum(u).dtype(), DType::i64);
  EXPECT_EQ(sum(u).to_vector<int64_t>(), (std::vector<int64_t>{562}));
  EXPECT_EQ(max(u, {0}).to_vector<uint8_t>(), (std::vector<uint8_t>{200, 255}));
  // 0-dim input.
  Tensor s = ctx.scalar(2.5);
  EXPECT_TRUE(allclose(sum(s), {2.5}));
  EXPECT_TRUE(allclose(mean(s, {0}), {2.5}));
  // Empty reductions: sum 0, mean NaN.
  Tensor e = ctx.zeros({2, 0});
  EXPECT_TRUE(allclose(sum(e, {1}), {0, 0}));
  EXPECT_TRUE(std::isnan(mean(e, {1}).to_vector<double>()[0]));
  // NaN propagates through max.
  Tensor nx = ctx.from_vector(std::vector<double>{1, NAN, 3}, {3});
  EXPECT_TRUE(std::isnan(max(nx).item()));
}

TEST(Reduce, MatchesReferenceOnModelShapes) {
  Context ctx = make_ctx(2);
  Tensor x = ctx.randn({3, 4, 5, 7});
  Tensor p = x.permute({0, 2, 3, 1});  // non-contiguous (NHWC view of NCHW)
  for (const std::vector<int64_t>& axes : std::vector<std::vector<int64_t>>{
           {}, {0, 2, 3}, {2, 3}, {3}, {0}, {1}, {1, 3}, {0, 1, 2, 3}}) {
    for (const Tensor& t : {x, p}) {
      EXPECT_TRUE(allclose(sum(t, axes), ref_reduce(t, axes, ref_sum), 1e-4));
      EXPECT_TRUE(allclose(mean(t, axes), ref_reduce(t, axes, ref_mean), 1e-5));
      EXPECT_TRUE(allclose(max(t, axes), ref_reduce(t, axes, ref_max), 0));
      EXPECT_TRUE(allclose(var(t, axes), ref_reduce(t, axes, ref_var), 1e-5));
    }
  }
  // One long run: the chunked all-reduce path (more than two chunks), f32 accumulated in double.
  Tensor big = ctx.rand({3, 50000}, 0.0, 1.0);
  EXPECT_TRUE(allclose(sum(big), ref_reduce(big, {}, ref_sum), 1e-2));  // f32 result of ~75000: ulp 0.008
  EXPECT_TRUE(allclose(mean(big), ref_reduce(big, {}, ref_mean), 1e-7));
  EXPECT_TRUE(allclose(var(big), ref_reduce(big, {}, ref_var), 1e-7));
  EXPECT_TRUE(allclose(max(big), ref_reduce(big, {}, ref_max), 0));
}

TEST(Reduce, MaxSplitsGradientAmongTies) {
  Context ctx = make_ctx();
  Tensor x = ctx.from_vector(std::vector<double>{1, 3, 3, 2, 5, 0}, {2, 3}, DType::f64).set_requires_grad();
  Tensor y = max(x, {1});
  y.backward(ctx.from_vector(std::vector<double>{1, 2}, {2}, DType::f64));
  EXPECT_TRUE(allclose(x.grad(), {0, 0.5, 0.5, 0, 2, 0}));
  Tensor z = ctx.from_vector(std::vector<double>{4, 4, 4, 4}, {4}, DType::f64).set_requires_grad();
  max(z).backward();
  EXPECT_TRUE(allclose(z.grad(), {0.25, 0.25, 0.25, 0.25}));
}

TEST(Forward, argmax) {
  Context ctx = make_ctx();
  Tensor x = ctx.from_vector(std::vector<double>{1, 5, 5, 2, 9, 0, 9, 3}, {2, 4});
  EXPECT_EQ(argmax(x, 1).dtype(), DType::i64);
  EXPECT_EQ(argmax(x, 1).to_vector<int64_t>(), (std::vector<int64_t>{1, 0}));  // first occurrence of ties
  EXPECT_EQ(argmax(x, 0).to_vector<int64_t>(), (std::vector<int64_t>{1, 0, 1, 1}));
  EXPECT_EQ(argmax(x, -1, true).shape(), (Shape{2, 1}));
  EXPECT_EQ(argmax(x.permute({1, 0}), 0).to_vector<int64_t>(), (std::vector<int64_t>{1, 0}));  // non-contiguous
  EXPECT_EQ(argmax(x.to(DType::f64), 1).to_vector<int64_t>(), (std::vector<int64_t>{1, 0}));
  EXPECT_EQ(argmax(x.to(DType::i32), 1).to_vector<int64_t>(), (std::vector<int64_t>{1, 0}));
  EXPECT_EQ(argmax(x.to(DType::u8), 1).to_vector<int64_t>(), (std::vector<int64_t>{1, 0}));
  EXPECT_EQ(argmax(x.to(DType::i64), 0).to_vector<int64_t>(), (std::vector<int64_t>{1, 0, 1, 1}));
  Tensor n = ctx.from_vector(std::vector<double>{1, NAN, 7, NAN}, {4});
  EXPECT_EQ(argmax(n, 0).to_vector<int64_t>(), (std::vector<int64_t>{1}));  // NaN is the maximum (PyTorch)
  // Segmentation case: class axis of NCHW logits, and a long axis (lane-split scan) with the maximum repeated.
  Tensor logits = ctx.randn({2, 5, 6, 7});
  std::vector<float> lv = logits.to_vector<float>();
  std::vector<int64_t> am = argmax(logits, 1).to_vector<int64_t>();
  for (int64_t nn = 0; nn < 2; ++nn)
    for (int64_t p = 0; p < 42; ++p) {
      int64_t best = 0;
      for (int64_t c = 1; c < 5; ++c)
        if (lv[(nn * 5 + c) * 42 + p] > lv[(nn * 5 + best) * 42 + p]) best = c;
      EXPECT_EQ(am[nn * 42 + p], best);
    }
  std::vector<double> longv(1000, 0.0);
  longv[37] = longv[38] = longv[501] = 4.0;
  EXPECT_EQ(argmax(ctx.from_vector(longv, {1000}), 0).to_vector<int64_t>(), (std::vector<int64_t>{37}));
  std::vector<double> huge(200000, 1.0);
  huge[70001] = huge[130000] = 2.0;
  EXPECT_EQ(argmax(ctx.from_vector(huge, {200000}), 0).to_vector<int64_t>(), (std::vector<int64_t>{70001}));
  EXPECT_THROW(argmax(ctx.zeros({0, 3}), 0), Error);
}

TEST(Reduce, Errors) {
  Context ctx = make_ctx();
  Tensor x = ctx.zeros({2, 3});
  expect_error([&] { sum(x, {1, -1}); }, {"sum", "twice", "f32[2,3] cpu"});
  expect_error([&] { mean(x, {2}); }, {"mean", "axis 2", "rank 2"});
  expect_error([&] { mean(ctx.zeros({2}, DType::i64)); }, {"mean", "i64", "i64[2] cpu"});
  expect_error([&] { var(ctx.zeros({2}, DType::u8)); }, {"var", "u8"});
  expect_error([&] { max(ctx.zeros({2, 0}), {1}); }, {"max", "empty", "f32[2,0] cpu"});
  expect_error([&] { argmax(x, 5); }, {"argmax", "axis 5"});
  expect_error([&] { sum(ctx.scalar(1.0), {1}); }, {"sum", "axis 1"});
}

TEST(Reduce, DeterministicAcrossThreadCounts) {
  Context c1 = make_ctx(1), c2 = make_ctx(2);
  Tensor a = c1.randn({2, 5, 64, 96}), b = c2.randn({2, 5, 64, 96});
  ASSERT_EQ(a.to_vector<float>(), b.to_vector<float>());
  for (const std::vector<int64_t>& axes :
       std::vector<std::vector<int64_t>>{{}, {0, 2, 3}, {2, 3}, {3}, {1}, {0}}) {
    EXPECT_EQ(sum(a, axes).to_vector<float>(), sum(b, axes).to_vector<float>());
    EXPECT_EQ(var(a, axes).to_vector<float>(), var(b, axes).to_vector<float>());
    EXPECT_EQ(sum(a.permute({0, 2, 3, 1}), axes).to_vector<float>(),
              sum(b.permute({0, 2, 3, 1}), axes).to_vector<float>());
  }
  Tensor la = c1.randn({4, 50000}), lb = c2.randn({4, 50000});  // chunked single-output path
  EXPECT_EQ(sum(la).to_vector<float>(), sum(lb).to_vector<float>());
  EXPECT_EQ(var(la).to_vector<float>(), var(lb).to_vector<float>());
  Tensor ga = a.clone().set_requires_grad(), gb = b.clone().set_requires_grad();
  var(ga, {0, 2, 3}).backward(c1.ones({5}));
  var(gb, {0, 2, 3}).backward(c2.ones({5}));
  EXPECT_EQ(ga.grad().to_vector<float>(), gb.grad().to_vector<float>());
}

TEST(CudaReduce, MatchesCpu) {
  CQ_REQUIRE_CUDA();
  Context ctx = make_ctx(2);
  for (DType dt : {DType::f32, DType::f64}) {
    Tensor x = ctx.randn({2, 5, 64, 96}, dt);
    Tensor p = x.permute({0, 2, 3, 1});
    double tol = dt == DType::f32 ? 1e-3 : 1e-9;
    for (const std::vector<int64_t>& axes :
         std::vector<std::vector<int64_t>>{{}, {0, 2, 3}, {2, 3}, {3}, {1}, {0}, {1, 3}}) {
      for (const Tensor& t : {x, p}) {
        Tensor g = t.to(Device::cuda());
        EXPECT_TRUE(allclose(sum(g, axes).to(Device::cpu()), sum(t, axes), tol));
        EXPECT_TRUE(allclose(mean(g, axes, true).to(Device::cpu()), mean(t, axes, true), tol));
        EXPECT_TRUE(allclose(max(g, axes).to(Device::cpu()), max(t, axes), 0));
        EXPECT_TRUE(allclose(var(g, axes).to(Device::cpu()), var(t, axes), tol));
      }
    }
    EXPECT_EQ(argmax(x.to(Device::cuda()), 1).to(Device::cpu()).to_vector<int64_t>(),
              argmax(x, 1).to_vector<int64_t>());
    EXPECT_EQ(argmax(x.to(Device::cuda()), 3).to(Device::cpu()).to_vector<int64_t>(),
              argmax(x, 3).to_vector<int64_t>());
  }
  std::vector<double> huge(200000, 1.0);
  huge[70001] = huge[130000] = 2.0;
  EXPECT_EQ(argmax(ctx.from_vector(huge, {200000}).to(Device::cuda()), 0).to(Device::cpu()).to_vector<int64_t>(),
            (std::vector<int64_t>{70001}));
  Tensor u = ctx.randint(0, 200, {3, 1000}).to(DType::u8);
  EXPECT_EQ(sum(u.to(Device::cuda()), {1}).to(Device::cpu()).to_vector<int64_t>(), sum(u, {1}).to_vector<int64_t>());
}

TEST(CudaReduce, BackwardMatchesCpu) {
  CQ_REQUIRE_CUDA();
  Context ctx = make_ctx();
  Tensor x = ctx.randn({2, 3, 8, 9}, DType::f64);
  Tensor xt = x.clone();
  xt.select(3, 4).copy_(xt.select(3, 2));  // ties for max over the last axis
  for (RedFn f : {sum_fn, mean_fn, max_fn, var_unbiased}) {
    for (const std::vector<int64_t>& axes : std::vector<std::vector<int64_t>>{{}, {0, 2, 3}, {3}, {1}}) {
      Tensor c = xt.clone().set_requires_grad();
      Tensor d = xt.to(Device::cuda()).set_requires_grad();
      Tensor yc = f(c, axes, false);
      Tensor w = ctx.randn(yc.shape(), DType::f64);
      yc.backward(w);
      f(d, axes, false).backward(w.to(Device::cuda()));
      EXPECT_TRUE(allclose(d.grad().to(Device::cpu()), c.grad(), 1e-9));
    }
  }
}
