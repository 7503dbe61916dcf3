// Unit tests of the colour transfer: degenerate inputs (constant channels, all black, empty mask), determinism across
// thread counts, seeded reproducibility, and clear errors on bad input.
#include <gtest/gtest.h>

#include <cmath>

#include "colorxfer/colorxfer.h"
#include "colorxfer/colorxfer_math.h"
#include "tests/support/test_util.h"

using namespace cq;
using namespace cq::dcin;

namespace {
Tensor random_image(Context& ctx, int64_t h, int64_t w, uint64_t seed) {
  Rng rng(seed);
  Tensor t = ctx.empty({h, w, 3}, DType::u8);
  uint8_t* p = t.data<uint8_t>();
  for (int64_t i = 0; i < t.numel(); ++i) p[i] = static_cast<uint8_t>(rng.below(256));
  return t;
}
Tensor constant_image(Context& ctx, int64_t h, int64_t w, uint8_t r, uint8_t g, uint8_t b) {
  Tensor t = ctx.empty({h, w, 3}, DType::u8);
  uint8_t* p = t.data<uint8_t>();
  for (int64_t i = 0; i < h * w; ++i) p[3 * i] = r, p[3 * i + 1] = g, p[3 * i + 2] = b;
  return t;
}
const ColorSpace kSpaces[] = {ColorSpace::LabReinhard, ColorSpace::LabCv};
}  // namespace

TEST(ColorXfer, ParseNames) {
  EXPECT_EQ(parse_color_space("lab-reinhard"), ColorSpace::LabReinhard);
  EXPECT_EQ(parse_color_space("lab-cv"), ColorSpace::LabCv);
  EXPECT_TRUE(cq::testing::contains(cq::testing::error_of([] { parse_color_space("hsv"); }), "lab-reinhard or lab-cv"));
}

TEST(ColorXfer, SelfTransferIsNearIdentityReinhard) {
  Context ctx = cq::testing::make_ctx(2);
  Tensor img = random_image(ctx, 40, 30, 1);
  ColorStats st = color_stats(img, {});
  auto a = img.to_vector<uint8_t>(), b = color_transfer(img, st).to_vector<uint8_t>();
  int mx = 0;
  for (size_t i = 0; i < a.size(); ++i) mx = std::max(mx, std::abs(int(a[i]) - int(b[i])));
  // Only the floor at 1/255 (near-black) and the paper's rounded inverse matrix move values; by a few levels.
  EXPECT_LE(mx, 4);
}

TEST(ColorXfer, ConstantAndBlackImagesAreDefined) {
  Context ctx = cq::testing::make_ctx(2);
  Tensor ref = random_image(ctx, 20, 20, 2);
  for (ColorSpace cs : kSpaces) {
    TransferOptions o{cs, -1};
    ColorStats r = color_stats(ref, o);
    for (Tensor img : {constant_image(ctx, 8, 9, 0, 0, 0), constant_image(ctx, 8, 9, 200, 30, 90)}) {
      ColorStats s = color_stats(img, o);
      for (int c = 0; c < 3; ++c) EXPECT_TRUE(std::isfinite(s.mean[c]) && s.std[c] < 1e-6);
      auto out = color_transfer(img, r).to_vector<uint8_t>();
      // Constant channels map to the reference mean: the output is one flat colour.
      for (size_t i = 3; i < out.size(); ++i) EXPECT_EQ(out[i], out[i % 3]);
      if (cs == ColorSpace::LabReinhard) {
        auto f = color_transfer_reinhard_f32(img, r).to_vector<float>();
        for (float v : f) EXPECT_TRUE(std::isfinite(v) && v >= 0 && v <= 1);
      }
    }
  }
}

TEST(ColorXfer, EmptyMaskPassesInputThroughAndRejectsEmptyReference) {
  Context ctx = cq::testing::make_ctx(2);
  Tensor black = constant_image(ctx, 6, 7, 3, 5, 10);  // max 10: outside a mask with threshold 10
  Tensor ref = random_image(ctx, 12, 12, 3);
  for (ColorSpace cs : kSpaces) {
    TransferOptions o{cs, 10};
    ColorStats r = color_stats(ref, o);
    EXPECT_EQ(color_stats(black, o).count, 0);
    EXPECT_EQ(color_transfer(black, r).to_vector<uint8_t>(), black.to_vector<uint8_t>());
    std::string e = cq::testing::error_of([&] { color_transfer(ref, black, o); });
    EXPECT_TRUE(cq::testing::contains(e, "reference has no pixels with max(R,G,B) > 10")) << e;
  }
  auto f = color_transfer_reinhard_f32(black, color_stats(ref, {ColorSpace::LabReinhard, 10})).to_vector<float>();
  EXPECT_FLOAT_EQ(f[2], 10.0f / 255.0f);
}

TEST(ColorXfer, MaskedPixelsOutsideMaskUnchanged) {
  Context ctx = cq::testing::make_ctx(2);
  Tensor img = random_image(ctx, 16, 16, 4);
  uint8_t* p = img.data<uint8_t>();
  for (int i = 0; i < 40; ++i) p[3 * i] = p[3 * i + 1] = p[3 * i + 2] = static_cast<uint8_t>(i % 11);
  Tensor ref = random_image(ctx, 16, 16, 5);
  for (ColorSpace cs : kSpaces) {
    auto out = color_transfer(img, ref, {cs, 10}).to_vector<uint8_t>();
    for (int i = 0; i < 40 * 3; ++i) EXPECT_EQ(out[i], p[i]);
  }
}

TEST(ColorXfer, DeterministicAcrossThreadCounts) {
  Context c1 = cq::testing::make_ctx(1), c2 = cq::testing::make_ctx(3);
  Tensor a1 = random_image(c1, 97, 61, 6), r1 = random_image(c1, 50, 40, 7);
  Tensor a2 = random_image(c2, 97, 61, 6), r2 = random_image(c2, 50, 40, 7);
  for (ColorSpace cs : kSpaces) {
    for (int thr : {-1, 10}) {
      TransferOptions o{cs, thr};
      ColorStats s1 = color_stats(a1, o), s2 = color_stats(a2, o);
      for (int c = 0; c < 3; ++c) {
        EXPECT_EQ(s1.mean[c], s2.mean[c]);  // bitwise
        EXPECT_EQ(s1.std[c], s2.std[c]);
      }
      EXPECT_EQ(color_transfer(a1, r1, o).to_vector<uint8_t>(), color_transfer(a2, r2, o).to_vector<uint8_t>());
    }
  }
}

TEST(ColorXfer, MovesStatisticsTowardReference) {
  Context ctx = cq::testing::make_ctx(2);
  Tensor img = random_image(ctx, 64, 64, 8);
  uint8_t* p = img.data<uint8_t>();
  for (int64_t i = 0; i < img.numel(); i += 3) p[i] = static_cast<uint8_t>(p[i] / 4);  // a dim red channel
  Tensor ref = random_image(ctx, 64, 64, 9);
  TransferOptions o{ColorSpace::LabReinhard, -1};
  ColorStats r = color_stats(ref, o), out = color_stats(color_transfer(img, ref, o), o);
  for (int c = 0; c < 3; ++c) {
    EXPECT_NEAR(out.mean[c], r.mean[c], 0.02) << c;
    EXPECT_NEAR(out.std[c], r.std[c], 0.02) << c;
  }
}

TEST(ColorXfer, BadInputsNameTheImage) {
  Context ctx = cq::testing::make_ctx(1);
  Tensor f = ctx.zeros({4, 4, 3});
  EXPECT_TRUE(cq::testing::contains(cq::testing::error_of([&] { color_stats(f, {}, "a.png"); }),
                                    "a.png: expected a u8 RGB image [H,W,3]"));
  Tensor g = ctx.zeros({4, 4, 4}, DType::u8);
  EXPECT_TRUE(cq::testing::contains(cq::testing::error_of([&] { color_stats(g, {}, "b.png"); }), "b.png"));
  Tensor img = random_image(ctx, 4, 4, 1);
  ColorStats cv = color_stats(img, {ColorSpace::LabCv, -1});
  EXPECT_TRUE(cq::testing::contains(cq::testing::error_of([&] { color_transfer_reinhard_f32(img, cv, "c.png"); }),
                                    "lab-reinhard only"));
  Tensor nc = random_image(ctx, 4, 4, 1).permute({1, 0, 2});
  EXPECT_TRUE(cq::testing::contains(cq::testing::error_of([&] { color_stats(nc, {}, "d.png"); }), "contiguous"));
}
