// data/augment photometric: blur, sharpen, brightness/contrast and RGB shift against hand-computed values on tiny
// images; noise statistics and saturation; each op changes the image only when it fires; draw probabilities and
// ranges; determinism; errors.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <vector>

#include "data/augment.h"
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

U8Image from_rows(int h, int w, std::vector<int> v) {
  U8Image im(h, w, 1);
  for (size_t i = 0; i < v.size(); ++i) im.px[i] = uint8_t(v[i]);
  return im;
}

PhotoConfig only(double blur, double sharpen, double noise, double bc, double rgb) {
  PhotoConfig c;
  c.p_blur = blur, c.p_sharpen = sharpen, c.p_noise = noise, c.p_bc = bc, c.p_rgb = rgb;
  return c;
}

}  // namespace

TEST(AugmentPhotometric, BoxBlurByHand) {
  U8Image im = from_rows(3, 3, {10, 20, 30, 40, 50, 60, 70, 80, 90});
  box_blur(im, 3);
  // reflect101 border: (0,0) sees rows {1,0,1} x cols {1,0,1}: (50+40+50 + 20+10+20 + 50+40+50) / 9 = 36.67 -> 37.
  EXPECT_EQ(im.at(0, 0), 37);
  EXPECT_EQ(im.at(0, 1), 40);  // (150 + 60 + 150) / 9
  EXPECT_EQ(im.at(1, 1), 50);
  EXPECT_EQ(im.at(2, 2), 63);  // (50+60+50 + 80+90+80 + 50+60+50) / 9 = 63.33
  U8Image flat(9, 7, 3, 77);
  box_blur(flat, 11);  // kernel larger than the image: the border rule still covers it
  for (auto v : flat.px) EXPECT_EQ(v, 77);
}

TEST(AugmentPhotometric, SharpenByHand) {
  float k[9];
  sharpen_kernel(0.5, 0.7, k);  // 0.5 * identity + 0.5 * [[-1..], [-1, 8.7, -1], [-1..]]
  EXPECT_FLOAT_EQ(k[4], 4.85f);
  for (int i : {0, 1, 2, 3, 5, 6, 7, 8}) EXPECT_FLOAT_EQ(k[i], -0.5f);
  U8Image im = from_rows(3, 3, {110, 120, 130, 140, 151, 160, 170, 180, 190});
  sharpen(im, 0.3, 0.5);  // centre 0.7 + 0.3 * 8.5 = 3.25, others -0.3
  EXPECT_EQ(im.at(1, 1), 131);  // 3.25*151 - 0.3*1200 = 130.75
  EXPECT_EQ(im.at(0, 1), 47);   // window rows {1,0,1}: 3.25*120 - 0.3*1142 = 47.4
  EXPECT_EQ(im.at(0, 0), 20);   // 3.25*110 - 0.3*1124 = 20.3
  U8Image dark = from_rows(1, 3, {0, 255, 0});
  sharpen(dark, 0.9, 1.0);  // saturates instead of wrapping
  EXPECT_EQ(dark.at(0, 0), 0);
  EXPECT_EQ(dark.at(0, 1), 255);
}

TEST(AugmentPhotometric, BrightnessContrastAndRgbShiftByHand) {
  U8Image im = from_rows(1, 5, {0, 50, 100, 200, 255});
  brightness_contrast(im, 0.1, -0.05);  // v * 1.1 - 12.75, clipped and truncated
  EXPECT_EQ(im.px, (std::vector<uint8_t>{0, 42, 97, 207, 255}));
  U8Image rgb(1, 2, 3);
  rgb.px = {10, 100, 250, 20, 0, 3};
  const double shift[3] = {-15.5, 7.9, 10};
  rgb_shift(rgb, shift);
  EXPECT_EQ(rgb.px, (std::vector<uint8_t>{0, 107, 255, 4, 7, 13}));
}

TEST(AugmentPhotometric, NoiseStatisticsAndSaturation) {
  U8Image grey(128, 128, 3, 128), orig = grey;
  Rng rng(4);
  const double sigma = std::sqrt(60.0);
  gauss_noise(grey, sigma, rng);
  double s = 0, s2 = 0;
  for (size_t i = 0; i < grey.size(); ++i) {
    const double d = double(grey.px[i]) - orig.px[i];
    s += d, s2 += d * d;
  }
  const double mean = s / grey.size(), sd = std::sqrt(s2 / grey.size() - mean * mean);
  std::printf("noise sigma %.3f: measured mean %.3f (truncation biases by -0.5) sd %.3f\n", sigma, mean, sd);
  EXPECT_NEAR(mean, -0.5, 0.1);
  EXPECT_NEAR(sd, sigma, 0.05 * sigma);
  EXPECT_NE(grey.at(5, 5, 0), grey.at(5, 5, 1));  // per channel
  U8Image white(32, 32, 3, 255), black(32, 32, 3, 0);
  gauss_noise(white, 10.0, rng);
  gauss_noise(black, 10.0, rng);
  for (auto v : white.px) ASSERT_GT(v, 180);  // clipped, never wrapped round
  for (auto v : black.px) ASSERT_LT(v, 75);
  U8Image same = orig;
  gauss_noise(same, 0.0, rng);
  EXPECT_EQ(same.px, orig.px);
}

TEST(AugmentPhotometric, EachOpChangesTheImageOnlyWhenItFires) {
  const U8Image img = random_image(24, 40, 3, 1);
  const PhotoConfig cfgs[] = {only(1, 0, 0, 0, 0), only(0, 1, 0, 0, 0), only(0, 0, 1, 0, 0), only(0, 0, 0, 1, 0),
                              only(0, 0, 0, 0, 1)};
  for (int k = 0; k < 5; ++k) {
    Rng rng(30 + k);
    const PhotoParams p = draw_photometric(rng, cfgs[k]);
    U8Image a = img;
    apply_photometric(a, p, rng);
    EXPECT_NE(a.px, img.px) << "op " << k;
  }
  Rng rng(9);
  const PhotoParams p = draw_photometric(rng, only(0, 0, 0, 0, 0));
  EXPECT_TRUE(p.identity());
  U8Image a = img;
  apply_photometric(a, p, rng);
  EXPECT_EQ(a.px, img.px);
}

TEST(AugmentPhotometric, ProbabilitiesAndRanges) {
  Rng rng(2025);
  int fired[5] = {0, 0, 0, 0, 0}, ksize[12] = {0};
  for (int i = 0; i < 2000; ++i) {
    const PhotoParams p = draw_photometric(rng);
    fired[0] += p.blur, fired[1] += p.sharpen, fired[2] += p.noise, fired[3] += p.bc, fired[4] += p.rgb;
    if (p.blur) {
      ASSERT_TRUE(p.blur_k >= 3 && p.blur_k <= 11 && p.blur_k % 2 == 1) << p.blur_k;
      ksize[p.blur_k]++;
    }
    if (p.sharpen) {
      EXPECT_TRUE(p.sharpen_alpha >= 0.3 && p.sharpen_alpha <= 0.9);
      EXPECT_TRUE(p.lightness >= 0.5 && p.lightness <= 1.0);
    }
    if (p.noise) {
      EXPECT_TRUE(p.noise_sigma >= std::sqrt(30.0) && p.noise_sigma <= std::sqrt(90.0));
    }
    if (p.bc) {
      EXPECT_TRUE(std::fabs(p.contrast) <= 0.2 && std::fabs(p.brightness) <= 0.2);
    }
    if (p.rgb) {
      for (double s : p.shift) EXPECT_LE(std::fabs(s), 20.0);
    }
  }
  for (int k = 0; k < 5; ++k) {
    std::printf("photometric op %d fired %d / 2000\n", k, fired[k]);
    EXPECT_NEAR(fired[k], 1000, 100) << "op " << k;
  }
  for (int k = 3; k <= 11; k += 2) EXPECT_NEAR(ksize[k], fired[0] / 5.0, 0.25 * fired[0] / 5.0) << "k " << k;
}

TEST(AugmentPhotometric, SameSeedSameOutputAndValidRange) {
  const U8Image img = random_image(40, 30, 3, 2);
  auto run = [&](uint64_t seed) {
    Rng rng(seed);
    U8Image a = img;
    apply_photometric(a, draw_photometric(rng, only(1, 1, 1, 1, 1)), rng);
    return a;
  };
  const U8Image a = run(5), b = run(5), c = run(6);
  EXPECT_EQ(a.px, b.px);
  EXPECT_NE(a.px, c.px);
  EXPECT_EQ(a.h, 40);
  EXPECT_EQ(a.w, 30);
  EXPECT_EQ(a.c, 3);
  EXPECT_EQ(a.size(), img.size());
  // Brightness/contrast at their extremes saturate at the ends of the range rather than wrapping.
  U8Image hi = from_rows(1, 2, {0, 255}), lo = hi;
  brightness_contrast(hi, 0.2, 0.2);
  brightness_contrast(lo, -0.2, -0.2);
  EXPECT_EQ(hi.px, (std::vector<uint8_t>{51, 255}));
  EXPECT_EQ(lo.px, (std::vector<uint8_t>{0, 153}));
}

TEST(AugmentPhotometric, Errors) {
  U8Image gray(4, 4, 1);
  Rng rng(1);
  const PhotoParams p = draw_photometric(rng);
  EXPECT_TRUE(cq::testing::contains(cq::testing::error_of([&] { apply_photometric(gray, p, rng); }), "needs an RGB image"));
  U8Image rgb(4, 4, 3);
  EXPECT_TRUE(cq::testing::contains(cq::testing::error_of([&] { box_blur(rgb, 4); }), "kernel size 4"));
  U8Image broken(4, 4, 3);
  broken.px.resize(5);
  EXPECT_TRUE(cq::testing::contains(cq::testing::error_of([&] { sharpen(broken, 0.5, 0.5); }), "with 5 bytes"));
  PhotoConfig bad;
  bad.blur_max = 10;
  EXPECT_TRUE(cq::testing::contains(cq::testing::error_of([&] { draw_photometric(rng, bad); }), "blur kernel range"));
}
