// Resizing against hand-computed cases and against cv2.resize outputs (tests/data/fixtures, made by
// make_resize_fixtures.py with OpenCV 4.6.0).
#include "data/resize.h"

#include <gtest/gtest.h>

#include <cstdio>

#include "tests/support/test_util.h"

using namespace cq;
using namespace cq::data;

namespace {

Image row(std::vector<uint8_t> v) {
  Image img(1, int(v.size()), 1);
  img.px = std::move(v);
  return img;
}

std::string fixture(const std::string& name) { return std::string(CQ_SOURCE_DIR) + "/tests/data/fixtures/" + name; }

}  // namespace

// Worked by hand in the Keys kernel (a = -0.75) with OpenCV's 11-bit weights:
//  4 -> 2: f = 0.5, weights (-192, 1216, 1216, -192)/2048.
//    out[0] taps src[-1,0,1,2] -> clamped (10,10,20,200): -3840/2048 = -1.875 -> saturates to 0
//    out[1] taps src[1..4] -> (20,200,40,40): 280320/2048 = 136.875 -> 137
//  2 -> 4: f = 0.75 / 0.25 give weights (-72, 536, 1800, -216) / (-216, 1800, 536, -72);
//    out = (-216*100)/2048 -> 0, 46400/2048 = 22.66 -> 23, 158400/2048 = 77.34 -> 77, 226400/2048 = 110.5 -> 111
// (cv2.resize gives the same: [0 137] and [0 23 77 111]).
TEST(DataResize, CubicHandComputed) {
  EXPECT_EQ(resize_cubic(row({10, 20, 200, 40}), 1, 2).px, (std::vector<uint8_t>{0, 137}));
  EXPECT_EQ(resize_cubic(row({0, 100}), 1, 4).px, (std::vector<uint8_t>{0, 23, 77, 111}));
  // The same along the other axis, and per channel independently.
  Image col(4, 1, 2);
  col.px = {10, 0, 20, 0, 200, 0, 40, 0};
  EXPECT_EQ(resize_cubic(col, 2, 1).px, (std::vector<uint8_t>{0, 0, 137, 0}));
  // A flat image stays flat (weights sum to 2048), and an unchanged size is a copy.
  Image flat(5, 7, 3, 77);
  EXPECT_EQ(resize_cubic(flat, 11, 3).px, std::vector<uint8_t>(11 * 3 * 3, 77));
  Image any(3, 4, 1);
  for (size_t i = 0; i < any.px.size(); ++i) any.px[i] = uint8_t(i * 20);
  EXPECT_EQ(resize_cubic(any, 3, 4).px, any.px);
}

// cv2.INTER_NEAREST: src = floor(dst * in / out).
TEST(DataResize, NearestHandComputed) {
  EXPECT_EQ(resize_nearest(row({0, 1, 2, 3, 4}), 1, 3).px, (std::vector<uint8_t>{0, 1, 3}));
  EXPECT_EQ(resize_nearest(row({0, 1}), 1, 5).px, (std::vector<uint8_t>{0, 0, 0, 1, 1}));
  for (int in : {565, 584, 999, 960})
    for (int out : {256, 512, 768, 384})
      for (int d = 0; d < out; ++d) ASSERT_EQ(nearest_source_index(d, in, out), int64_t(d) * in / out) << in << out;
  // Label values are copied, never blended.
  Image m(3, 3, 1);
  m.px = {0, 1, 2, 3, 4, 5, 6, 7, 8};
  for (uint8_t v : resize_nearest(m, 7, 5).px) EXPECT_LE(v, 8);
}

TEST(DataResize, MatchesOpenCvFixtures) {
  const Image src = read_image(fixture("resize_src.png"));
  ASSERT_EQ(src.h, 37);
  ASSERT_EQ(src.w, 53);
  for (const char* size : {"16x21", "101x77", "37x120", "9x53"}) {
    int h = 0, w = 0;
    ASSERT_EQ(std::sscanf(size, "%dx%d", &h, &w), 2);
    for (const char* kind : {"cubic", "nearest"}) {
      const Image ref = read_image(fixture(std::string("resize_") + kind + "_" + size + ".png"));
      const Image got = std::string(kind) == "cubic" ? resize_cubic(src, h, w) : resize_nearest(src, h, w);
      ASSERT_EQ(got.h, ref.h);
      ASSERT_EQ(got.w, ref.w);
      int diff = 0, max_diff = 0;
      for (size_t i = 0; i < ref.px.size(); ++i) {
        const int d = std::abs(int(got.px[i]) - int(ref.px[i]));
        diff += d != 0;
        max_diff = std::max(max_diff, d);
      }
      std::printf("resize %s %s vs cv2: %d of %zu values differ, max abs diff %d\n", kind, size, diff, ref.px.size(),
                  max_diff);
      // OpenCV's SIMD vertical pass rounds in float: at most 1 apart, and only on rare exact ties.
      EXPECT_LE(max_diff, 1) << kind << " " << size;
      EXPECT_LE(diff, int(ref.px.size() / 500)) << kind << " " << size;
      if (std::string(kind) == "nearest") {
        EXPECT_EQ(diff, 0);
      }
    }
  }
}

// Negative: a different interpolation (nearest in place of cubic) is far from the cubic reference, so the
// fixture comparison above can tell the two apart.
TEST(DataResize, FixtureComparisonDetectsWrongInterpolation) {
  const Image src = read_image(fixture("resize_src.png"));
  const Image ref = read_image(fixture("resize_cubic_101x77.png"));
  const Image wrong = resize_nearest(src, 101, 77);
  int diff = 0;
  for (size_t i = 0; i < ref.px.size(); ++i) diff += wrong.px[i] != ref.px[i];
  EXPECT_GT(diff, int(ref.px.size() / 4));
}

TEST(DataResize, RejectsBadSizes) {
  Image img(2, 2, 1);
  EXPECT_TRUE(cq::testing::contains(cq::testing::error_of([&] { resize_cubic(img, 0, 3); }), "must be positive"));
  EXPECT_TRUE(cq::testing::contains(cq::testing::error_of([&] { resize_nearest(Image(), 3, 3); }), "bad source"));
}
