// data/augment make_views: the base / aug / cqg views equal the draw-then-apply steps in the documented order, CQG's
// views share one geometric draw and one mask, determinism, mode names, errors, and (printed, not asserted) the time
// of one CQG sample at the training size.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>

#include "data/augment.h"
#include "tests/support/test_util.h"

using namespace cq;
using namespace cq::data;

namespace {

U8Image random_image(int h, int w, int c, uint64_t seed, int levels = 256) {
  Rng r(seed);
  U8Image im(h, w, c);
  for (auto& v : im.px) v = uint8_t(r.below(levels));
  return im;
}

AugConfig always() {
  AugConfig c;
  c.geom.p_flip = c.geom.p_shear = c.geom.p_ssr = c.geom.p_elastic = 1;
  c.photo.p_blur = c.photo.p_sharpen = c.photo.p_noise = c.photo.p_bc = c.photo.p_rgb = 1;
  return c;
}

}  // namespace

TEST(AugmentViews, BaseIsTheInput) {
  const U8Image img = random_image(20, 30, 3, 1), mask = random_image(20, 30, 1, 2, 4);
  Rng rng(3);
  const Views v = make_views(img, mask, AugMode::base, rng, always());
  EXPECT_EQ(v.x1.px, img.px);
  EXPECT_EQ(v.mask.px, mask.px);
  EXPECT_TRUE(v.x2.empty());
  EXPECT_EQ(rng.next_u64(), Rng(3).next_u64());  // base draws nothing
}

TEST(AugmentViews, CqgSharesOneGeometricDraw) {
  const U8Image img = random_image(48, 32, 3, 4), mask = random_image(48, 32, 1, 5, 4);
  for (uint64_t seed = 0; seed < 4; ++seed) {
    Rng rng(seed);
    const Views v = make_views(img, mask, AugMode::cqg, rng, always());
    // The same steps by hand: geometric draw, photometric draw, then the noise values, from one stream.
    Rng r2(seed);
    const GeomParams g = draw_geometric(r2, 48, 32, always().geom);
    const PhotoParams p = draw_photometric(r2, always().photo);
    U8Image x1 = img, m = mask;
    apply_geometric(x1, &m, g);
    U8Image x2 = x1;
    apply_photometric(x2, p, r2);
    EXPECT_EQ(v.x1.px, x1.px);
    EXPECT_EQ(v.x2.px, x2.px);
    EXPECT_EQ(v.mask.px, m.px);
    EXPECT_NE(v.x1.px, v.x2.px);
    EXPECT_NE(v.x1.px, img.px);
  }
  // Without photometric changes the two CQG views are the same image.
  AugConfig geom_only = always();
  geom_only.photo.p_blur = geom_only.photo.p_sharpen = geom_only.photo.p_noise = 0;
  geom_only.photo.p_bc = geom_only.photo.p_rgb = 0;
  Rng rng(9);
  const Views v = make_views(img, mask, AugMode::cqg, rng, geom_only);
  EXPECT_EQ(v.x1.px, v.x2.px);
}

TEST(AugmentViews, AugIsOneFullyAugmentedView) {
  const U8Image img = random_image(30, 20, 3, 6), mask = random_image(30, 20, 1, 7, 3);
  Rng rng(11), r2(11);
  const Views v = make_views(img, mask, AugMode::aug, rng, always());
  const GeomParams g = draw_geometric(r2, 30, 20, always().geom);
  const PhotoParams p = draw_photometric(r2, always().photo);
  U8Image x = img, m = mask;
  apply_geometric(x, &m, g);
  apply_photometric(x, p, r2);
  EXPECT_EQ(v.x1.px, x.px);
  EXPECT_EQ(v.mask.px, m.px);
  EXPECT_TRUE(v.x2.empty());
}

TEST(AugmentViews, SameSeedSameViewsAndEmptyMask) {
  const U8Image img = random_image(40, 24, 3, 8);
  Rng a(21), b(21), c(22);
  const Views va = make_views(img, U8Image(), AugMode::cqg, a), vb = make_views(img, U8Image(), AugMode::cqg, b);
  const Views vc = make_views(img, U8Image(), AugMode::cqg, c);
  EXPECT_EQ(va.x1.px, vb.x1.px);
  EXPECT_EQ(va.x2.px, vb.x2.px);
  EXPECT_TRUE(va.mask.empty());
  EXPECT_TRUE(va.x2.px != vc.x2.px || va.x1.px != vc.x1.px);
}

TEST(AugmentViews, ModeNamesAndErrors) {
  for (AugMode m : {AugMode::base, AugMode::aug, AugMode::cqg}) EXPECT_EQ(aug_mode_from_string(aug_mode_name(m)), m);
  EXPECT_TRUE(cq::testing::contains(cq::testing::error_of([] { aug_mode_from_string("cqgg"); }), "'cqgg' is not one of"));
  Rng rng(1);
  const U8Image img(10, 10, 3), gray(10, 10, 1), mask(10, 11, 1);
  EXPECT_TRUE(cq::testing::contains(cq::testing::error_of([&] { make_views(img, mask, AugMode::cqg, rng); }),
                                "mask 10x11 does not match image 10x10"));
  EXPECT_TRUE(cq::testing::contains(cq::testing::error_of([&] { make_views(gray, U8Image(), AugMode::aug, rng); }),
                                "needs an RGB image"));
  EXPECT_NO_THROW(make_views(gray, U8Image(), AugMode::base, rng));
}

// A measurement for the report: one CQG sample (two views + mask) at 768 high x 512 wide, every op firing (worst
// case) and with the spec's probabilities.
TEST(AugmentViews, TimeCqgAtTrainingSize) {
  const U8Image img = random_image(768, 512, 3, 1), mask = random_image(768, 512, 1, 2, 5);
  for (int worst = 1; worst >= 0; --worst) {
    const AugConfig cfg = worst ? always() : AugConfig();
    Rng rng(5);
    const int reps = 4;
    const auto t0 = std::chrono::steady_clock::now();
    for (int i = 0; i < reps; ++i) make_views(img, mask, AugMode::cqg, rng, cfg);
    const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count() / reps;
    std::printf("make_views(cqg) 768x512 RGB, %s: %.1f ms per sample (1 thread)\n",
                worst ? "every op firing" : "spec probabilities", ms);
  }
}
