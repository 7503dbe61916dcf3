// Winograd F(2x2, 3x3) (kernels/conv2d/winograd.h) against the convolution's definition in double, on geometries
// that reach every edge of its blocking: odd output sizes (a last tile half outside), padding 0/1/2 and asymmetric,
// channel counts off the 8-channel panels, work items spanning several tile rows and rows wider than one item; its
// epilogue (scale, shift, ReLU, SiLU) against the direct kernel's; bit-identical results for 1, 2 and 3 threads; and
// conv2d's use of it (forward and the stride-1 grad_x) against float64.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "kernels/conv2d/conv2d.h"
#include "kernels/conv2d/direct_conv.h"
#include "kernels/conv2d/winograd.h"
#include "tests/support/gradcheck.h"
#include "tests/support/test_util.h"

using namespace cq;
namespace wg = cq::kernels::winograd;

namespace {

struct Geo {
  int64_t C, H, W, CO, pt, pl, OH, OW;
};

std::vector<float> random_floats(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> d(0.0f, 1.0f);
  std::vector<float> v(n);
  for (float& f : v) f = d(rng);
  return v;
}

// out[co][oh][ow] = sum_{c, ki, kj} w[co][c][ki][kj] * x[c][oh - pt + ki][ow - pl + kj] in double.
std::vector<double> reference(const Geo& g, const std::vector<float>& x, const std::vector<float>& w) {
  std::vector<double> out(static_cast<size_t>(g.CO * g.OH * g.OW), 0.0);
  for (int64_t co = 0; co < g.CO; ++co)
    for (int64_t c = 0; c < g.C; ++c)
      for (int64_t ki = 0; ki < 3; ++ki)
        for (int64_t kj = 0; kj < 3; ++kj) {
          const double wv = w[static_cast<size_t>(((co * g.C + c) * 3 + ki) * 3 + kj)];
          for (int64_t oh = 0; oh < g.OH; ++oh) {
            const int64_t ih = oh - g.pt + ki;
            if (ih < 0 || ih >= g.H) continue;
            for (int64_t ow = 0; ow < g.OW; ++ow) {
              const int64_t iw = ow - g.pl + kj;
              if (iw < 0 || iw >= g.W) continue;
              const double xv = x[static_cast<size_t>((c * g.H + ih) * g.W + iw)];
              out[static_cast<size_t>((co * g.OH + oh) * g.OW + ow)] += wv * xv;
            }
          }
        }
  return out;
}

std::vector<float> run_winograd(const Geo& g, const std::vector<float>& x, const std::vector<float>& w, int threads,
                                const float* scale = nullptr, const float* shift = nullptr, int act = 0) {
  // The output starts as NaN: every element must be written.
  std::vector<float> out(static_cast<size_t>(g.CO * g.OH * g.OW), std::nanf(""));
  std::vector<float> scratch(static_cast<size_t>(wg::scratch_floats(g.C, g.CO, g.OH, g.OW, threads)));
  wg::conv3x3(x.data(), g.C, g.H, g.W, w.data(), g.CO, g.pt, g.pl, out.data(), g.OH, g.OW, scale, shift, act,
              scratch.data(), threads);
  return out;
}

std::string name(const Geo& g) {
  return "C" + std::to_string(g.C) + " " + std::to_string(g.H) + "x" + std::to_string(g.W) + " CO" +
         std::to_string(g.CO) + " pad " + std::to_string(g.pt) + "," + std::to_string(g.pl) + " out " +
         std::to_string(g.OH) + "x" + std::to_string(g.OW);
}

const Geo kGeos[] = {
    {16, 40, 40, 16, 1, 1, 40, 40},    // 'same' padding, one partial 32-tile panel
    {19, 17, 33, 21, 1, 1, 17, 33},    // odd sizes: the last tile row and column half outside; channels off 8
    {24, 12, 300, 8, 1, 1, 12, 300},   // wider than one work item (128 tiles = 256 columns)
    {16, 9, 20, 16, 0, 0, 7, 18},      // 'valid' (no padding)
    {17, 10, 21, 9, 2, 2, 12, 23},     // padding 2: a whole zero tile row/column
    {16, 11, 37, 24, 0, 1, 10, 36},    // asymmetric: top 0 / bottom 1, left 1 / right 0
    {70, 21, 80, 20, 1, 1, 21, 80},    // input channels past the 64 of one weight block
    {8, 2, 16, 3, 1, 1, 2, 16},        // tiny
    {20, 13, 32, 17, 1, 1, 13, 32},    // rows of exactly one 16-tile group: a work item spans 7 tile rows
    {16, 9, 31, 16, 1, 1, 9, 31},      // ... and of one group whose last tile is half outside
};

// 3x3 'same' padding, for the tests that go through conv2d.
Conv2dParams same_padding() {
  Conv2dParams p;
  p.pad_t = p.pad_b = p.pad_l = p.pad_r = 1;
  return p;
}

}  // namespace

TEST(Winograd, MatchesDefinition) {
  if (!wg::available()) GTEST_SKIP() << "no AVX-512 on this CPU: the Winograd kernels cannot run";
  for (const Geo& g : kGeos) {
    auto x = random_floats(static_cast<size_t>(g.C * g.H * g.W), 1);
    auto w = random_floats(static_cast<size_t>(g.CO * g.C * 9), 2);
    auto ref = reference(g, x, w);
    auto out = run_winograd(g, x, w, 2);
    double scale = 0, err = 0;
    for (double v : ref) scale = std::max(scale, std::fabs(v));
    for (size_t i = 0; i < ref.size(); ++i) err = std::max(err, std::fabs(out[i] - ref[i]));  // NaN fails below
    EXPECT_TRUE(err / scale < 2e-6) << name(g) << ": max error " << err << " of scale " << scale;
  }
}

TEST(Winograd, EpilogueMatchesDirectKernel) {
  if (!wg::available() || !kernels::direct_conv::available()) GTEST_SKIP() << "no AVX-512 on this CPU";
  const Geo g{20, 14, 45, 19, 1, 1, 14, 45};
  auto x = random_floats(static_cast<size_t>(g.C * g.H * g.W), 3);
  auto w = random_floats(static_cast<size_t>(g.CO * g.C * 9), 4);
  auto scale = random_floats(static_cast<size_t>(g.CO), 5), shift = random_floats(static_cast<size_t>(g.CO), 6);
  for (int act : {0, 1, 2}) {
    auto out = run_winograd(g, x, w, 2, scale.data(), shift.data(), act);
    std::vector<float> direct(out.size());
    std::vector<float> scratch(
        static_cast<size_t>(kernels::direct_conv::scratch_floats(g.C, g.CO, g.OH, g.OW, 3, 3, 2)));
    kernels::direct_conv::conv_stride1(x.data(), g.C, g.H, g.W, w.data(), g.CO, 3, 3, g.pt, g.pl, direct.data(), g.OH,
                                       g.OW, scale.data(), shift.data(), act, scratch.data(), 2);
    double m = 0, err = 0;
    for (size_t i = 0; i < out.size(); ++i) {
      m = std::max(m, double(std::fabs(direct[i])));
      err = std::max(err, double(std::fabs(out[i] - direct[i])));
    }
    EXPECT_TRUE(err / m < 4e-6) << "act " << act << ": max difference " << err << " of " << m;
    if (act == 1) {
      for (float v : out) ASSERT_GE(v, 0.0f);
    }
  }
}

TEST(Winograd, ThreadCountInvariant) {
  if (!wg::available()) GTEST_SKIP() << "no AVX-512 on this CPU";
  for (const Geo& g : {kGeos[1], kGeos[2], kGeos[6], kGeos[8]}) {
    auto x = random_floats(static_cast<size_t>(g.C * g.H * g.W), 7);
    auto w = random_floats(static_cast<size_t>(g.CO * g.C * 9), 8);
    auto one = run_winograd(g, x, w, 1);
    for (int t : {2, 3}) EXPECT_TRUE(run_winograd(g, x, w, t) == one) << name(g) << ", " << t << " threads";
  }
}

// Through conv2d (forward with bias, and the stride-1 grad_x, which runs the flipped conv through the same kernel):
// float32 against float64.
TEST(Winograd, Conv2dForwardAndGradXMatchFloat64) {
  if (!wg::available() || !wg::preferred(32, 32, 48, 48)) GTEST_SKIP() << "Winograd not in use here";
  Context ctx = cq::testing::make_ctx(2, 11);
  const Conv2dParams p = same_padding();
  Tensor x = ctx.randn({2, 32, 48, 48}), w = ctx.randn({32, 32, 3, 3}), b = ctx.randn({32});
  Tensor out[2], gx[2], g = ctx.randn({2, 32, 48, 48});
  for (int t = 0; t < 2; ++t) {
    DType dt = t == 0 ? DType::f32 : DType::f64;
    Tensor xx = x.to(dt).detach().set_requires_grad(), ww = w.to(dt).detach().set_requires_grad();
    out[t] = conv2d(xx, ww, b.to(dt), p);
    out[t].backward(g.to(dt));
    gx[t] = xx.grad();
  }
  auto rel = [](const Tensor& a, const Tensor& r) {
    double m = 0;
    for (double v : r.to_vector<double>()) m = std::max(m, std::fabs(v));
    return cq::testing::max_abs_diff(a.to(DType::f64), r) / m;
  };
  EXPECT_LT(rel(out[0], out[1]), 2e-6);
  EXPECT_LT(rel(gx[0], gx[1]), 2e-6);
}

// A batch runs the weight transform once (later images reuse it from the scratch): each image of a batch of 3 must
// equal that image convolved alone, bit for bit.
TEST(Winograd, BatchEqualsImagesAlone) {
  if (!wg::available() || !wg::preferred(24, 20, 36, 64)) GTEST_SKIP() << "Winograd not in use here";
  Context ctx = cq::testing::make_ctx(2, 13);
  const Conv2dParams p = same_padding();
  Tensor x = ctx.randn({3, 24, 36, 64}), w = ctx.randn({20, 24, 3, 3}), b = ctx.randn({20});
  std::vector<float> batch = conv2d(x, w, b, p).to_vector<float>();
  const size_t per = batch.size() / 3;
  std::vector<float> all = x.to_vector<float>();
  for (int64_t n = 0; n < 3; ++n) {
    const size_t in_per = all.size() / 3;
    std::vector<float> xn(all.begin() + n * in_per, all.begin() + (n + 1) * in_per);
    std::vector<float> alone = conv2d(ctx.from_vector(xn, {1, 24, 36, 64}), w, b, p).to_vector<float>();
    EXPECT_TRUE(std::equal(alone.begin(), alone.end(), batch.begin() + n * per)) << "image " << n;
  }
}
