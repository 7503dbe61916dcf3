#include <gtest/gtest.h>

#include "kernels/conv2d/conv2d.h"
#include "kernels/conv2d/conv2d_math.h"
#include "tensor/context.h"
#include "tensor/cuda_backend.h"
#include "tests/support/gradcheck.h"
#include "tests/support/test_util.h"

using namespace cq;
using cq::testing::allclose;
using cq::testing::gradcheck;

// ---- an independent reference: direct loops in double over the definition (no im2col, no GEMM) ----
namespace conv_ref {
struct Config {
  Shape x, w;
  Conv2dParams p;
  bool bias;
  const char* name;
};

struct Grads {
  Tensor gx, gw, gb;
};

struct Dims {
  int64_t N, C, H, W, CO, Cg, Cog, kh, kw, OH, OW;
};

Dims dims(const Shape& x, const Shape& w, const Conv2dParams& p) {
  Dims d{x[0], x[1], x[2], x[3], w[0], w[1], w[0] / p.groups, w[2], w[3], 0, 0};
  d.OH = (d.H + p.pad_t + p.pad_b - d.kh) / p.stride_h + 1;
  d.OW = (d.W + p.pad_l + p.pad_r - d.kw) / p.stride_w + 1;
  return d;
}

// Calls f(n, co, oh, ow, ci, ci_in_group, ih, iw, ki, kj) for every product term of the convolution that reads inside x.
template <class F>
void for_each_term(const Dims& d, const Conv2dParams& p, F f) {
  for (int64_t n = 0; n < d.N; ++n)
    for (int64_t co = 0; co < d.CO; ++co) {
      int64_t grp = co / d.Cog;
      for (int64_t oh = 0; oh < d.OH; ++oh)
        for (int64_t ow = 0; ow < d.OW; ++ow)
          for (int64_t cl = 0; cl < d.Cg; ++cl)
            for (int64_t ki = 0; ki < d.kh; ++ki)
              for (int64_t kj = 0; kj < d.kw; ++kj) {
                int64_t ih = oh * p.stride_h - p.pad_t + ki, iw = ow * p.stride_w - p.pad_l + kj;
                if (ih < 0 || ih >= d.H || iw < 0 || iw >= d.W) continue;
                f(n, co, oh, ow, grp * d.Cg + cl, cl, ih, iw, ki, kj);
              }
    }
}

Tensor forward(Context& ctx, const Tensor& x, const Tensor& w, const Tensor& b, const Conv2dParams& p) {
  Dims d = dims(x.shape(), w.shape(), p);
  std::vector<double> xv = x.to_vector<double>(), wv = w.to_vector<double>();
  std::vector<double> out(static_cast<size_t>(d.N * d.CO * d.OH * d.OW), 0.0);
  if (b.defined()) {
    std::vector<double> bv = b.to_vector<double>();
    for (size_t i = 0; i < out.size(); ++i) out[i] = bv[(i / (d.OH * d.OW)) % d.CO];
  }
  for_each_term(d, p, [&](int64_t n, int64_t co, int64_t oh, int64_t ow, int64_t ci, int64_t cl, int64_t ih,
                          int64_t iw, int64_t ki, int64_t kj) {
    out[((n * d.CO + co) * d.OH + oh) * d.OW + ow] +=
        xv[((n * d.C + ci) * d.H + ih) * d.W + iw] * wv[((co * d.Cg + cl) * d.kh + ki) * d.kw + kj];
  });
  return ctx.from_vector(out, {d.N, d.CO, d.OH, d.OW}, DType::f64);
}

Grads backward(Context& ctx, const Tensor& g, const Tensor& x, const Tensor& w, const Conv2dParams& p) {
  Dims d = dims(x.shape(), w.shape(), p);
  std::vector<double> xv = x.to_vector<double>(), wv = w.to_vector<double>(), gv = g.to_vector<double>();
  std::vector<double> gx(xv.size(), 0.0), gw(wv.size(), 0.0), gb(static_cast<size_t>(d.CO), 0.0);
  for (size_t i = 0; i < gv.size(); ++i) gb[(i / (d.OH * d.OW)) % d.CO] += gv[i];
  for_each_term(d, p, [&](int64_t n, int64_t co, int64_t oh, int64_t ow, int64_t ci, int64_t cl, int64_t ih,
                          int64_t iw, int64_t ki, int64_t kj) {
    double gval = gv[((n * d.CO + co) * d.OH + oh) * d.OW + ow];
    size_t xi = ((n * d.C + ci) * d.H + ih) * d.W + iw, wi = ((co * d.Cg + cl) * d.kh + ki) * d.kw + kj;
    gx[xi] += gval * wv[wi];
    gw[wi] += gval * xv[xi];
  });
  return {ctx.from_vector(gx, x.shape(), DType::f64), ctx.from_vector(gw, w.shape(), DType::f64),
          ctx.from_vector(gb, {d.CO}, DType::f64)};
}
}  // namespace conv_ref

using conv_ref::Config;

namespace {
Context make_ctx(int threads = 1) { return cq::testing::make_ctx(threads, 21); }

using cq::testing::error_of;

// Small configurations covering every CPU path: im2col+GEMM, pointwise GEMM, depthwise direct, grouped.
std::vector<Config> small_configs() {
  std::vector<Config> c;
  auto P = [](int64_t sh, int64_t sw, int64_t l, int64_t r, int64_t t, int64_t b, int64_t g) {
    Conv2dParams p;
    p.stride_h = sh;
    p.stride_w = sw;
    p.pad_l = l;
    p.pad_r = r;
    p.pad_t = t;
    p.pad_b = b;
    p.groups = g;
    return p;
  };
  c.push_back({{2, 3, 5, 6}, {4, 3, 3, 3}, P(1, 1, 1, 1, 1, 1, 1), true, "3x3 s1 pad 1 + bias"});
  c.push_back({{1, 3, 7, 6}, {2, 3, 3, 3}, P(2, 2, 0, 1, 0, 1, 1), false, "3x3 s2 pad (0,1,0,1) (TF same stem)"});
  c.push_back({{2, 4, 5, 4}, {3, 4, 1, 1}, P(1, 1, 0, 0, 0, 0, 1), true, "1x1 pointwise + bias"});
  c.push_back({{1, 3, 6, 5}, {5, 3, 1, 1}, P(2, 1, 0, 0, 0, 0, 1), false, "1x1 stride (2,1)"});
  c.push_back({{2, 3, 6, 7}, {3, 1, 3, 3}, P(1, 1, 1, 1, 1, 1, 3), true, "depthwise 3x3 s1"});
  c.push_back({{1, 4, 9, 8}, {4, 1, 5, 5}, P(2, 2, 1, 2, 1, 2, 4), false, "depthwise 5x5 s2 pad (1,2,1,2)"});
  c.push_back({{1, 2, 6, 6}, {2, 1, 3, 3}, P(2, 2, 0, 1, 0, 1, 2), true, "depthwise 3x3 s2 pad (0,1,0,1)"});
  c.push_back({{2, 4, 5, 5}, {6, 2, 3, 3}, P(1, 1, 1, 0, 2, 1, 2), true, "groups 2, asymmetric pads"});
  c.push_back({{1, 2, 5, 4}, {4, 1, 3, 3}, P(1, 1, 1, 1, 1, 1, 2), false, "depthwise multiplier 2 (grouped path)"});
  c.push_back({{1, 2, 8, 12}, {3, 2, 4, 4}, P(4, 4, 0, 0, 0, 0, 1), true, "4x4 s4 patch embedding"});
  c.push_back({{1, 2, 4, 7}, {2, 2, 5, 3}, P(1, 2, 2, 1, 0, 3, 1), false, "5x3 kernel, stride (1,2), odd pads"});
  return c;
}
}  // namespace

TEST(GradCheck, conv2d) {
  Context ctx = make_ctx();
  for (const Config& c : small_configs()) {
    Tensor x = ctx.randn(c.x, DType::f64).set_requires_grad();
    Tensor w = ctx.randn(c.w, DType::f64).set_requires_grad();
    Tensor b = c.bias ? ctx.randn({c.w[0]}, DType::f64).set_requires_grad() : Tensor();
    Conv2dParams p = c.p;
    EXPECT_TRUE(gradcheck(ctx, [p](const std::vector<Tensor>& in) { return conv2d(in[0], in[1], in[2], p); },
                          {x, w, b}))
        << c.name;
  }
  // Non-contiguous input inside the graph, gradient for the weight only.
  Tensor xt = ctx.randn({1, 3, 6, 5}, DType::f64).set_requires_grad();
  Tensor w = ctx.randn({2, 3, 3, 3}, DType::f64).set_requires_grad();
  Conv2dParams p;
  p.pad_l = p.pad_r = p.pad_t = p.pad_b = 1;
  EXPECT_TRUE(gradcheck(
      ctx, [p](const std::vector<Tensor>& in) { return conv2d(in[0].transpose(2, 3), in[1], Tensor(), p); },
      {xt, w}));
  Tensor xfixed = ctx.randn({1, 3, 5, 5}, DType::f64);
  EXPECT_TRUE(gradcheck(ctx, [p, xfixed](const std::vector<Tensor>& in) { return conv2d(xfixed, in[0], Tensor(), p); },
                        {w}));
}

TEST(Conv2d, HandComputed) {
  Context ctx = make_ctx();
  // x = 1..9 as 3x3, w = [[1,0],[0,1]]: each output is x[i][j] + x[i+1][j+1].
  Tensor x = ctx.from_vector(std::vector<double>{1, 2, 3, 4, 5, 6, 7, 8, 9}, {1, 1, 3, 3});
  Tensor w = ctx.from_vector(std::vector<double>{1, 0, 0, 1}, {1, 1, 2, 2});
  Conv2dParams p;
  Tensor y = conv2d(x, w, Tensor(), p);
  EXPECT_EQ(y.shape(), (Shape{1, 1, 2, 2}));
  EXPECT_TRUE(allclose(y, {6, 8, 12, 14}));
  // TF-"same" stride 2 with pad (0,1,0,1): windows start at 0 and 2; the second reads the zero pad.
  p.stride_h = p.stride_w = 2;
  p.pad_r = p.pad_b = 1;
  Tensor bias = ctx.from_vector(std::vector<double>{0.5}, {1});
  Tensor y2 = conv2d(x, w, bias, p);
  EXPECT_EQ(y2.shape(), (Shape{1, 1, 2, 2}));
  EXPECT_TRUE(allclose(y2, {6.5, 3.5, 7.5, 9.5}));
  // Depthwise: two channels, each with its own 1x1... 2x2 kernel.
  Tensor x2 = ctx.from_vector(std::vector<double>{1, 2, 3, 4, 10, 20, 30, 40}, {1, 2, 2, 2});
  Tensor w2 = ctx.from_vector(std::vector<double>{1, 1, 1, 1, 1, 0, 0, -1}, {2, 1, 2, 2});
  Conv2dParams dp;
  dp.groups = 2;
  EXPECT_TRUE(allclose(conv2d(x2, w2, Tensor(), dp), {10, -30}));
  // Shape rule.
  EXPECT_EQ(kernels::conv_out_size(225, 3, 2, 0, 1), 112);
  EXPECT_EQ(kernels::conv_out_size(224, 4, 4, 0, 0), 56);
  EXPECT_EQ(kernels::conv_out_size(2, 3, 1, 0, 0), 0);
}

TEST(Conv2d, ForwardMatchesNaive) {
  for (DType dt : {DType::f64, DType::f32}) {
    Context ctx = make_ctx(2);
    std::vector<Config> cs = small_configs();
    // Larger ones: GEMM K beyond one K slab (40*9 = 360 > 256), decoder-like, patch embedding.
    Conv2dParams pad1;
    pad1.pad_l = pad1.pad_r = pad1.pad_t = pad1.pad_b = 1;
    cs.push_back({{2, 40, 9, 11}, {7, 40, 3, 3}, pad1, true, "3x3 pad 1, C_in 40"});
    Conv2dParams s4;
    s4.stride_h = s4.stride_w = 4;
    cs.push_back({{1, 3, 16, 20}, {24, 3, 4, 4}, s4, true, "patch embed 4x4 s4"});
    for (const Config& c : cs) {
      Tensor x = ctx.randn(c.x, dt), w = ctx.randn(c.w, dt);
      Tensor b = c.bias ? ctx.randn({c.w[0]}, dt) : Tensor();
      Tensor y = conv2d(x, w, b, c.p);
      Tensor ref = conv_ref::forward(ctx, x, w, b, c.p);
      EXPECT_TRUE(allclose(y, ref, dt == DType::f32 ? 1e-4 : 1e-11)) << c.name << " " << dtype_name(dt);
    }
  }
}

TEST(Conv2d, BackwardMatchesNaive) {
  // Independent loops for grad_x / grad_w / grad_bias on sizes the gradient check would be too slow for.
  Context ctx = make_ctx(2);
  std::vector<Config> cs = small_configs();
  Conv2dParams pad1;
  pad1.pad_l = pad1.pad_r = pad1.pad_t = pad1.pad_b = 1;
  cs.push_back({{2, 40, 9, 11}, {7, 40, 3, 3}, pad1, true, "3x3 pad 1, C_in 40"});
  Conv2dParams dw;
  dw.stride_h = dw.stride_w = 2;
  dw.pad_l = dw.pad_t = 1;
  dw.pad_r = dw.pad_b = 2;
  dw.groups = 16;
  cs.push_back({{3, 16, 15, 14}, {16, 1, 5, 5}, dw, true, "depthwise 5x5 s2 (1,2,1,2)"});
  for (const Config& c : cs) {
    Tensor x = ctx.randn(c.x, DType::f64).set_requires_grad(), w = ctx.randn(c.w, DType::f64).set_requires_grad();
    Tensor b = c.bias ? ctx.randn({c.w[0]}, DType::f64).set_requires_grad() : Tensor();
    Tensor y = conv2d(x, w, b, c.p);
    Tensor g = ctx.randn(y.shape(), DType::f64);
    y.backward(g);
    conv_ref::Grads r = conv_ref::backward(ctx, g, x.detach(), w.detach(), c.p);
    EXPECT_TRUE(allclose(x.grad(), r.gx, 1e-10)) << c.name;
    EXPECT_TRUE(allclose(w.grad(), r.gw, 1e-10)) << c.name;
    if (c.bias) {
      EXPECT_TRUE(allclose(b.grad(), r.gb, 1e-10)) << c.name;
    }
  }
}

TEST(Conv2d, NonContiguousInputs) {
  Context ctx = make_ctx();
  Conv2dParams p;
  p.pad_l = p.pad_t = 1;
  p.pad_r = p.pad_b = 1;
  Tensor x = ctx.randn({2, 3, 6, 5}), w = ctx.randn({4, 3, 3, 3}), b = ctx.randn({4});
  Tensor ref = conv2d(x, w, b, p);
  EXPECT_TRUE(allclose(conv2d(cq::testing::make_noncontiguous(x), cq::testing::make_noncontiguous(w),
                              cq::testing::make_noncontiguous(b), p),
                       ref, 1e-5));
  Tensor big = ctx.randn({2, 6, 6, 10});
  Tensor xs = big.slice(1, 0, 6, 2).slice(3, 0, 10, 2);  // [2,3,6,5], strided
  EXPECT_TRUE(allclose(conv2d(xs, w, b, p), conv2d(xs.contiguous(), w, b, p), 1e-6));
}

TEST(Conv2d, Errors) {
  Context ctx = make_ctx();
  Conv2dParams p;
  std::string e = error_of([&] { conv2d(ctx.zeros({1, 3, 8, 8}), ctx.zeros({4, 2, 3, 3}), Tensor(), p); });
  EXPECT_NE(e.find("conv2d"), std::string::npos) << e;
  EXPECT_NE(e.find("f32[1,3,8,8] cpu"), std::string::npos) << e;
  EXPECT_NE(e.find("f32[4,2,3,3] cpu"), std::string::npos) << e;
  p.groups = 2;
  e = error_of([&] { conv2d(ctx.zeros({1, 3, 8, 8}), ctx.zeros({4, 1, 3, 3}), Tensor(), p); });
  EXPECT_NE(e.find("groups 2 must divide"), std::string::npos) << e;
  EXPECT_NE(e.find("f32[1,3,8,8] cpu"), std::string::npos) << e;
  p.groups = 1;
  e = error_of([&] { conv2d(ctx.zeros({1, 3, 8, 8}), ctx.zeros({4, 3, 3, 3}), ctx.zeros({5}), p); });
  EXPECT_NE(e.find("bias f32[5] cpu"), std::string::npos) << e;
  e = error_of([&] { conv2d(ctx.zeros({3, 8, 8}), ctx.zeros({4, 3, 3, 3}), Tensor(), p); });
  EXPECT_NE(e.find("4-D"), std::string::npos) << e;
  e = error_of([&] { conv2d(ctx.zeros({1, 3, 2, 2}), ctx.zeros({4, 3, 3, 3}), Tensor(), p); });
  EXPECT_NE(e.find("larger than the padded input"), std::string::npos) << e;
  e = error_of([&] { conv2d(ctx.zeros({1, 3, 8, 8}), ctx.zeros({4, 3, 3, 3}, DType::f64), Tensor(), p); });
  EXPECT_NE(e.find("f64[4,3,3,3]"), std::string::npos) << e;
  p.stride_h = 0;
  e = error_of([&] { conv2d(ctx.zeros({1, 3, 8, 8}), ctx.zeros({4, 3, 3, 3}), Tensor(), p); });
  EXPECT_NE(e.find("stride"), std::string::npos) << e;
}

TEST(Conv2d, ThreadDeterminism) {
  // Forward and backward on [2,32,24,32] for each CPU path: bit-identical with 1 and 2 threads.
  std::vector<std::pair<Shape, Conv2dParams>> cfgs;
  Conv2dParams p3;
  p3.pad_l = p3.pad_r = p3.pad_t = p3.pad_b = 1;
  cfgs.push_back({{48, 32, 3, 3}, p3});
  Conv2dParams dw = p3;
  dw.stride_h = dw.stride_w = 2;
  dw.pad_l = dw.pad_t = 0;
  dw.groups = 32;
  cfgs.push_back({{32, 1, 3, 3}, dw});
  cfgs.push_back({{16, 32, 1, 1}, Conv2dParams{}});
  Conv2dParams g4 = p3;
  g4.groups = 4;
  cfgs.push_back({{8, 8, 3, 3}, g4});
  for (const auto& [wshape, p] : cfgs) {
    std::vector<std::vector<float>> res[2];
    for (int t = 0; t < 2; ++t) {
      Context ctx = make_ctx(t + 1);
      Tensor x = ctx.randn({2, 32, 24, 32}).set_requires_grad();
      Tensor w = ctx.randn(wshape).set_requires_grad();
      Tensor b = ctx.randn({wshape[0]}).set_requires_grad();
      Tensor y = conv2d(x, w, b, p);
      y.backward(ctx.randn(y.shape()));
      res[t] = {y.to_vector<float>(), x.grad().to_vector<float>(), w.grad().to_vector<float>(),
                b.grad().to_vector<float>()};
    }
    for (size_t i = 0; i < res[0].size(); ++i)
      EXPECT_TRUE(res[0][i] == res[1][i]) << "weight " << shape_str(wshape) << " tensor " << i;
  }
}

TEST(CudaConv2d, ForwardBackwardMatchCpu) {
  CQ_REQUIRE_CUDA();
  Context ctx = make_ctx();
  for (DType dt : {DType::f32, DType::f64}) {
    for (const Config& c : small_configs()) {
      Tensor x = ctx.randn(c.x, dt), w = ctx.randn(c.w, dt);
      Tensor b = c.bias ? ctx.randn({c.w[0]}, dt) : Tensor();
      Tensor xc = x.detach().set_requires_grad(), wc = w.detach().set_requires_grad();
      Tensor bc = c.bias ? b.detach().set_requires_grad() : Tensor();
      Tensor xg = x.to(Device::cuda()).set_requires_grad(), wg = w.to(Device::cuda()).set_requires_grad();
      Tensor bg = c.bias ? b.to(Device::cuda()).set_requires_grad() : Tensor();
      Tensor yc = conv2d(xc, wc, bc, c.p), yg = conv2d(xg, wg, bg, c.p);
      ASSERT_TRUE(yg.device().is_cuda());
      double tol = dt == DType::f32 ? 1e-4 : 1e-10;
      EXPECT_TRUE(allclose(yg.to(Device::cpu()), yc, tol)) << c.name << " " << dtype_name(dt);
      Tensor g = ctx.randn(yc.shape(), dt);
      yc.backward(g);
      yg.backward(g.to(Device::cuda()));
      EXPECT_TRUE(allclose(xg.grad().to(Device::cpu()), xc.grad(), tol)) << c.name << " grad_x";
      EXPECT_TRUE(allclose(wg.grad().to(Device::cpu()), wc.grad(), tol)) << c.name << " grad_w";
      if (c.bias) {
        EXPECT_TRUE(allclose(bg.grad().to(Device::cpu()), bc.grad(), tol)) << c.name << " grad_b";
      }
    }
  }
}

TEST(CudaConv2d, Deterministic) {
  CQ_REQUIRE_CUDA();
  Context ctx = make_ctx();
  Conv2dParams p;
  p.pad_l = p.pad_t = 0;
  p.pad_r = p.pad_b = 1;
  p.stride_h = p.stride_w = 2;
  Tensor x = ctx.randn({2, 32, 24, 32}).to(Device::cuda()), w = ctx.randn({48, 32, 3, 3}).to(Device::cuda());
  Tensor g;
  std::vector<std::vector<float>> res[2];
  for (int t = 0; t < 2; ++t) {
    Tensor xr = x.detach().set_requires_grad(), wr = w.detach().set_requires_grad();
    Tensor y = conv2d(xr, wr, Tensor(), p);
    if (!g.defined()) g = ctx.randn(y.shape()).to(Device::cuda());
    y.backward(g);
    res[t] = {y.to_vector<float>(), xr.grad().to_vector<float>(), wr.grad().to_vector<float>()};
  }
  for (size_t i = 0; i < 3; ++i) EXPECT_TRUE(res[0][i] == res[1][i]) << "tensor " << i;
}

// Float32 forward and backward against the same op in float64, on shapes whose weight gradient takes the GEMM's
// NT-dot form (long pixel axis; both the streamed-B and shared-B branches) and the implicit-GEMM paths. The f32 error
// bound is a few hundred ulps of the largest value: real indexing bugs give O(1).
// The direct kernel's threads take bands of rows (band height from the thread count) and sum the input channels
// in chunks: the bits must not depend on either.
TEST(Conv2d, DirectKernelBandsAndChunksThreadInvariant) {
  std::vector<std::vector<float>> res[3];
  Conv2dParams p;
  p.pad_l = p.pad_r = p.pad_t = p.pad_b = 1;
  for (int t = 0; t < 3; ++t) {
    Context ctx = make_ctx(t + 1);
    Tensor x = ctx.randn({1, 70, 21, 80}).set_requires_grad();
    Tensor w = ctx.randn({20, 70, 3, 3}).set_requires_grad();
    Tensor y = conv2d(x, w, Tensor(), p);
    y.backward(ctx.randn(y.shape()));
    res[t] = {y.to_vector<float>(), x.grad().to_vector<float>(), w.grad().to_vector<float>()};
  }
  for (int t = 1; t < 3; ++t)
    for (size_t i = 0; i < res[0].size(); ++i) EXPECT_TRUE(res[0][i] == res[t][i]) << (t + 1) << " threads, tensor " << i;
}

TEST(Conv2d, Float32PathsMatchFloat64) {
  Context ctx = cq::testing::make_ctx(2, 9);
  struct C {
    Shape x, w;
    int64_t stride, pad;
  } cases[] = {{{2, 8, 40, 40}, {4, 8, 3, 3}, 1, 1},   {{2, 1, 48, 40}, {16, 1, 3, 3}, 1, 1},
               {{2, 16, 48, 48}, {8, 16, 1, 1}, 1, 0}, {{2, 4, 48, 48}, {32, 4, 1, 1}, 1, 0},
               {{2, 6, 41, 37}, {5, 6, 3, 3}, 2, 1},
               // the direct (im2col-free) stride-1 kernel: rows of 64 and 96 columns, partial channel panel, 5x5
               {{2, 9, 13, 64}, {11, 9, 3, 3}, 1, 1},  {{1, 4, 7, 96}, {17, 4, 5, 5}, 1, 2},
               // ... with input channels in three L1 chunks and rows of one 48- and two 32-column tiles
               {{1, 70, 11, 112}, {10, 70, 3, 3}, 1, 1}};
  for (const C& c : cases) {
    Conv2dParams p;
    p.stride_h = p.stride_w = c.stride;
    p.pad_t = p.pad_b = p.pad_l = p.pad_r = c.pad;
    Tensor x = ctx.randn(c.x), w = ctx.randn(c.w), b = ctx.randn({c.w[0]});
    Tensor outs[2], gx[2], gw[2], gb[2], g;
    for (int t = 0; t < 2; ++t) {
      DType dt = t == 0 ? DType::f32 : DType::f64;
      Tensor xx = x.to(dt).detach().set_requires_grad(), ww = w.to(dt).detach().set_requires_grad(),
             bb = b.to(dt).detach().set_requires_grad();
      outs[t] = conv2d(xx, ww, bb, p);
      if (t == 0) g = ctx.randn(outs[0].shape());
      outs[t].backward(g.to(dt));
      gx[t] = xx.grad();
      gw[t] = ww.grad();
      gb[t] = bb.grad();
    }
    auto rel = [](const Tensor& a, const Tensor& r) {
      double m = 0;
      for (double v : r.to_vector<double>()) m = std::max(m, std::fabs(v));
      return cq::testing::max_abs_diff(a.to(DType::f64), r) / m;
    };
    std::string what = "x " + shape_str(c.x) + " w " + shape_str(c.w);
    EXPECT_LT(rel(outs[0], outs[1]), 2e-6) << what;
    EXPECT_LT(rel(gx[0], gx[1]), 2e-6) << what;
    EXPECT_LT(rel(gw[0], gw[1]), 2e-6) << what;
    EXPECT_LT(rel(gb[0], gb[1]), 2e-5) << what;
  }
}
