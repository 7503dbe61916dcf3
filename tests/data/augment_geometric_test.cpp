// data/augment geometric: OpenCV cubic weights, identity and flip bit-exactness, image/mask alignment under every
// stage, albumentations' affine matrices, the constant-0 border, draw probabilities and ranges, determinism, the
// elastic field's statistics, and errors.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <vector>

#include "data/augment.h"
#include "data/augment_math.h"
#include "tests/support/test_util.h"

using namespace cq;
using namespace cq::data;

namespace {

U8Image random_image(int h, int w, int c, uint64_t seed) {
  Rng r(seed);
  U8Image im(h, w, c);
  for (auto& v : im.px) v = uint8_t(r.below(256));
  return im;
}

// A filled rectangle: 255 in every image channel and class 1 in the mask.
void rect_pair(int h, int w, U8Image& img, U8Image& mask) {
  img = U8Image(h, w, 3);
  mask = U8Image(h, w, 1);
  for (int y = h / 4; y < h * 5 / 8; ++y)
    for (int x = w / 5; x < w * 5 / 8; ++x) {  // not centred, so a flip moves it
      for (int ch = 0; ch < 3; ++ch) img.at(y, x, ch) = 255;
      mask.at(y, x) = 1;
    }
}

GeomConfig only(double flip, double shear, double ssr, double elastic) {
  GeomConfig c;
  c.p_flip = flip, c.p_shear = shear, c.p_ssr = ssr, c.p_elastic = elastic;
  return c;
}

// Pixels whose 5x5 mask neighbourhood is uniform: there the bicubic image must agree with the nearest mask.
void expect_aligned(const U8Image& img, const U8Image& mask, const char* what) {
  int checked_in = 0, checked_out = 0, bad = 0;
  for (int y = 2; y < img.h - 2; ++y)
    for (int x = 2; x < img.w - 2; ++x) {
      bool uniform = true;
      for (int j = -2; j <= 2 && uniform; ++j)
        for (int i = -2; i <= 2; ++i) uniform = uniform && mask.at(y + j, x + i) == mask.at(y, x);
      if (!uniform) continue;
      const bool in = mask.at(y, x) == 1;
      (in ? checked_in : checked_out)++;
      for (int ch = 0; ch < 3; ++ch) bad += (img.at(y, x, ch) > 128) != in;
    }
  EXPECT_EQ(bad, 0) << what;
  EXPECT_GT(checked_in, 100) << what;
  EXPECT_GT(checked_out, 100) << what;
}

}  // namespace

TEST(AugmentGeometric, CubicWeightsMatchOpenCV) {
  float w[4];
  cubic_weights(0.f, w);
  EXPECT_EQ(w[0], 0.f);
  EXPECT_EQ(w[1], 1.f);
  EXPECT_EQ(w[2], 0.f);
  EXPECT_EQ(w[3], 0.f);
  cubic_weights(0.5f, w);  // A = -0.75: (-0.09375, 0.59375, 0.59375, -0.09375), by hand
  EXPECT_FLOAT_EQ(w[0], -0.09375f);
  EXPECT_FLOAT_EQ(w[1], 0.59375f);
  EXPECT_FLOAT_EQ(w[2], 0.59375f);
  EXPECT_FLOAT_EQ(w[3], -0.09375f);
  for (float t : {0.1f, 0.33f, 0.77f, 0.99f}) {
    cubic_weights(t, w);
    EXPECT_NEAR(w[0] + w[1] + w[2] + w[3], 1.f, 1e-6f);
  }
}

TEST(AugmentGeometric, IdentityIsBitExact) {
  const U8Image img = random_image(37, 53, 3, 1), mask = random_image(37, 53, 1, 2);
  Rng rng(5);
  const GeomParams p = draw_geometric(rng, 37, 53, only(0, 0, 0, 0));
  EXPECT_TRUE(p.identity());
  U8Image a = img, m = mask;
  apply_geometric(a, &m, p);
  EXPECT_EQ(a.px, img.px);
  EXPECT_EQ(m.px, mask.px);
  // The samplers themselves reproduce the input on the identity map (cubic weights are exactly 0,1,0,0).
  const SampleMap map = build_sample_map(p);
  EXPECT_EQ(remap_bicubic(img, map).px, img.px);
  EXPECT_EQ(remap_nearest(mask, map).px, mask.px);
}

TEST(AugmentGeometric, FlipIsBitExactMirror) {
  const U8Image img = random_image(20, 31, 3, 3), mask = random_image(20, 31, 1, 4);
  Rng rng(6);
  const GeomParams p = draw_geometric(rng, 20, 31, only(1, 0, 0, 0));
  ASSERT_TRUE(p.flip);
  U8Image a = img, m = mask;
  apply_geometric(a, &m, p);
  for (int y = 0; y < 20; ++y)
    for (int x = 0; x < 31; ++x) {
      for (int ch = 0; ch < 3; ++ch) ASSERT_EQ(a.at(y, x, ch), img.at(y, 30 - x, ch));
      ASSERT_EQ(m.at(y, x), mask.at(y, 30 - x));
    }
}

TEST(AugmentGeometric, MaskStaysAlignedWithImage) {
  const struct {
    const char* name;
    GeomConfig cfg;
  } cases[] = {{"flip", only(1, 0, 0, 0)},    {"shear", only(0, 1, 0, 0)},   {"shift-scale-rotate", only(0, 0, 1, 0)},
               {"elastic", only(0, 0, 0, 1)}, {"all", only(1, 1, 1, 1)}};
  U8Image img0, mask0;
  rect_pair(96, 64, img0, mask0);
  for (const auto& c : cases)
    for (uint64_t seed = 0; seed < 6; ++seed) {
      Rng rng(100 + seed);
      const GeomParams p = draw_geometric(rng, 96, 64, c.cfg);
      U8Image img = img0, mask = mask0;
      apply_geometric(img, &mask, p);
      EXPECT_NE(mask.px, mask0.px) << c.name;
      expect_aligned(img, mask, c.name);
    }
}

TEST(AugmentGeometric, AffineMatricesFollowAlbumentations) {
  GeomParams p;
  p.h = 11, p.w = 21;  // centre (10, 5)
  p.shear_x_deg = 30;
  std::vector<double> m = shear_forward_matrix(p);
  // skimage shear: x' = x - sin(s) y, y' = cos(s) y about the centre.
  EXPECT_NEAR(m[0], 1, 1e-12);
  EXPECT_NEAR(m[1], -0.5, 1e-12);
  EXPECT_NEAR(m[3], 0, 1e-12);
  EXPECT_NEAR(m[4], std::sqrt(3.0) / 2, 1e-12);
  EXPECT_NEAR(m[0] * 10 + m[1] * 5 + m[2], 10, 1e-9);  // the centre is fixed
  EXPECT_NEAR(m[3] * 10 + m[4] * 5 + m[5], 5, 1e-9);
  p.shear_x_deg = 0, p.shear_y_deg = 30;  // via rotate(-90), shear, rotate(90): x' = cos(s) x, y' = sin(s) x + y
  m = shear_forward_matrix(p);
  EXPECT_NEAR(m[0], std::sqrt(3.0) / 2, 1e-12);
  EXPECT_NEAR(m[1], 0, 1e-12);
  EXPECT_NEAR(m[3], 0.5, 1e-12);
  EXPECT_NEAR(m[4], 1, 1e-12);
  p.shear_y_deg = 0, p.scale_x = 2, p.scale_y = 0.5, p.rotate_deg = 90, p.shift_x = 0.1, p.shift_y = -0.2;
  m = ssr_forward_matrix(p);  // [[sx cos r, -sy sin r], [sx sin r, sy cos r]], translation (0.1 w, -0.2 h)
  EXPECT_NEAR(m[0], 0, 1e-12);
  EXPECT_NEAR(m[1], -0.5, 1e-12);
  EXPECT_NEAR(m[3], 2, 1e-12);
  EXPECT_NEAR(m[4], 0, 1e-12);
  EXPECT_NEAR(m[0] * 10 + m[1] * 5 + m[2], 10 + 2.1, 1e-9);
  EXPECT_NEAR(m[3] * 10 + m[4] * 5 + m[5], 5 - 2.2, 1e-9);
}

TEST(AugmentGeometric, ShrinkLeavesConstantZeroBorder) {
  GeomParams p;
  p.h = 40, p.w = 60, p.ssr = true, p.scale_x = p.scale_y = 0.5;
  U8Image img(40, 60, 3, 200), mask(40, 60, 1, 2);
  apply_geometric(img, &mask, p);
  EXPECT_EQ(img.at(0, 0, 0), 0);
  EXPECT_EQ(img.at(39, 59, 2), 0);
  EXPECT_EQ(mask.at(0, 0), 0);
  EXPECT_EQ(img.at(20, 30, 1), 200);
  EXPECT_EQ(mask.at(20, 30), 2);
  // A stage's crop is kept when a later stage shrinks: the corners shear pushed off the frame stay black, so the
  // visible area is a quarter of the sheared-and-cropped area (composing without the crop would be ~6% more).
  GeomParams sh;
  sh.h = 200, sh.w = 300, sh.shear = true, sh.shear_x_deg = 20;
  GeomParams both = sh;
  both.ssr = true, both.scale_x = both.scale_y = 0.5;
  U8Image a(200, 300, 3, 200), ma(200, 300, 1, 1), b = a, mb = ma;
  apply_geometric(a, &ma, sh);
  apply_geometric(b, &mb, both);
  double n_sheared = 0, n_both = 0;
  for (auto v : ma.px) n_sheared += v;
  for (auto v : mb.px) n_both += v;
  std::printf("sheared area %.0f, then shrunk %.0f (expected %.0f)\n", n_sheared, n_both, n_sheared / 4);
  EXPECT_NEAR(n_both, n_sheared / 4, 0.015 * n_both);
}

TEST(AugmentGeometric, EachStageChangesTheImageOnlyWhenItFires) {
  const U8Image img = random_image(32, 48, 3, 9);
  const GeomConfig cfgs[] = {only(1, 0, 0, 0), only(0, 1, 0, 0), only(0, 0, 1, 0), only(0, 0, 0, 1)};
  for (int k = 0; k < 4; ++k) {
    Rng rng(40 + k);
    U8Image a = img;
    apply_geometric(a, nullptr, draw_geometric(rng, 32, 48, cfgs[k]));
    EXPECT_NE(a.px, img.px) << "stage " << k;
  }
  Rng rng(3);
  U8Image a = img;
  apply_geometric(a, nullptr, draw_geometric(rng, 32, 48, only(0, 0, 0, 0)));
  EXPECT_EQ(a.px, img.px);
}

TEST(AugmentGeometric, ProbabilitiesAndRanges) {
  Rng rng(2024);
  int fired[4] = {0, 0, 0, 0};
  const GeomConfig cfg;
  for (int i = 0; i < 2000; ++i) {
    const GeomParams p = draw_geometric(rng, 6, 5, cfg);
    fired[0] += p.flip, fired[1] += p.shear, fired[2] += p.ssr, fired[3] += p.elastic;
    if (p.shear) {
      EXPECT_LT(std::fabs(p.shear_x_deg), 20.0);
      EXPECT_LT(std::fabs(p.shear_y_deg), 20.0);
    }
    if (p.ssr) {
      EXPECT_LE(std::fabs(p.shift_x), 0.0625);
      EXPECT_LE(std::fabs(p.shift_y), 0.0625);
      EXPECT_GE(std::min(p.scale_x, p.scale_y), 0.5);
      EXPECT_LE(std::max(p.scale_x, p.scale_y), 1.5);
      EXPECT_LE(std::fabs(p.rotate_deg), 20.0);
    }
    EXPECT_EQ(p.dx.size(), p.elastic ? 30u : 0u);
  }
  for (int k = 0; k < 4; ++k) {
    std::printf("geometric stage %d fired %d / 2000\n", k, fired[k]);
    EXPECT_NEAR(fired[k], 1000, 100) << "stage " << k;
  }
}

TEST(AugmentGeometric, SameSeedSameOutput) {
  const U8Image img = random_image(30, 40, 3, 11), mask = random_image(30, 40, 1, 12);
  auto run = [&](uint64_t seed) {
    Rng rng(seed);
    U8Image a = img, m = mask;
    apply_geometric(a, &m, draw_geometric(rng, 30, 40, only(1, 1, 1, 1)));
    return std::make_pair(a.px, m.px);
  };
  EXPECT_EQ(run(77), run(77));
  EXPECT_NE(run(77).first, run(78).first);
}

TEST(AugmentGeometric, ElasticFieldStatistics) {
  const int h = 160, w = 240;
  Rng rng(8);
  std::vector<float> dx, dy;
  draw_elastic_field(rng, h, w, 35.0, 5.0, dx, dy);
  for (const auto* f : {&dx, &dy}) {
    double s = 0, s2 = 0, dsum = 0;
    for (float v : *f) s += v, s2 += double(v) * v;
    const double mean = s / f->size(), sd = std::sqrt(s2 / f->size() - mean * mean);
    for (int y = 0; y < h; ++y)
      for (int x = 0; x + 1 < w; ++x) dsum += std::fabs((*f)[y * w + x + 1] - (*f)[y * w + x]);
    const double mean_step = dsum / (h * (w - 1));
    // White U(-1,1) noise (var 1/3) through a 2-D Gaussian of sigma 5 keeps var/(4 pi sigma^2): sd ~ 35*0.0326 = 1.14.
    std::printf("elastic field: mean %.4f sd %.4f mean |neighbour step| %.4f\n", mean, sd, mean_step);
    EXPECT_LT(std::fabs(mean), 0.15);
    EXPECT_GT(sd, 0.8);
    EXPECT_LT(sd, 1.6);
    EXPECT_LT(mean_step, 0.2 * sd);  // smooth: unsmoothed noise would step ~1.1 sd
  }
  // The smoothing keeps constants (normalised kernel, reflect border) and spreads an impulse as a Gaussian.
  std::vector<float> c(7 * 9, 3.f);
  gaussian_smooth(c, 7, 9, 5.0);
  for (float v : c) EXPECT_NEAR(v, 3.f, 1e-5f);
  std::vector<float> imp(61 * 61, 0.f);
  imp[30 * 61 + 30] = 1.f;
  gaussian_smooth(imp, 61, 61, 2.0);
  EXPECT_NEAR(imp[30 * 61 + 32] / imp[30 * 61 + 30], std::exp(-0.5), 1e-5);
  EXPECT_NEAR(imp[32 * 61 + 30] / imp[30 * 61 + 30], std::exp(-0.5), 1e-5);
}

TEST(AugmentGeometric, Errors) {
  Rng rng(1);
  const GeomParams p = draw_geometric(rng, 10, 12, only(1, 0, 0, 0));
  U8Image img(10, 13, 3), mask(10, 12, 1);
  EXPECT_TRUE(cq::testing::contains(cq::testing::error_of([&] { apply_geometric(img, &mask, p); }), "image is 10x13"));
  U8Image img2(10, 12, 3), mask2(9, 12, 1);
  EXPECT_TRUE(cq::testing::contains(cq::testing::error_of([&] { apply_geometric(img2, &mask2, p); }), "mask is 9x12"));
  EXPECT_TRUE(cq::testing::contains(cq::testing::error_of([&] { draw_geometric(rng, 0, 5); }), "image size 0x5"));
  GeomParams bad = p;
  bad.elastic = true;
  EXPECT_TRUE(cq::testing::contains(cq::testing::error_of([&] { build_sample_map(bad); }), "elastic field"));
}
