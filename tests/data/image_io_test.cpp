// Image reading/writing and Image <-> Tensor conversions.
#include "data/image_io.h"

#include <gtest/gtest.h>

#include <cmath>

#include "data/png_raw.h"
#include "stb_image_write.h"
#include "tests/data/data_test_util.h"
#include "tests/support/test_util.h"

using namespace cq;
using namespace cq::data;
using cq::testing::contains;
using cq::testing::error_of;
using cq::testing::TempDir;

namespace {

Image pattern(int h, int w, int c) {
  Image img(h, w, c);
  for (size_t i = 0; i < img.px.size(); ++i) img.px[i] = uint8_t((i * 37 + 11) % 256);
  return img;
}

std::vector<uint8_t> encode_with(const Image& img, const char* fmt) {
  std::vector<uint8_t> out;
  auto sink = [](void* ctx, void* data, int size) {
    auto* o = static_cast<std::vector<uint8_t>*>(ctx);
    o->insert(o->end(), static_cast<uint8_t*>(data), static_cast<uint8_t*>(data) + size);
  };
  if (std::string(fmt) == "jpg") stbi_write_jpg_to_func(sink, &out, img.w, img.h, img.c, img.px.data(), 95);
  if (std::string(fmt) == "bmp") stbi_write_bmp_to_func(sink, &out, img.w, img.h, img.c, img.px.data());
  return out;
}

}  // namespace

TEST(DataImageIo, PngRoundTripRgbAndGrey) {
  TempDir tmp;
  const Image rgb = pattern(7, 9, 3), grey = pattern(5, 4, 1);
  write_png(tmp / "rgb.png", rgb);
  write_png(tmp / "grey.png", grey);
  EXPECT_EQ(read_image(tmp / "rgb.png").px, rgb.px);
  const Image g3 = read_image(tmp / "grey.png");  // grey replicated to RGB
  ASSERT_EQ(g3.c, 3);
  for (size_t i = 0; i < grey.px.size(); ++i)
    for (int c = 0; c < 3; ++c) EXPECT_EQ(g3.px[3 * i + c], grey.px[i]);
  const Image m = read_mask(tmp / "grey.png");
  EXPECT_EQ(m.c, 1);
  EXPECT_EQ(m.px, grey.px);
  const ImageInfo info = probe_image(tmp / "rgb.png");
  EXPECT_EQ(info.h, 7);
  EXPECT_EQ(info.w, 9);
  EXPECT_EQ(info.channels, 3);
}

TEST(DataImageIo, BmpAndJpegRead) {
  TempDir tmp;
  const Image rgb = pattern(6, 8, 3);
  cq::testing::write_bytes(tmp / "a.bmp", encode_with(rgb, "bmp"));
  EXPECT_EQ(read_image(tmp / "a.bmp").px, rgb.px);
  Image flat(16, 16, 3, 120);  // JPEG is lossy: a flat image decodes (nearly) exactly
  cq::testing::write_bytes(tmp / "a.jpg", encode_with(flat, "jpg"));
  const Image j = read_image(tmp / "a.jpg");
  ASSERT_EQ(j.h, 16);
  for (uint8_t v : j.px) EXPECT_NEAR(v, 120, 2);
}

TEST(DataImageIo, GifMaskIsReadAsGreyValue) {
  TempDir tmp;
  std::vector<uint8_t> pal(256 * 3), idx(30 * 20);
  for (int i = 0; i < 256; ++i) pal[3 * i] = pal[3 * i + 1] = pal[3 * i + 2] = uint8_t(255 - i);  // inverted grey
  for (size_t i = 0; i < idx.size(); ++i) idx[i] = (i % 7 == 0) ? 0 : 255;
  cq::testing::write_bytes(tmp / "m.gif", cq::testing::make_gif(30, 20, idx, pal));
  const Image m = read_mask(tmp / "m.gif");
  ASSERT_EQ(m.h, 20);
  ASSERT_EQ(m.w, 30);
  for (size_t i = 0; i < idx.size(); ++i) ASSERT_EQ(m.px[i], 255 - idx[i]) << i;  // the grey value, by design
}

// Palette PNG masks give the palette index, not a colour; checked against stb's colour expansion of the same file.
TEST(DataImageIo, PalettePngMaskGivesIndices) {
  TempDir tmp;
  const int w = 13, h = 11;
  const std::vector<uint8_t> pal = {0, 0, 0, 255, 0, 0, 0, 255, 0, 0, 0, 255, 0, 0, 0};  // index 4 repeats black
  for (int depth : {1, 2, 4, 8})
    for (bool interlace : {false, true}) {
      const int ncol = std::min(5, 1 << depth);
      std::vector<uint16_t> v(w * h);
      for (size_t i = 0; i < v.size(); ++i) v[i] = uint16_t((i * 7 + i / w) % ncol);
      const std::string path = tmp / ("p" + std::to_string(depth) + (interlace ? "i" : "") + ".png");
      cq::testing::write_bytes(path, cq::testing::make_png(w, h, depth, 3, v, pal, interlace));
      const Image m = read_mask(path);
      ASSERT_EQ(m.c, 1);
      ASSERT_EQ(m.h, h);
      ASSERT_EQ(m.w, w);
      const Image rgb = read_image(path);
      for (size_t i = 0; i < v.size(); ++i) {
        ASSERT_EQ(m.px[i], v[i]) << "depth " << depth << " interlace " << interlace << " pixel " << i;
        for (int c = 0; c < 3; ++c) ASSERT_EQ(rgb.px[3 * i + c], pal[3 * v[i] + c]);
      }
    }
}

// Grey PNG masks keep their stored value: 1-bit 0/1 stays 0/1 (stb would scale it to 0/255), 16-bit small values.
TEST(DataImageIo, LowAndHighBitDepthGreyMasksKeepStoredValues) {
  TempDir tmp;
  const int w = 17, h = 9;
  for (int depth : {1, 2, 4, 8, 16})
    for (bool interlace : {false, true}) {
      const int maxv = depth == 16 ? 200 : (1 << depth) - 1;
      std::vector<uint16_t> v(w * h);
      for (size_t i = 0; i < v.size(); ++i) v[i] = uint16_t((i * 5 + i / 3) % (maxv + 1));
      const std::string path = tmp / ("g" + std::to_string(depth) + (interlace ? "i" : "") + ".png");
      cq::testing::write_bytes(path, cq::testing::make_png(w, h, depth, 0, v, {}, interlace));
      const Image m = read_mask(path);
      for (size_t i = 0; i < v.size(); ++i)
        ASSERT_EQ(m.px[i], v[i]) << "depth " << depth << " interlace " << interlace << " pixel " << i;
      if (depth <= 8) {  // stb agrees up to its scaling to 0..255
        const Image g = read_image_channels(path, 1);
        for (size_t i = 0; i < v.size(); ++i) ASSERT_EQ(g.px[i], v[i] * (255 / maxv));
      }
    }
  std::vector<uint16_t> big(4, 300);
  cq::testing::write_bytes(tmp / "big.png", cq::testing::make_png(2, 2, 16, 0, big));
  const std::string e = error_of([&] { read_mask(tmp / "big.png"); });
  EXPECT_TRUE(contains(e, "big.png") && contains(e, "300")) << e;
}

TEST(DataImageIo, ColourMaskRejectedGreyValuedRgbAccepted) {
  TempDir tmp;
  Image rgb(3, 4, 3, 0);
  for (int y = 0; y < 3; ++y)
    for (int x = 0; x < 4; ++x)
      for (int c = 0; c < 3; ++c) rgb.at(y, x, c) = uint8_t(x == 1 ? 255 : 0);
  write_png(tmp / "grey_rgb.png", rgb);
  const Image m = read_mask(tmp / "grey_rgb.png");
  EXPECT_EQ(m.at(2, 1), 255);
  EXPECT_EQ(m.at(2, 2), 0);
  rgb.at(1, 2, 0) = 200;
  write_png(tmp / "colour.png", rgb);
  const std::string e = error_of([&] { read_mask(tmp / "colour.png"); });
  EXPECT_TRUE(contains(e, "colour.png") && contains(e, "x=2, y=1")) << e;
}

TEST(DataImageIo, BadFilesNameTheFileAndReason) {
  TempDir tmp;
  const Image rgb = pattern(40, 50, 3);
  const std::vector<uint8_t> png = encode_png(rgb), jpg = encode_with(rgb, "jpg"), bmp = encode_with(rgb, "bmp");
  std::vector<uint16_t> idx(40 * 50, 1);
  const std::vector<uint8_t> pal_png = cq::testing::make_png(50, 40, 8, 3, idx, {0, 0, 0, 255, 255, 255});
  auto cut = [](std::vector<uint8_t> b, size_t keep) {
    b.resize(keep);
    return b;
  };
  struct Case {
    std::string name;
    std::vector<uint8_t> bytes;
    std::string expect;
  };
  const std::vector<Case> cases = {
      {"empty.png", {}, "empty"},
      {"text.png", {'h', 'e', 'l', 'l', 'o', ' ', 'w', 'o', 'r', 'l', 'd'}, "cannot decode"},
      {"trunc.png", cut(png, png.size() / 2), "cannot decode"},
      {"trunc.jpg", cut(jpg, jpg.size() * 2 / 3), "truncated"},
      {"trunc.bmp", cut(bmp, bmp.size() - 100), "truncated"},
  };
  for (const Case& c : cases) {
    cq::testing::write_bytes(tmp / c.name, c.bytes);
    const std::string e = error_of([&] { read_image(tmp / c.name); });
    EXPECT_TRUE(contains(e, c.name) && contains(e, c.expect)) << c.name << ": " << e;
    const std::string em = error_of([&] { read_mask(tmp / c.name); });
    EXPECT_TRUE(contains(em, c.name)) << c.name << ": " << em;
  }
  // Palette mask cut short: our own PNG path reports it too.
  cq::testing::write_bytes(tmp / "trunc_pal.png", cut(pal_png, pal_png.size() - 40));
  std::string e = error_of([&] { read_mask(tmp / "trunc_pal.png"); });
  EXPECT_TRUE(contains(e, "trunc_pal.png") && contains(e, "truncated")) << e;
  e = error_of([&] { read_image(tmp / "missing.png"); });
  EXPECT_TRUE(contains(e, "missing.png") && contains(e, "cannot open")) << e;
}

TEST(DataImageIo, TensorConversions) {
  Context ctx = cq::testing::make_ctx();
  Image a(2, 3, 3), b(2, 3, 3);
  for (size_t i = 0; i < a.px.size(); ++i) a.px[i] = uint8_t(i * 13), b.px[i] = uint8_t(255 - i * 7);
  Tensor t = images_to_tensor(ctx, {a, b});
  ASSERT_EQ(t.shape(), (Shape{2, 3, 2, 3}));
  std::vector<float> v = t.to_vector<float>();
  // element (n=1, c=2, y=1, x=0) = pixel (1,0) channel 2 of b
  const float expect = (float(b.at(1, 0, 2)) / 255.0f - 0.406f) / 0.225f;
  EXPECT_FLOAT_EQ(v[1 * 18 + 2 * 6 + 1 * 3 + 0], expect);
  EXPECT_EQ(tensor_to_image(t.select(0, 1)).px, b.px);  // the inverse rounds back exactly

  Image m(2, 2, 1);
  m.px = {0, 1, 2, 1};
  Tensor mt = masks_to_tensor(ctx, {m});
  EXPECT_EQ(mt.dtype(), DType::i64);
  EXPECT_EQ(mt.shape(), (Shape{1, 2, 2}));
  EXPECT_EQ(mt.to_vector<int64_t>(), (std::vector<int64_t>{0, 1, 2, 1}));
  EXPECT_EQ(tensor_to_mask(mt, 100).px, (std::vector<uint8_t>{0, 100, 200, 100}));
  EXPECT_TRUE(contains(error_of([&] { tensor_to_mask(mt, 200); }), "outside [0,255]"));
  EXPECT_TRUE(contains(error_of([&] { images_to_tensor(ctx, {a, Image(3, 3, 3)}); }), "every image must be RGB"));
}
