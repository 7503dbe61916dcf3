// The direct depthwise kernels (kernels/conv2d/depthwise_cpu.cpp) through conv2d, against plain loops in double on
// odd sizes: widths around the 16-lane vector width, strides 1/2/3 (and mixed), asymmetric and oversized pads,
// 3x3 / 5x5 (the unrolled instances) and 7x7 / 3x5 (the generic loops); forward, grad_x, grad_w and grad_bias.
#include <gtest/gtest.h>

#include <cstdio>

#include "kernels/conv2d/conv2d.h"
#include "tensor/context.h"
#include "tests/support/gradcheck.h"
#include "tests/support/test_util.h"

using namespace cq;
using cq::testing::allclose;

namespace {

struct Case {
  int64_t N, C, H, W, kh, kw;
  Conv2dParams p;
};

Conv2dParams params(int64_t C, int64_t sh, int64_t sw, int64_t l, int64_t r, int64_t t, int64_t b) {
  Conv2dParams p;
  p.stride_h = sh;
  p.stride_w = sw;
  p.pad_l = l;
  p.pad_r = r;
  p.pad_t = t;
  p.pad_b = b;
  p.groups = C;
  return p;
}

struct Ref {
  std::vector<double> y, gx, gw, gb;
};

// Depthwise convolution and its gradients by definition (every tap of every output, skipping the padding).
Ref reference(const Case& k, const std::vector<double>& x, const std::vector<double>& w, const std::vector<double>& b,
              const std::vector<double>& g, int64_t OH, int64_t OW) {
  Ref r;
  r.y.assign(static_cast<size_t>(k.N * k.C * OH * OW), 0.0);
  r.gx.assign(x.size(), 0.0);
  r.gw.assign(w.size(), 0.0);
  r.gb.assign(static_cast<size_t>(k.C), 0.0);
  for (int64_t n = 0; n < k.N; ++n)
    for (int64_t c = 0; c < k.C; ++c)
      for (int64_t oh = 0; oh < OH; ++oh)
        for (int64_t ow = 0; ow < OW; ++ow) {
          const size_t oi = static_cast<size_t>(((n * k.C + c) * OH + oh) * OW + ow);
          r.y[oi] = b[static_cast<size_t>(c)];
          r.gb[static_cast<size_t>(c)] += g[oi];
          for (int64_t ki = 0; ki < k.kh; ++ki)
            for (int64_t kj = 0; kj < k.kw; ++kj) {
              const int64_t ih = oh * k.p.stride_h - k.p.pad_t + ki, iw = ow * k.p.stride_w - k.p.pad_l + kj;
              if (ih < 0 || ih >= k.H || iw < 0 || iw >= k.W) continue;
              const size_t xi = static_cast<size_t>(((n * k.C + c) * k.H + ih) * k.W + iw);
              const size_t wi = static_cast<size_t>((c * k.kh + ki) * k.kw + kj);
              r.y[oi] += x[xi] * w[wi];
              r.gx[xi] += g[oi] * w[wi];
              r.gw[wi] += g[oi] * x[xi];
            }
        }
  return r;
}

std::vector<Case> cases() {
  std::vector<Case> cs;
  // 3x3 / 5x5 at strides 1 and 2 with TF-"same" style asymmetric pads, widths below, at and across 16 and 32.
  for (int64_t W : {2, 5, 15, 16, 17, 33, 37})
    for (int64_t s : {1, 2}) {
      cs.push_back({2, 3, 7, W, 3, 3, params(3, s, s, s == 1 ? 1 : 0, 1, s == 1 ? 1 : 0, 1)});
      cs.push_back({1, 2, 9, W, 5, 5, params(2, s, s, s == 1 ? 2 : 1, 2, s == 1 ? 2 : 1, 2)});
    }
  cs.push_back({1, 3, 11, 19, 3, 3, params(3, 1, 2, 0, 1, 1, 1)});    // mixed strides
  cs.push_back({1, 3, 10, 21, 3, 3, params(3, 2, 1, 1, 0, 0, 1)});
  cs.push_back({2, 2, 12, 23, 5, 5, params(2, 3, 3, 2, 2, 2, 2)});    // stride 3: generic phase split
  cs.push_back({1, 2, 13, 18, 7, 7, params(2, 2, 2, 3, 3, 3, 3)});    // 7x7: generic loops
  cs.push_back({1, 3, 8, 20, 3, 5, params(3, 1, 1, 2, 2, 1, 1)});     // non-square
  cs.push_back({1, 2, 6, 9, 3, 3, params(2, 1, 1, 3, 4, 4, 3)});      // pads larger than the kernel
  cs.push_back({1, 2, 3, 3, 5, 5, params(2, 1, 1, 1, 1, 1, 1)});      // kernel larger than the input
  cs.push_back({3, 4, 32, 40, 3, 3, params(4, 2, 2, 0, 1, 0, 1)});    // several full lane blocks per row
  return cs;
}

void check_case(const Case& k, DType dt, int threads) {
  Context ctx = cq::testing::make_ctx(threads, 5);
  Tensor x = ctx.randn({k.N, k.C, k.H, k.W}, dt).set_requires_grad();
  Tensor w = ctx.randn({k.C, 1, k.kh, k.kw}, dt).set_requires_grad();
  Tensor b = ctx.randn({k.C}, dt).set_requires_grad();
  Tensor y = conv2d(x, w, b, k.p);
  Tensor g = ctx.randn(y.shape(), dt);
  y.backward(g);
  Ref r = reference(k, x.to_vector<double>(), w.to_vector<double>(), b.to_vector<double>(), g.to_vector<double>(),
                    y.size(2), y.size(3));
  const double tol = dt == DType::f32 ? 1e-4 : 1e-11;
  char name[160];
  std::snprintf(name, sizeof name, "x [%lld,%lld,%lld,%lld] k %lldx%lld stride (%lld,%lld) pad (l%lld r%lld t%lld b%lld) %s",
                (long long)k.N, (long long)k.C, (long long)k.H, (long long)k.W, (long long)k.kh, (long long)k.kw,
                (long long)k.p.stride_h, (long long)k.p.stride_w, (long long)k.p.pad_l, (long long)k.p.pad_r,
                (long long)k.p.pad_t, (long long)k.p.pad_b, dtype_name(dt));
  EXPECT_TRUE(allclose(y, ctx.from_vector(r.y, y.shape(), DType::f64), tol)) << name << " forward";
  EXPECT_TRUE(allclose(x.grad(), ctx.from_vector(r.gx, x.shape(), DType::f64), tol)) << name << " grad_x";
  EXPECT_TRUE(allclose(w.grad(), ctx.from_vector(r.gw, w.shape(), DType::f64), tol)) << name << " grad_w";
  EXPECT_TRUE(allclose(b.grad(), ctx.from_vector(r.gb, b.shape(), DType::f64), tol)) << name << " grad_b";
}

}  // namespace

TEST(Depthwise, MatchesReferenceLoopsF64) {
  for (const Case& k : cases()) check_case(k, DType::f64, 1);
}

TEST(Depthwise, MatchesReferenceLoopsF32TwoThreads) {
  for (const Case& k : cases()) check_case(k, DType::f32, 2);
}

TEST(Depthwise, GradWeightOnlyAndBiasOnly) {
  // Gradients requested one at a time (conv2d then saves only what each needs: x for grad_w, nothing for grad_b).
  Context ctx = cq::testing::make_ctx(1, 9);
  Conv2dParams p = params(3, 2, 2, 0, 1, 0, 1);
  Tensor x = ctx.randn({2, 3, 10, 22}), w = ctx.randn({3, 1, 3, 3}), b = ctx.randn({3});
  Tensor xg = x.detach().set_requires_grad(), wg = w.detach().set_requires_grad(), bg = b.detach().set_requires_grad();
  Tensor g = ctx.randn({2, 3, 5, 11});  // OH = (10 + 1 - 3)/2 + 1, OW = (22 + 1 - 3)/2 + 1
  conv2d(xg, wg, bg, p).backward(g);
  Tensor w1 = w.detach().set_requires_grad();
  conv2d(x, w1, b, p).backward(g);
  EXPECT_TRUE(allclose(w1.grad(), wg.grad(), 0.0));
  Tensor b1 = b.detach().set_requires_grad();
  conv2d(x, w, b1, p).backward(g);
  EXPECT_TRUE(allclose(b1.grad(), bg.grad(), 0.0));
}

TEST(Depthwise, ThreadDeterminismEfficientNetShapes) {
  // Bit-identical forward and gradients with 1 and 2 threads on EfficientNet-like shapes (3x3 s1, 5x5 s2).
  struct Shp {
    Shape x;
    int64_t k, s;
  };
  for (const Shp& sp : {Shp{{2, 24, 34, 45}, 3, 1}, Shp{{1, 40, 33, 31}, 5, 2}}) {
    std::vector<std::vector<float>> res[2];
    for (int t = 0; t < 2; ++t) {
      Context ctx = cq::testing::make_ctx(t + 1, 3);
      const int64_t C = sp.x[1];
      Conv2dParams p = params(C, sp.s, sp.s, (sp.k - 1) / 2, sp.k / 2, (sp.k - 1) / 2, sp.k / 2);
      Tensor x = ctx.randn(sp.x).set_requires_grad(), w = ctx.randn({C, 1, sp.k, sp.k}).set_requires_grad();
      Tensor b = ctx.randn({C}).set_requires_grad();
      Tensor y = conv2d(x, w, b, p);
      y.backward(ctx.randn(y.shape()));
      res[t] = {y.to_vector<float>(), x.grad().to_vector<float>(), w.grad().to_vector<float>(),
                b.grad().to_vector<float>()};
    }
    for (size_t i = 0; i < res[0].size(); ++i) EXPECT_TRUE(res[0][i] == res[1][i]) << "tensor " << i;
  }
}
